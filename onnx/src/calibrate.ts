// Calibration rule for activation scales: for each quantized layer and bit b, s_b minimises the
// squared error of eq. 4-5 over the layer's input values on the calibration images,
// Σ (x − clip(round(x / s), 0, 2^b − 1) · s)², searched over the clipping ranges c = max·k/K,
// s = c / (2^b − 1), k = 1..K, with the values summarised by a histogram. Lower bits clip harder,
// so each bit gets its own scale. Weights use per-channel absmax: s_h[n] = max_k |W[n][k]| / (2^(h−1) − 1).
import { roundHalfEven } from '@bitswitch/format';

/** Histogram bins over [0, max] and clipping candidates searched. */
export const HISTOGRAM_BINS = 2048;
export const CLIP_CANDIDATES = 256;

/**
 * The MSE-optimal eq. 4 scale of non-negative values `x` at `bits` (negatives count as 0, which
 * eq. 4 maps them to). All-zero input gives the scale 1 (any scale codes it exactly).
 * Example: for values spread evenly over [0, 1], bit 8 → ≈ 1/255 (no clipping pays).
 */
export function mseActivationScale(x: ArrayLike<number>, bits: number): number {
  let max = 0;
  for (let i = 0; i < x.length; i++) if (x[i] > max) max = x[i];
  if (!(max > 0)) return 1;
  const counts = new Float64Array(HISTOGRAM_BINS);
  const width = max / HISTOGRAM_BINS;
  for (let i = 0; i < x.length; i++) {
    if (!(x[i] > 0)) continue;
    counts[Math.min(HISTOGRAM_BINS - 1, Math.floor(x[i] / width))]++;
  }
  const top = 2 ** bits - 1;
  let best = max / top;
  let bestErr = Infinity;
  for (let k = 1; k <= CLIP_CANDIDATES; k++) {
    const s = Math.fround((max * k) / CLIP_CANDIDATES / top);
    if (!(s > 0)) continue;
    let err = 0;
    for (let j = 0; j < HISTOGRAM_BINS; j++) {
      if (counts[j] === 0) continue;
      const v = (j + 0.5) * width;
      const q = Math.min(top, roundHalfEven(v / s)) * s;
      err += counts[j] * (v - q) * (v - q);
    }
    if (err < bestErr) { bestErr = err; best = s; }
  }
  return best;
}

/** Per-output-channel absmax scale of [N][K] rows for h-bit weights; a zero row gets 1. */
export function absmaxWeightScales(rows: Float32Array, n: number, h: number): Float32Array {
  const k = rows.length / n;
  const top = 2 ** (h - 1) - 1;
  return Float32Array.from({ length: n }, (_, r) => {
    let m = 0;
    for (let c = 0; c < k; c++) m = Math.max(m, Math.abs(rows[r * k + c]));
    return m > 0 ? Math.fround(m / top) : 1;
  });
}
