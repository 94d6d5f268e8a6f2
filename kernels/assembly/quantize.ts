// eq. 1 and eq. 4: float32 → integers, round half to even (f64 division, as the reference).
import { awayFromTie, clampCodes, lowBytes, quadExact, reciprocalIsSafe, roundLow } from './rounding';

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
