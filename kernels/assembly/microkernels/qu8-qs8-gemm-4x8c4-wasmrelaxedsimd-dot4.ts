// Family qu8-qs8-gemm-4x8c4-wasmrelaxedsimd-dot4 (relaxed build; engines whose every tier computes
// it right, families.ts): tile 4×8, int8 weight quads, i32x4.relaxed_dot_i8x16_i7x16_add_s — four
// products per int32 lane added in one instruction (one vpdpbusd where the CPU has AVX-VNNI), no
// 16-bit partial sums. Activations are the i7 operand: 0..127, where with |w| ≤ 128 a pair of products
// stays within int16, so the x86 lowering without VNNI (pmaddubsw, pmaddwd) is exact too; or 0..255
// on engines that read that operand unsigned with exact sums (families.ts: dot4Unsigned8).

/**
 * path 3, relaxed SIMD: tile[4][8] = 4 rows of A · panel of int8 weight quads (16 bytes per 4
 * columns × 4 k). Rows are read through a group of row pointers (gemm.ts: rowGroup) as on path 1:
 * per tap, each row continues for segPairs pairs (an even count: whole quads) from its pointer.
 */
export function kernel4x8Dot4(group: usize, w: usize, tile: usize): void {
  const segQuads = load<i32>(group, 4) >> 1;
  let taps = load<i32>(group);
  let ind = group + 16;
  let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
  let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
  for (; taps > 0; taps--) {
    let a0 = <usize>load<u32>(ind), a1 = <usize>load<u32>(ind, 4), a2 = <usize>load<u32>(ind, 8), a3 = <usize>load<u32>(ind, 12);
    ind += 16;
    // Monomorphic hot loop, spelled out like the other microkernels' (accumulators stay in registers).
    for (let q = 0; q < segQuads; q++) {
      const w0 = v128.load(w);
      const w1 = v128.load(w, 16);
      w += 32;
      let x = v128.load32_splat(a0); a0 += 4;
      c00 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, x, c00);
      c01 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, x, c01);
      x = v128.load32_splat(a1); a1 += 4;
      c10 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, x, c10);
      c11 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, x, c11);
      x = v128.load32_splat(a2); a2 += 4;
      c20 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, x, c20);
      c21 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, x, c21);
      x = v128.load32_splat(a3); a3 += 4;
      c30 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w0, x, c30);
      c31 = i32x4.relaxed_dot_i8x16_i7x16_add_s(w1, x, c31);
    }
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
}
