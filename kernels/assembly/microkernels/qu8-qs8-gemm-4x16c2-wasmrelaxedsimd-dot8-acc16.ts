// Family qu8-qs8-gemm-4x16c2-wasmrelaxedsimd-dot8-acc16 (relaxed build): tile 4×16, int8 weight
// pairs, i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw) into 16-bit sums widened to int32 every
// `chunk` k-pairs (families.ts: acc16Chunk keeps the 16-bit sums exact).
import { widenInto, zeroTile4x16 } from './tile';

/**
 * path 1, relaxed SIMD: tile[4][16] = 4 rows of A · panel of int8 weight pairs, 16-bit partial sums
 * per chunk. The rows are read through a group of row pointers (gemm.ts: rowGroup): a 16-byte header
 * (taps, segPairs), then per tap the 4 rows' pointers (16 bytes), each row continuing for segPairs
 * pairs from its pointer. A plain GEMM is one tap; a convolution (igemm.ts) has one tap per kernel
 * position or kernel row, so no patch matrix is copied.
 */
export function kernel4x16Dot8(group: usize, w: usize, chunk: i32, tile: usize): void {
  zeroTile4x16(tile);
  const segPairs = load<i32>(group, 4);
  const pairs = load<i32>(group) * segPairs;
  let ind = group + 16;
  let a0: usize = 0, a1: usize = 0, a2: usize = 0, a3: usize = 0;
  let left = 0; // pairs left in the current tap
  let p = 0;
  while (p < pairs) {
    const end = min(p + chunk, pairs);
    let s00 = i16x8.splat(0), s01 = i16x8.splat(0), s10 = i16x8.splat(0), s11 = i16x8.splat(0);
    let s20 = i16x8.splat(0), s21 = i16x8.splat(0), s30 = i16x8.splat(0), s31 = i16x8.splat(0);
    while (p < end) {
      if (left == 0) {
        a0 = <usize>load<u32>(ind); a1 = <usize>load<u32>(ind, 4); a2 = <usize>load<u32>(ind, 8); a3 = <usize>load<u32>(ind, 12);
        ind += 16;
        left = segPairs;
      }
      const stop = p + min(left, end - p);
      left -= stop - p;
      // Monomorphic hot loop, written out per microkernel (the others and gemmf32.ts have the same
      // 4×2 register tile with another multiply-add): eight accumulators stay in registers only when
      // the body is spelled out; AssemblyScript cannot inline a multiply-add passed as a function.
      for (; p < stop; p++) {
        const w0 = v128.load(w);
        const w1 = v128.load(w, 16);
        w += 32;
        let x = v128.load16_splat(a0); a0 += 2;
        s00 = i16x8.add(s00, i16x8.relaxed_dot_i8x16_i7x16_s(w0, x));
        s01 = i16x8.add(s01, i16x8.relaxed_dot_i8x16_i7x16_s(w1, x));
        x = v128.load16_splat(a1); a1 += 2;
        s10 = i16x8.add(s10, i16x8.relaxed_dot_i8x16_i7x16_s(w0, x));
        s11 = i16x8.add(s11, i16x8.relaxed_dot_i8x16_i7x16_s(w1, x));
        x = v128.load16_splat(a2); a2 += 2;
        s20 = i16x8.add(s20, i16x8.relaxed_dot_i8x16_i7x16_s(w0, x));
        s21 = i16x8.add(s21, i16x8.relaxed_dot_i8x16_i7x16_s(w1, x));
        x = v128.load16_splat(a3); a3 += 2;
        s30 = i16x8.add(s30, i16x8.relaxed_dot_i8x16_i7x16_s(w0, x));
        s31 = i16x8.add(s31, i16x8.relaxed_dot_i8x16_i7x16_s(w1, x));
      }
    }
    widenInto(tile, s00); widenInto(tile + 32, s01);
    widenInto(tile + 64, s10); widenInto(tile + 96, s11);
    widenInto(tile + 128, s20); widenInto(tile + 160, s21);
    widenInto(tile + 192, s30); widenInto(tile + 224, s31);
  }
}
