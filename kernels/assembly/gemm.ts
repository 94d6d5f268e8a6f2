// GEMM of unsigned a-bit activations [M][K] (row stride lda) by signed w-bit weights kept as
// packed panels (pack.ts), int32 accumulation, fused float32 epilogue (epilogue.ts).
//   path 0: tile 4×8, microkernel qu8-qs8-gemm-4x8c2-wasmsimd-dot16x2 (SIMD) or -scalar.
//   path 1: tile 4×16, microkernel qu8-qs8-gemm-4x16c2-wasmrelaxedsimd-dot8-acc16 (relaxed build only).
//   path 2: tile 4×16, microkernel qu8-qs2-gemm-4x16c4-wasmsimd-lut16 (SIMD builds, weights ≤ 2 bits).
import { containerBits } from './layout';
import { lutTables, packA16, paddedK, tileCols, unpackTile } from './pack';
import { epilogueTile } from './epilogue';
import { kernel4x8Dot16Packed } from './microkernels/qu8-qs8-gemm-4x8c2-wasmsimd-dot16x2';
import { kernel4x16Dot8 } from './microkernels/qu8-qs8-gemm-4x16c2-wasmrelaxedsimd-dot8-acc16';
import { kernel4x8Scalar } from './microkernels/qu8-qs8-gemm-4x8c2-scalar';
import { kernel4x16Lut } from './microkernels/qu8-qs2-gemm-4x16c4-wasmsimd-lut16';

/** Rows of a microkernel tile. */
export const MR = 4;

/** Rows of A per block: the packed int16 rows of a block stay within ~128 KiB (L2). */
// @ts-ignore: decorator
@inline function blockRows(kp: i32): i32 {
  return max(MR, (131072 / (kp * 2)) / MR * MR);
}

/** Bytes of scratch gemm needs: one unpacked tile panel, one int32 tile, one block of packed A rows. */
export function gemmScratchBytes(k: i32, path: i32): i32 {
  const nr = tileCols(path);
  const kp = paddedK(k);
  if (path == 2) return MR * nr * 4 + lutBlockRows(kp) * kp * 4;
  return kp * nr * (path == 0 ? 2 : 1) + MR * nr * 4 + blockRows(kp) * kp * 2;
}

/**
 * out[m][n] = epilogue(Σ_c a[m·lda + c] · W[n][c]) for m < M, n < N. Rows of A are read up to
 * paddedK(k) bytes (the weights there are zero), so callers keep that much readable memory.
 * Loops: blocks of A rows (packed once per block on path 0) → weight tiles (unpacked once per block) → 4-row tiles.
 */
export function gemm(a: usize, lda: i32, m: i32, k: i32, w: usize, wbits: i32, n: i32, path: i32, chunk: i32, scratch: usize, out: usize): void {
  if (ASC_FEATURE_SIMD) {
    if (path == 2) {
      gemmLut(a, lda, m, k, w, n, chunk, scratch, out);
      return;
    }
  }
  const nr = tileCols(path);
  const kp = paddedK(k);
  const pairs = kp >> 1;
  const cb = containerBits(wbits);
  const tileBytes = <usize>(kp * nr * cb / 8);
  const panel = scratch;
  const tile = panel + <usize>(kp * nr * (path == 0 ? 2 : 1));
  const packed = tile + <usize>(MR * nr * 4);
  const tiles = (n + nr - 1) / nr;
  const step = <usize>lda;
  const mb = blockRows(kp);

  for (let b0 = 0; b0 < m; b0 += mb) {
    const bEnd = min(m, b0 + mb);
    if (ASC_FEATURE_SIMD) {
      if (path == 0) {
        for (let m0 = b0; m0 < bEnd; m0 += MR) {
          const rows = min(MR, m - m0);
          // Missing rows of the last tile reuse row 0 of the tile; their results are not written.
          const a0 = a + <usize>m0 * step;
          packA16(a0, rows > 1 ? a0 + step : a0, rows > 2 ? a0 + 2 * step : a0, rows > 3 ? a0 + 3 * step : a0,
            kp, packed + <usize>((m0 - b0) * kp * 2));
        }
      }
    }
    for (let t = 0; t < tiles; t++) {
      unpackTile(w + <usize>t * tileBytes, cb, kp * nr, panel, path == 0);
      const n0 = t * nr;
      const cols = min(nr, n - n0);
      for (let m0 = b0; m0 < bEnd; m0 += MR) {
        const rows = min(MR, m - m0);
        const a0 = a + <usize>m0 * step;
        const a1 = rows > 1 ? a0 + step : a0;
        const a2 = rows > 2 ? a0 + 2 * step : a0;
        const a3 = rows > 3 ? a0 + 3 * step : a0;
        if (ASC_FEATURE_RELAXED_SIMD) {
          if (path == 1) kernel4x16Dot8(a0, a1, a2, a3, panel, pairs, chunk, tile);
          else kernel4x8Dot16Packed(packed + <usize>((m0 - b0) * kp * 2), panel, pairs, tile);
        } else if (ASC_FEATURE_SIMD) {
          kernel4x8Dot16Packed(packed + <usize>((m0 - b0) * kp * 2), panel, pairs, tile);
        } else {
          kernel4x8Scalar(a0, a1, a2, a3, panel, pairs, tile);
        }
        epilogueTile(tile, nr, m0, n0, rows, cols, out, n);
      }
    }
  }
}

