// Family qu8-qs2-gemm-4x16c4-wasmsimd-lut16 (SIMD builds): weights of ≤ 2 bits as two bit planes
// (w = b0 − 2·b1), multiplied by table lookup as T-MAC does: for each row of A and group of 4
// k-values a 16-entry table holds the sums of every subset of the 4 activations (pack.ts:
// lutTables), and one byte shuffle looks up 16 columns × 4 k of one plane at once. The lookups
// add up in uint8 per plane for `chunk` groups, then go into the int32 tile as plane0 − 2·plane1.
import { widenInto, zeroTile4x16 } from './tile';

/** A byte shuffle with indices 0..15: relaxed_swizzle (one pshufb) where the build has it. */
// @ts-ignore: decorator
@inline function lookup(table: v128, idx: v128): v128 {
  return ASC_FEATURE_RELAXED_SIMD ? i8x16.relaxed_swizzle(table, idx) : i8x16.swizzle(table, idx);
}

/** tile row (16 int32) += p0 − 2·p1 of uint8 plane sums. */
// @ts-ignore: decorator
@inline function addPlanes(row: usize, p0: v128, p1: v128): void {
  const lo = i16x8.sub(i16x8.sub(i16x8.extend_low_i8x16_u(p0), i16x8.extend_low_i8x16_u(p1)), i16x8.extend_low_i8x16_u(p1));
  const hi = i16x8.sub(i16x8.sub(i16x8.extend_high_i8x16_u(p0), i16x8.extend_high_i8x16_u(p1)), i16x8.extend_high_i8x16_u(p1));
  widenInto(row, lo);
  widenInto(row + 32, hi);
}

/**
 * tile[4][16] = rows with tables t0..t3 (16 bytes per group) · a panel of `groups` 32-byte groups of
 * table indices (16 of plane 0, 16 of plane 1). `chunk` groups keep the uint8 sums exact.
 */
export function kernel4x16Lut(t0: usize, t1: usize, t2: usize, t3: usize, w: usize, groups: i32, chunk: i32, tile: usize): void {
  zeroTile4x16(tile);
  let g = 0;
  while (g < groups) {
    const end = min(g + chunk, groups);
    let p00 = i8x16.splat(0), p01 = i8x16.splat(0), p10 = i8x16.splat(0), p11 = i8x16.splat(0);
    let p20 = i8x16.splat(0), p21 = i8x16.splat(0), p30 = i8x16.splat(0), p31 = i8x16.splat(0);
    // Monomorphic hot loop, written out like the other microkernels: the eight plane sums stay in registers.
    for (; g < end; g++) {
      const i0 = v128.load(w);
      const i1 = v128.load(w, 16);
      w += 32;
      let t = v128.load(t0); t0 += 16;
      p00 = i8x16.add(p00, lookup(t, i0)); p01 = i8x16.add(p01, lookup(t, i1));
      t = v128.load(t1); t1 += 16;
      p10 = i8x16.add(p10, lookup(t, i0)); p11 = i8x16.add(p11, lookup(t, i1));
      t = v128.load(t2); t2 += 16;
      p20 = i8x16.add(p20, lookup(t, i0)); p21 = i8x16.add(p21, lookup(t, i1));
      t = v128.load(t3); t3 += 16;
      p30 = i8x16.add(p30, lookup(t, i0)); p31 = i8x16.add(p31, lookup(t, i1));
    }
    addPlanes(tile, p00, p01);
    addPlanes(tile + 64, p10, p11);
    addPlanes(tile + 128, p20, p21);
    addPlanes(tile + 192, p30, p31);
  }
}
