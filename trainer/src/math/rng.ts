// Seeded PRNG (sfc32) whose whole state is four uint32 words, so a checkpoint can store it
// and a resumed run draws exactly the same numbers. Math.random is never used in training.

export type RngState = [number, number, number, number];

export class Rng {
  private a: number; private b: number; private c: number; private d: number;

  constructor(seed: number | RngState) {
    if (Array.isArray(seed)) {
      [this.a, this.b, this.c, this.d] = seed.map((v) => v >>> 0) as RngState;
      return;
    }
    if (!Number.isInteger(seed)) throw new RangeError(`seed: expected an integer, got ${seed}`);
    this.a = 0x9e3779b9; this.b = 0x243f6a88; this.c = 0xb7e15162; this.d = seed >>> 0;
    for (let i = 0; i < 15; i++) this.nextU32(); // decorrelate nearby seeds
  }

  state(): RngState { return [this.a, this.b, this.c, this.d]; }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Uniform in [0, 1). */
  uniform(): number { return this.nextU32() / 4294967296; }

  /** Uniform integer in [0, n). */
  int(n: number): number { return Math.floor(this.uniform() * n); }

  /** Standard normal (Box-Muller, no cached second value so the state stays four words). */
  normal(): number {
    const u = 1 - this.uniform();
    const v = this.uniform();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** Fisher-Yates permutation of 0..n-1. */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i]; p[i] = p[j]; p[j] = t;
    }
    return p;
  }
}

/** A fresh generator for a sub-stream (e.g. epoch e's shuffle) derived from a seed and indices. */
export function deriveRng(seed: number, ...keys: number[]): Rng {
  let h = seed >>> 0;
  for (const k of keys) h = Math.imul(h ^ (k + 0x9e3779b9 + (h << 6) + (h >>> 2)), 0x85ebca6b) >>> 0;
  return new Rng(h);
}
