// Algorithm 1 (HASB roulette): the bit a switched layer takes in the SuperNet loop
// (Algorithm A.3, loops/supernet.ts), as pure math.

/** A layer is sensitive when its per-parameter Hessian trace is at least the mean t_m over layers. */
export function isSensitive(trace: number, meanTrace: number): boolean {
  return trace >= meanTrace;
}

/** Sensitivity flags of all layers from their per-parameter traces t_l (t_m = mean). */
export function sensitiveLayers(traces: readonly number[]): boolean[] {
  if (traces.length === 0) throw new RangeError('traces: expected at least one layer, got 0');
  traces.forEach((t, i) => {
    if (!Number.isFinite(t)) throw new RangeError(`traces[${i}]: expected a finite number, got ${t}`);
  });
  const mean = traces.reduce((s, t) => s + t, 0) / traces.length;
  return traces.map((t) => isSensitive(t, mean));
}

function checkBitList(bits: readonly number[]): void {
  if (bits.length === 0) throw new RangeError('bits: expected a non-empty bit list, got []');
  bits.forEach((b, i) => {
    if (!Number.isInteger(b) || b < 1 || b > 32) throw new RangeError(`bits[${i}]: expected an integer in 1..32, got ${b}`);
  });
}

/**
 * Algorithm 1: p_i = 1/n for insensitive layers (t_l < t_m), p_i = b_i / Σ_j b_j for sensitive ones.
 * rouletteProbabilities([8, 6, 4, 2], true) → [0.4, 0.3, 0.2, 0.1].
 */
export function rouletteProbabilities(bits: readonly number[], sensitive: boolean): number[] {
  checkBitList(bits);
  if (!sensitive) return bits.map(() => 1 / bits.length);
  const total = bits.reduce((s, b) => s + b, 0);
  return bits.map((b) => b / total);
}

/**
 * Algorithm 1: the bit picked by r ∈ (0, 1] on the roulette wheel of rouletteProbabilities:
 * the first b_i whose cumulative probability reaches r. rouletteBit([8, 6, 4, 2], true, 0.4) = 8.
 */
export function rouletteBit(bits: readonly number[], sensitive: boolean, r: number): number {
  if (!(r > 0 && r <= 1)) throw new RangeError(`r: expected a number in (0, 1], got ${r}`);
  const p = rouletteProbabilities(bits, sensitive);
  let cumulative = 0;
  for (let i = 0; i < p.length; i++) {
    cumulative += p[i];
    if (r <= cumulative) return bits[i];
  }
  return bits[bits.length - 1]; // cumulative can end a few ulps below 1
}
