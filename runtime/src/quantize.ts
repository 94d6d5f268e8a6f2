// eq. 4 in JS for tensors the runtime computes in JS anyway (residual adds), fused into the
// same pass. Exactly the format's quantizeActivation (x / s in float64, round half to even).

/**
 * clip(round_half_even(x / s), 0, 2^bits − 1). x·(1/s) is within 2^-51·|x/s| of x / s, so it
 * decides the rounding except within 1e-7 of a .5 boundary, where x / s itself decides; values
 * so large that the bound exceeds 1e-7 clip to 2^bits − 1 either way.
 */
export function quantizeCode(x: number, s: number, inv: number, hi: number): number {
  let t = x * inv;
  let f = Math.floor(t);
  let d = t - f;
  if (d > 0.4999999 && d < 0.5000001) {
    t = x / s;
    f = Math.floor(t);
    d = t - f;
  }
  const r = d > 0.5 || (d === 0.5 && (f & 1) === 1) ? f + 1 : f;
  return r < 0 ? 0 : r > hi ? hi : r;
}

/** eq. 4 over a tensor into `out` (quantizeCode's fast path inlined: V8 does not inline it). */
export function quantizeInto(x: Float32Array, s: number, bits: number, out: Uint8Array): Uint8Array {
  const inv = 1 / s;
  const hi = 2 ** bits - 1;
  for (let i = 0; i < x.length; i++) {
    const t = x[i] * inv;
    const f = Math.floor(t);
    const d = t - f;
    if (d > 0.4999999 && d < 0.5000001) out[i] = quantizeCode(x[i], s, inv, hi);
    else {
      const r = d > 0.5 ? f + 1 : f;
      out[i] = r < 0 ? 0 : r > hi ? hi : r;
    }
  }
  return out;
}
