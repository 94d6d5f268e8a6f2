// Shared helpers of the kernel testers: every build, seeded random data, the shared vectors.
import { availableBuilds, createKernels, type Kernels } from '../src/index.ts';
import { seededRandom } from '@bitswitch/format';
import { readVectors as readVectorFile } from '@bitswitch/format/node';

/** Every build this engine validates (all three under --experimental-wasm-relaxed-simd), instantiated once. */
export const KERNELS: Kernels[] = availableBuilds().map((build) => createKernels({ build }));

/** The format package's seeded PRNG (mulberry32), so failures reproduce. */
export const rng = seededRandom;

/** Integers in lo..hi. */
export function randomInts<T extends Int8Array | Uint8Array>(Type: { new(n: number): T }, len: number, lo: number, hi: number, rand: () => number): T {
  const out = new Type(len);
  for (let i = 0; i < len; i++) out[i] = lo + Math.floor(rand() * (hi - lo + 1));
  return out;
}

/** One reference vector file, found by the format package's `vectorsDir()` ($BITSWITCH_VECTORS or the in-repo copy). */
export function readVectors<T>(file: string): { seed: number; cases: T[] } {
  return readVectorFile(file);
}

/** First index where two arrays differ (bitwise for floats), or -1. */
export function firstDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

export function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  const i = firstDiff(actual, expected);
  if (i >= 0) {
    throw new Error(`${what}: first difference at ${i}: got ${actual[i]}, expected ${expected[i]} (lengths ${actual.length}/${expected.length})`);
  }
}
