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

/** eq. 4: dst[i] = clip(nearest(src[i] / scale), 0, 2^bits - 1) as uint8 (f64 division: exact as the scalar reference). */
export function quantizeActivations(src: usize, len: i32, scale: f64, bits: i32, dst: usize): void {
  const hi = <f64>((1 << bits) - 1);
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    // f64x2.div is the same IEEE division and f64x2.nearest the same round-half-even, lane by lane.
    const s = f64x2.splat(scale);
    const h = f64x2.splat(hi);
    const z = f64x2.splat(0);
    for (; i + 8 <= len; i += 8) {
      const x0 = v128.load(src + (<usize>i << 2));
      const x1 = v128.load(src + (<usize>i << 2), 16);
      const q0 = quantizePair(f64x2.promote_low_f32x4(x0), s, h, z);
      const q1 = quantizePair(f64x2.promote_low_f32x4(v128.shuffle<i64>(x0, x0, 1, 0)), s, h, z);
      const q2 = quantizePair(f64x2.promote_low_f32x4(x1), s, h, z);
      const q3 = quantizePair(f64x2.promote_low_f32x4(v128.shuffle<i64>(x1, x1, 1, 0)), s, h, z);
      const w0 = i16x8.narrow_i32x4_u(v128.shuffle<i64>(q0, q1, 0, 2), v128.shuffle<i64>(q2, q3, 0, 2));
      v128.store64_lane(dst + i, i8x16.narrow_i16x8_u(w0, w0), 0);
    }
  }
  for (; i < len; i++) {
    const q = nearest(<f64>load<f32>(src + (<usize>i << 2)) / scale);
    store<u8>(dst + i, <u8><i32>min(max(q, 0.0), hi));
  }
}

/** Two lanes of eq. 4 as int32 in lanes 0, 1: clip(nearest(x / s), 0, hi). */
// @ts-ignore: decorator
@inline function quantizePair(x: v128, s: v128, h: v128, z: v128): v128 {
  return i32x4.trunc_sat_f64x2_s_zero(f64x2.max(f64x2.min(f64x2.nearest(f64x2.div(x, s)), h), z));
}
