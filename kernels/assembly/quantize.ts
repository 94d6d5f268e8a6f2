// eq. 1 and eq. 4: float32 → integers, round half to even (f64 division, as the reference).

/** eq. 1: dst[r][c] = clip(nearest(src[r][c] / scale[r or 0]), -2^(h-1), 2^(h-1)-1) as int8. */
export function quantizeWeights(src: usize, n: i32, k: i32, scales: usize, perChannel: i32, h: i32, dst: usize): void {
  const lo = <f64>-(1 << (h - 1));
  const hi = <f64>((1 << (h - 1)) - 1);
  for (let r = 0; r < n; r++) {
    const s = <f64>load<f32>(scales + (perChannel ? <usize>r << 2 : 0));
    const row = <usize>r * <usize>k;
    for (let c = 0; c < k; c++) {
      const q = nearest(<f64>load<f32>(src + ((row + c) << 2)) / s);
      store<i8>(dst + row + c, <i8><i32>min(max(q, lo), hi));
    }
  }
}

/**
 * eq. 4: dst[i] = clip(nearest(src[i] / scale), 0, 2^bits - 1) as uint8, exactly as the f64-division
 * reference. SIMD: t = x · f32(1/scale) is within 2^-13 of x / scale for |t| < 512 (inverse normal),
 * so the code of t is the exact code unless t lies within 2^-12 of a .5 tie inside (0, hi); then all 16
 * lanes redo the f64 division (f64x2.div + f64x2.nearest, lane for lane the scalar operations).
 */
export function quantizeActivations(src: usize, len: i32, scale: f64, bits: i32, dst: usize): void {
  const hi = <f64>((1 << bits) - 1);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f64x2.splat(scale);
    const h = f64x2.splat(hi);
    const z = f64x2.splat(0);
    if (reciprocalIsSafe(scale)) {
      const iv = f32x4.splat(<f32>(1.0 / scale));
      const h32 = f32x4.splat(<f32>hi);
      for (; i + 16 <= len; i += 16) {
        const at = src + (<usize>i << 2);
        const x0 = v128.load(at), x1 = v128.load(at, 16), x2 = v128.load(at, 32), x3 = v128.load(at, 48);
        const c0 = clampCodes(f32x4.mul(x0, iv), h32), c1 = clampCodes(f32x4.mul(x1, iv), h32);
        const c2 = clampCodes(f32x4.mul(x2, iv), h32), c3 = clampCodes(f32x4.mul(x3, iv), h32);
        const r0 = roundLow(c0), r1 = roundLow(c1), r2 = roundLow(c2), r3 = roundLow(c3);
        const ok = v128.and(v128.and(awayFromTie(c0, r0), awayFromTie(c1, r1)), v128.and(awayFromTie(c2, r2), awayFromTie(c3, r3)));
        if (i32x4.all_true(ok)) v128.store(dst + i, lowBytes(r0, r1, r2, r3));
        else v128.store(dst + i, lowBytes(quadExact(x0, s, h, z), quadExact(x1, s, h, z), quadExact(x2, s, h, z), quadExact(x3, s, h, z)));
      }
    }
    for (; i + 4 <= len; i += 4) {
      const q = quadExact(v128.load(src + (<usize>i << 2)), s, h, z);
      v128.store32_lane(dst + i, i8x16.shuffle(q, q, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12), 0);
    }
  }
  for (; i < len; i++) {
    const q = nearest(<f64>load<f32>(src + (<usize>i << 2)) / scale);
    store<u8>(dst + i, <u8><i32>min(max(q, 0.0), hi));
  }
}

/** Whether f32(1/s) is a normal float with relative error ≤ 2^-24 (s well inside the f32 exponent range). */
// @ts-ignore: decorator
@inline export function reciprocalIsSafe(s: f64): bool {
  return s > 1e-30 && s < 1e30;
}

/**
 * t clamped to [0, hi] (NaN stays NaN). Clamping before rounding gives the same code as clip(nearest(t))
 * since hi is an integer, and ties outside (0, hi) round to the same clipped code either way.
 */
// @ts-ignore: decorator
@inline export function clampCodes(t: v128, h32: v128): v128 {
  return f32x4.pmax(f32x4.pmin(t, h32), f32x4.splat(0));
}

/** c + 2^23: rounds c ∈ [0, 2^23) half to even, the integer in the low mantissa bits (so the code is the low byte). */
// @ts-ignore: decorator
@inline export function roundLow(c: v128): v128 {
  return f32x4.add(c, f32x4.splat(8388608.0));
}

/** Lanes where c is at least 2^-12 from a .5 tie (false for NaN): there the fast code is the exact one. */
// @ts-ignore: decorator
@inline export function awayFromTie(c: v128, r: v128): v128 {
  return f32x4.le(f32x4.abs(f32x4.sub(c, f32x4.sub(r, f32x4.splat(8388608.0)))), f32x4.splat(<f32>(0.5 - 1.0 / 4096)));
}

/** The low bytes of four int32x4 vectors, in order. */
// @ts-ignore: decorator
@inline export function lowBytes(q0: v128, q1: v128, q2: v128, q3: v128): v128 {
  const m = i32x4.splat(0xff);
  return i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(v128.and(q0, m), v128.and(q1, m)), i16x8.narrow_i32x4_u(v128.and(q2, m), v128.and(q3, m)));
}

/** Four lanes of eq. 4 as int32 with the f64 division. */
// @ts-ignore: decorator
@inline export function quadExact(x: v128, s: v128, h: v128, z: v128): v128 {
  const lo = quantizePair(f64x2.promote_low_f32x4(x), s, h, z);
  const hi = quantizePair(f64x2.promote_low_f32x4(v128.shuffle<i64>(x, x, 1, 0)), s, h, z);
  return v128.shuffle<i64>(lo, hi, 0, 2);
}

/** Two lanes of eq. 4 as int32 in lanes 0, 1: clip(nearest(x / s), 0, hi). */
// @ts-ignore: decorator
@inline function quantizePair(x: v128, s: v128, h: v128, z: v128): v128 {
  return i32x4.trunc_sat_f64x2_s_zero(f64x2.max(f64x2.min(f64x2.nearest(f64x2.div(x, s)), h), z));
}
