// Initial quantization scales, in plain TypeScript with the format's rounding: s_h of a weight
// tensor (least Double Rounding error over every bit of the list) and s_b of an activation.
import { roundHalfEven, signedRange } from '@bitswitch/format';

const INIT_FRACTIONS = Array.from({ length: 40 }, (_, i) => (i + 1) / 40);

/** Squared error of Double Rounding W at every bit of `bits`, for highest-bit scale s. */
export function doubleRoundingError(w: ArrayLike<number>, s: number, h: number, bits: number[]): number {
  let err = 0;
  const [hn, hp] = signedRange(h);
  for (const l of bits) {
    const [n, p] = signedRange(l);
    const step = 2 ** (h - l);
    for (let i = 0; i < w.length; i++) {
      const wh = Math.min(hp, Math.max(hn, roundHalfEven(w[i] / s)));
      const wl = Math.min(p, Math.max(n, roundHalfEven(wh / step)));
      const d = w[i] - wl * s * step;
      err += d * d;
    }
  }
  return err;
}

/**
 * Initial s_h of a weight tensor: the candidate c·max|W|/2^(h−1), c ∈ {1/40, …, 1}, with
 * the smallest quantization error summed over all bits of the list (each bit counts equally,
 * so the low bits are not sacrificed to the 8-bit grid as LSQ's 2·mean|W|/√p would).
 */
export function initWeightScale(w: ArrayLike<number>, h: number, bits: number[]): number {
  let max = 0;
  for (let i = 0; i < w.length; i++) max = Math.max(max, Math.abs(w[i]));
  if (max === 0) return 1e-3;
  let best = Infinity;
  let bestS = max / 2 ** (h - 1);
  for (const c of INIT_FRACTIONS) {
    const s = (c * max) / 2 ** (h - 1);
    const e = doubleRoundingError(w, s, h, bits);
    if (e < best) { best = e; bestS = s; }
  }
  return bestS;
}

/** Initial s_b of a non-negative activation: c·max(X)/(2^b − 1), c ∈ {1/40, …, 1}, least squared error on a calibration batch. */
export function initActivationScale(all: ArrayLike<number>, bits: number): number {
  const stride = Math.ceil(all.length / 65536); // an evenly strided sample bounds the cost
  const x = stride === 1 ? all : Array.from({ length: Math.floor(all.length / stride) }, (_, i) => all[i * stride]);
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]);
  if (max === 0) return 1e-3;
  const Q = 2 ** bits - 1;
  let best = Infinity;
  let bestS = max / Q;
  for (const c of INIT_FRACTIONS) {
    const s = (c * max) / Q;
    let e = 0;
    for (let i = 0; i < x.length; i++) {
      const d = x[i] - Math.min(Q, Math.max(0, roundHalfEven(x[i] / s))) * s;
      e += d * d;
    }
    if (e < best) { best = e; bestS = s; }
  }
  return bestS;
}
