// Reference (scalar) quantization math of the method: Double Rounding (eq. 1-3) and
// unsigned activations (eq. 4-5). Every other package and kernel is tested against these.
// One rounding rule everywhere: round half to even.

/** Round half to even: 0.5 → 0, 1.5 → 2, 2.5 → 2, -0.5 → -0, -1.5 → -2. */
export function roundHalfEven(x: number): number {
  const f = Math.floor(x);
  const d = x - f; // exact for |x| < 2^52
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** Signed range of a b-bit two's complement integer: [-2^(b-1), 2^(b-1) - 1]. */
export function signedRange(bits: number): [number, number] {
  checkBits(bits, 'bits');
  return [-(2 ** (bits - 1)), 2 ** (bits - 1) - 1];
}

/** Unsigned range of a b-bit integer: [0, 2^b - 1]. */
export function unsignedRange(bits: number): [number, number] {
  checkBits(bits, 'bits');
  return [0, 2 ** bits - 1];
}

export function checkBits(bits: number, field: string, lo = 1, hi = 8): void {
  if (!Number.isInteger(bits) || bits < lo || bits > hi) {
    throw new RangeError(`${field}: expected an integer in ${lo}..${hi}, got ${bits}`);
  }
}

function checkScale(scale: number, field: string): void {
  if (!Number.isFinite(scale) || !(scale > 0)) {
    throw new RangeError(`${field}: expected a finite number > 0, got ${scale}`);
  }
}

const clip = (v: number, lo: number, hi: number) => (v < lo ? lo : v > hi ? hi : v);

/** eq. 1: W̃_h = clip(round(W / s_h), -2^(h-1), 2^(h-1)-1) (z_h = 0). quantizeWeight(0.3, 0.1, 8) = 3. */
export function quantizeWeight(w: number, scale: number, h: number): number {
  const [lo, hi] = signedRange(h);
  return clip(roundHalfEven(w / scale), lo, hi);
}

/** eq. 2: W̃_l = clip(round(W̃_h / 2^(h-l))), a rounding shift. doubleRound(6, 8, 6) = 2 (1.5 → 2), doubleRound(10, 8, 6) = 2 (2.5 → 2). */
export function doubleRound(wh: number, h: number, l: number): number {
  checkBits(l, 'l', 1, h);
  const [lo, hi] = signedRange(l);
  return clip(roundHalfEven(wh / 2 ** (h - l)), lo, hi);
}

/** eq. 3: Ŵ_l = W̃_l · s_h · 2^(h-l). */
export function dequantizeWeight(wl: number, scale: number, h: number, l: number): number {
  return wl * scale * 2 ** (h - l);
}

/** eq. 4: X̃_b = clip(round(X / s_b), 0, 2^b - 1) (z_b = 0, unsigned after ReLU). */
export function quantizeActivation(x: number, scale: number, bits: number): number {
  const [lo, hi] = unsignedRange(bits);
  return clip(roundHalfEven(x / scale), lo, hi);
}

/** eq. 5: X̂_b = X̃_b · s_b. */
export function dequantizeActivation(xq: number, scale: number): number {
  return xq * scale;
}

/**
 * eq. 1 over a tensor laid out [N][K] (row n = output channel n). `scale` has length 1
 * (per tensor) or N (per output channel).
 */
export function quantizeWeights(w: ArrayLike<number>, scale: ArrayLike<number>, h: number, n: number): Int8Array {
  checkBits(h, 'h', 2, 8);
  if (n < 1 || w.length % n !== 0) throw new RangeError(`n: expected a divisor of w.length ${w.length}, got ${n}`);
  if (scale.length !== 1 && scale.length !== n) throw new RangeError(`scale.length: expected 1 or ${n}, got ${scale.length}`);
  for (let i = 0; i < scale.length; i++) checkScale(scale[i], `scale[${i}]`);
  const k = w.length / n;
  const out = new Int8Array(w.length);
  for (let r = 0; r < n; r++) {
    const s = scale.length === 1 ? scale[0] : scale[r];
    for (let c = 0; c < k; c++) out[r * k + c] = quantizeWeight(w[r * k + c], s, h);
  }
  return out;
}

/** eq. 2 over a tensor. */
export function doubleRoundAll(wh: ArrayLike<number>, h: number, l: number): Int8Array {
  checkBits(h, 'h', 2, 8);
  checkBits(l, 'l', 1, h);
  const out = new Int8Array(wh.length);
  for (let i = 0; i < wh.length; i++) out[i] = doubleRound(wh[i], h, l);
  return out;
}

/** eq. 3 over a tensor laid out [N][K]. */
export function dequantizeWeights(wl: ArrayLike<number>, scale: ArrayLike<number>, h: number, l: number, n: number): Float32Array {
  const k = wl.length / n;
  const out = new Float32Array(wl.length);
  for (let r = 0; r < n; r++) {
    const s = scale.length === 1 ? scale[0] : scale[r];
    for (let c = 0; c < k; c++) out[r * k + c] = dequantizeWeight(wl[r * k + c], s, h, l);
  }
  return out;
}

/** eq. 4 over a tensor. */
export function quantizeActivations(x: ArrayLike<number>, scale: number, bits: number): Uint8Array {
  checkBits(bits, 'bits', 1, 8);
  checkScale(scale, 'scale');
  const out = new Uint8Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = quantizeActivation(x[i], scale, bits);
  return out;
}
