// Family qu8-qs8-gemm-4x8c2-wasmsimd-dot16x2 (SIMD builds): tile 4×8, weight pairs widened to
// int16, A rows packed as int16 pairs (packA16), i32x4.dot_i16x8_s (pmaddwd) into int32.

/** path 0, SIMD: tile[4][8] from 4 packed rows (packA16) · panel of int16 weight pairs. */
export function kernel4x8Dot16Packed(ap: usize, w: usize, pairs: i32, tile: usize): void {
  let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
  let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
  // Monomorphic hot loop, written out per microkernel (the others and gemmf32.ts have the same
  // 4×2 register tile with another multiply-add): eight accumulators stay in registers only when
  // the body is spelled out; AssemblyScript cannot inline a multiply-add passed as a function.
  for (let p = 0; p < pairs; p++) {
    const w0 = v128.load(w);
    const w1 = v128.load(w, 16);
    w += 32;
    let x = v128.load32_splat(ap);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x, w0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x, w1));
    x = v128.load32_splat(ap, 4);
    c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x, w0));
    c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x, w1));
    x = v128.load32_splat(ap, 8);
    c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x, w0));
    c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x, w1));
    x = v128.load32_splat(ap, 12);
    c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x, w0));
    c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x, w1));
    ap += 16;
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
}
