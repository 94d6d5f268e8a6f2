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
 * so nearest(t) is the exact code unless t lies within 2^-12 of a .5 tie; such vectors redo the
 * f64 division (f64x2.div + f64x2.nearest, lane for lane the scalar operations). |t| ≥ 512 clips either way.
 */
export function quantizeActivations(src: usize, len: i32, scale: f64, bits: i32, dst: usize): void {
  const hi = <f64>((1 << bits) - 1);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f64x2.splat(scale);
    const h = f64x2.splat(hi);
    const z = f64x2.splat(0);
    const inv = <f32>(1.0 / scale);
    if (reciprocalIsSafe(scale)) {
      const iv = f32x4.splat(inv);
      const h32 = f32x4.splat(<f32>hi);
      for (; i + 16 <= len; i += 16) {
        const at = src + (<usize>i << 2);
        const q0 = quadFast(v128.load(at), iv, h32, s, h, z);
        const q1 = quadFast(v128.load(at, 16), iv, h32, s, h, z);
        const q2 = quadFast(v128.load(at, 32), iv, h32, s, h, z);
        const q3 = quadFast(v128.load(at, 48), iv, h32, s, h, z);
        v128.store(dst + i, i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(q0, q1), i16x8.narrow_i32x4_u(q2, q3)));
      }
    }
    for (; i + 4 <= len; i += 4) {
      const q = quadExact(v128.load(src + (<usize>i << 2)), s, h, z);
      const b = i8x16.narrow_i16x8_u(i16x8.narrow_i32x4_u(q, q), i16x8.splat(0));
      v128.store32_lane(dst + i, b, 0);
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

/** Lanes of t within 2^-12 of a .5 tie and below 512 in magnitude: the fast rounding may differ from the exact one there. */
// @ts-ignore: decorator
@inline export function nearTie(t: v128): bool {
  const d = f32x4.abs(f32x4.sub(f32x4.sub(t, f32x4.floor(t)), f32x4.splat(0.5)));
  const safe = v128.or(f32x4.ge(f32x4.abs(t), f32x4.splat(512)), f32x4.ge(d, f32x4.splat(<f32>1.0 / 4096)));
  return !i32x4.all_true(safe);
}

/** Four lanes of eq. 4 as int32: x · f32(1/s) rounded, or the exact f64 path when a lane is near a tie. */
// @ts-ignore: decorator
@inline function quadFast(x: v128, iv: v128, h32: v128, s: v128, h: v128, z: v128): v128 {
  const t = f32x4.mul(x, iv);
  if (nearTie(t)) return quadExact(x, s, h, z);
  return i32x4.trunc_sat_f32x4_s(f32x4.max(f32x4.min(f32x4.nearest(t), h32), f32x4.splat(0)));
}

/** Four lanes of eq. 4 as int32 with the f64 division. */
// @ts-ignore: decorator
@inline function quadExact(x: v128, s: v128, h: v128, z: v128): v128 {
  const lo = quantizePair(f64x2.promote_low_f32x4(x), s, h, z);
  const hi = quantizePair(f64x2.promote_low_f32x4(v128.shuffle<i64>(x, x, 1, 0)), s, h, z);
  return v128.shuffle<i64>(lo, hi, 0, 2);
}

/** Two lanes of eq. 4 as int32 in lanes 0, 1: clip(nearest(x / s), 0, hi). */
// @ts-ignore: decorator
@inline function quantizePair(x: v128, s: v128, h: v128, z: v128): v128 {
  return i32x4.trunc_sat_f64x2_s_zero(f64x2.max(f64x2.min(f64x2.nearest(f64x2.div(x, s)), h), z));
}
