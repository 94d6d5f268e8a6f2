// Adaptive Learning Rate Scaling (ALRS): the learning rate of the quantization scales at each bit.

export const ALRS_MODES = ['paper', 'code', 'off'] as const;
export type AlrsMode = (typeof ALRS_MODES)[number];

/** eq. 7: η_b = 10^(−Δ/2) if Δ = h − b is even, 5·10^(−(Δ+1)/2) if odd. */
export function alrsEta(delta: number): number {
  if (!Number.isInteger(delta) || delta < 0) throw new RangeError(`delta: expected an integer ≥ 0, got ${delta}`);
  return delta % 2 === 0 ? 10 ** (-delta / 2) : 5 * 10 ** (-(delta + 1) / 2);
}

/** max |g| of a gradient after clipping its L2 norm to `maxNorm` (clip_grad(∇s, 1.0) of eq. 6). */
export function clippedMaxAbs(grad: ArrayLike<number>, maxNorm = 1): number {
  let sq = 0;
  let max = 0;
  for (let i = 0; i < grad.length; i++) { sq += grad[i] * grad[i]; max = Math.max(max, Math.abs(grad[i])); }
  const norm = Math.sqrt(sq);
  return norm > maxNorm ? (max * maxNorm) / norm : max;
}

/**
 * eq. 6 as written: λ_b = η_b · (λ − Σ_i min(max_abs(clip_grad(∇s_b^i, 1)), 1) / L), with the
 * L layers' scale gradients at bit b. It can go negative; the rate is floored at zero and
 * `floored` says when that happened (counted by the trainer).
 */
export function alrsPaperRate(lr: number, eta: number, layerScaleGrads: ArrayLike<number>[]): { rate: number; floored: boolean } {
  const L = layerScaleGrads.length;
  const term = L ? layerScaleGrads.reduce((acc, g) => acc + Math.min(clippedMaxAbs(g, 1), 1), 0) / L : 0;
  const raw = eta * (lr - term);
  return raw < 0 ? { rate: 0, floored: true } : { rate: raw, floored: false };
}

/** The authors' code: λ_b = λ · 0.1^rank(b), rank 0 for the highest bit of the list. */
export function alrsCodeRate(lr: number, rank: number): number {
  return lr * 0.1 ** rank;
}

/**
 * λ_b of the scales in a step at bit b (rank in the bit list, Δ = h − b) under `mode`: 'paper'
 * eq. 6–7 on the layers' scale gradients (read only in that mode), 'code' λ·0.1^rank, 'off' λ.
 */
export function alrsRate(mode: AlrsMode, lr: number, rank: number, delta: number, layerScaleGrads: () => ArrayLike<number>[]): { rate: number; floored: boolean } {
  if (mode === 'off') return { rate: lr, floored: false };
  if (mode === 'code') return { rate: alrsCodeRate(lr, rank), floored: false };
  return alrsPaperRate(lr, alrsEta(delta), layerScaleGrads());
}