/** Largest byte of rows×cols bytes (row stride ld), to check activations against their bit width. */
export function maxBytes(src: usize, rows: i32, cols: i32, ld: i32): i32 {
  let best = 0;
  for (let r = 0; r < rows; r++) {
    const row = src + <usize>r * <usize>ld;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      let v = i8x16.splat(0);
      for (; c + 16 <= cols; c += 16) v = i8x16.max_u(v, v128.load(row + c));
      v = i8x16.max_u(v, i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
      v = i8x16.max_u(v, i8x16.shuffle(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3));
      v = i8x16.max_u(v, i8x16.shuffle(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1));
      v = i8x16.max_u(v, i8x16.shuffle(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0));
      best = max(best, <i32>i8x16.extract_lane_u(v, 0));
    }
    for (; c < cols; c++) best = max(best, <i32>load<u8>(row + c));
  }
  return best;
}

/** Rows of A per block on path 2: the block's activation tables (4 bytes per k) stay within ~64 KiB. */
// @ts-ignore: decorator
@inline function lutBlockRows(kp: i32): i32 {
  return max(MR, (16384 / kp) / MR * MR);
}

/** path 2 (lut16): blocks of A rows (tables built once per block) → weight tiles (read packed) → 4-row tiles. */
function gemmLut(a: usize, lda: i32, m: i32, k: i32, w: usize, n: i32, chunk: i32, scratch: usize, out: usize): void {
  const nr = 16;
  const kp = paddedK(k);
  const groups = kp >> 2;
  const tileBytes = <usize>(kp * 8);
  const tableRow = <usize>(kp * 4);
  const tile = scratch;
  const tables = tile + <usize>(MR * nr * 4);
  const tiles = (n + nr - 1) / nr;
  const mb = lutBlockRows(kp);
  for (let b0 = 0; b0 < m; b0 += mb) {
    const bEnd = min(m, b0 + mb);
    lutTables(a + <usize>b0 * <usize>lda, lda, bEnd - b0, kp, tables);
    for (let t = 0; t < tiles; t++) {
      const panel = w + <usize>t * tileBytes;
      const n0 = t * nr;
      const cols = min(nr, n - n0);
      for (let m0 = b0; m0 < bEnd; m0 += MR) {
        const rows = min(MR, m - m0);
        // Missing rows of the last tile reuse row 0's tables; their results are not written.
        const t0 = tables + <usize>(m0 - b0) * tableRow;
        kernel4x16Lut(t0, rows > 1 ? t0 + tableRow : t0, rows > 2 ? t0 + 2 * tableRow : t0, rows > 3 ? t0 + 3 * tableRow : t0,
          panel, groups, chunk, tile);
        epilogueTile(tile, nr, m0, n0, rows, cols, out, n);
      }
    }
  }
}
