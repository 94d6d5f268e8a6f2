// Rounding shared by the kernels, all round half to even: eq. 2's rounding shift (scalar and on 16
// int8 lanes) and eq. 4's activation codes on float32 lanes with an exact float64 fallback at ties.

/** eq. 2 on one value: clip(round_half_even(v / 2^s), lo, hi) as a rounding shift. */
// @ts-ignore: decorator
@inline export function roundShift(v: i32, s: i32, lo: i32, hi: i32): i32 {
  let q = v >> s;
  if (s > 0) {
    const r = v & ((1 << s) - 1);
    const half = 1 << (s - 1);
    if (r > half || (r == half && (q & 1) != 0)) q++;
  }
  return q < lo ? lo : q > hi ? hi : q;
}

/** Lane constants of roundShiftLanes for shift s: the remainder mask. */
// @ts-ignore: decorator
@inline export function shiftMask(s: i32): v128 { const one: i32 = 1; return i8x16.splat(<i8>((one << s) - 1)); }

/** Lane constants of roundShiftLanes for shift s: the half (any value above the mask when s = 0). */
// @ts-ignore: decorator
@inline export function shiftHalf(s: i32): v128 { const one: i32 = 1; return i8x16.splat(<i8>(s > 0 ? one << (s - 1) : one)); }

/** Lowest signed l-bit value on every lane. */
// @ts-ignore: decorator
@inline export function signedLow(l: i32): v128 { const one: i32 = 1; return i8x16.splat(<i8>(-(one << (l - 1)))); }

/** Highest signed l-bit value on every lane. */
// @ts-ignore: decorator
@inline export function signedHigh(l: i32): v128 { const one: i32 = 1; return i8x16.splat(<i8>((one << (l - 1)) - 1)); }

/** eq. 2 on 16 int8 lanes (SIMD builds): clip(round_half_even(v / 2^s), lo, hi), constants from the helpers above. */
// @ts-ignore: decorator
@inline export function roundShiftLanes(v: v128, s: i32, mask: v128, half: v128, lo: v128, hi: v128): v128 {
  const one = i8x16.splat(1);
  let q = i8x16.shr_s(v, s);
  const r = v128.and(v, mask);
  const up = v128.or(i8x16.gt_s(r, half), v128.and(i8x16.eq(r, half), i8x16.eq(v128.and(q, one), one)));
  q = i8x16.sub(q, up); // up lanes are -1
  return i8x16.max_s(i8x16.min_s(q, hi), lo);
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
