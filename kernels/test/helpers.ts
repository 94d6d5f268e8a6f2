// Shared helpers of the kernel testers: every build, seeded random data, the shared vectors.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { availableBuilds, createKernels, type Kernels } from '../src/index.ts';
import { seededRandom } from '@bitswitch/format';

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

/** Directory of the shared reference vectors: $BITSWITCH_VECTORS or <repo root>/../shared/vectors. */
export function vectorsDir(): string {
  const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
  return process.env.BITSWITCH_VECTORS ? resolve(process.env.BITSWITCH_VECTORS) : resolve(root, '..', 'shared', 'vectors');
}

export function readVectors<T>(file: string): { seed: number; cases: T[] } {
  return JSON.parse(readFileSync(join(vectorsDir(), file), 'utf8'));
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
