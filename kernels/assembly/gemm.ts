// GEMM of unsigned a-bit activations [M][K] (row stride lda) by signed w-bit weights kept as
// packed panels (pack.ts), int32 accumulation, fused float32 epilogue (epilogue.ts).
//   path 0: tile 4×8, microkernel qu8-qs8-gemm-4x8c2-wasmsimd-dot16x2 (SIMD) or -scalar.
//   path 1: tile 4×16, microkernel qu8-qs8-gemm-4x16c2-wasmrelaxedsimd-dot8-acc16 (relaxed build only).
//   path 2: tile 4×16, microkernel qu8-qs2-gemm-4x16c4-wasmsimd-lut16 (SIMD builds, weights ≤ 2 bits).
//   path 3: tile 4×8, microkernel qu8-qs8-gemm-4x8c4-wasmrelaxedsimd-dot4 (relaxed build), A read as on path 1.
import { containerBits } from './layout';
import { lutTables, packA16, paddedK, tileCols, unpackTile } from './pack';
import { epilogueTile } from './epilogue';
import { kernel4x8Dot16Packed } from './microkernels/qu8-qs8-gemm-4x8c2-wasmsimd-dot16x2';
import { kernel4x16Dot8 } from './microkernels/qu8-qs8-gemm-4x16c2-wasmrelaxedsimd-dot8-acc16';
import { kernel4x8Scalar } from './microkernels/qu8-qs8-gemm-4x8c2-scalar';
import { kernel4x16Lut } from './microkernels/qu8-qs2-gemm-4x16c4-wasmsimd-lut16';
import { kernel4x8Dot4 } from './microkernels/qu8-qs8-gemm-4x8c4-wasmrelaxedsimd-dot4';

/** Rows of a microkernel tile. */
export const MR = 4;

/** Rows of A per block: the packed int16 rows of a block stay within ~128 KiB (L2). */
// @ts-ignore: decorator
@inline function blockRows(kp: i32): i32 {
  return max(MR, (131072 / (kp * 2)) / MR * MR);
}

/** Rows of A per block on path 2: the block's activation tables (4 bytes per k) stay within ~64 KiB. */
// @ts-ignore: decorator
@inline function lutBlockRows(kp: i32): i32 {
  return max(MR, (16384 / kp) / MR * MR);
}

/** Rows of A per block (a multiple of MR) on `path` for depth kp. */
// @ts-ignore: decorator
@inline export function gemmBlockRows(kp: i32, path: i32): i32 {
  return path == 2 ? lutBlockRows(kp) : blockRows(kp);
}

/** Bytes of the unpacked weight panel (none on path 2, whose kernel reads the packed tile). */
// @ts-ignore: decorator
@inline function panelBytes(kp: i32, path: i32): i32 {
  return path == 2 ? 0 : kp * tileCols(path) * (path == 0 ? 2 : 1);
}

/**
 * Bytes of the int32 sums of a block's rows across all weight tiles, which the epilogue then runs
 * over in one call (multiplyBlock): wide rows (16 codes per tie check), one dispatch per block.
 */
const ACC_BYTES = 65536;

/** Offset in gemm's scratch of the block area: packed A rows (path 0), row pointers (path 1) or tables (path 2). */
// @ts-ignore: decorator
@inline export function blockAreaOffset(kp: i32, path: i32): usize {
  return <usize>(panelBytes(kp, path) + MR * tileCols(path) * 4 + ACC_BYTES);
}

/** Bytes of scratch gemm needs: one unpacked tile panel, one int32 tile, the block's int32 sums, one block of packed A rows (or tables). */
export function gemmScratchBytes(k: i32, path: i32): i32 {
  const kp = paddedK(k);
  const block = path == 2 ? lutBlockRows(kp) * kp * 4 : blockRows(kp) * kp * 2;
  return <i32>blockAreaOffset(kp, path) + block;
}

/**
 * out[m][n] = epilogue(Σ_c a[m·lda + c] · W[n][c]) for m < M, n < N. Rows of A are read up to
 * paddedK(k) bytes (the weights there are zero), so callers keep that much readable memory.
 * Loops: blocks of A rows (prepareBlock) → weight tiles (unpacked once per block) → 4-row tiles.
 */
export function gemm(a: usize, lda: i32, m: i32, k: i32, w: usize, wbits: i32, n: i32, path: i32, chunk: i32, scratch: usize, out: usize): void {
  const kp = paddedK(k);
  const mb = gemmBlockRows(kp, path);
  const area = scratch + blockAreaOffset(kp, path);
  for (let b0 = 0; b0 < m; b0 += mb) {
    const bEnd = min(m, b0 + mb);
    const block = prepareBlock(a + <usize>b0 * <usize>lda, lda, bEnd - b0, kp, path, area);
    multiplyBlock(block, lda, rowGroupBytes(1), b0, bEnd, k, w, wbits, n, path, chunk, scratch, out);
  }
}

/**
 * A group of row pointers, what the dot8 microkernel (path 1) reads rows through: a 16-byte header
 * (taps, segPairs: i32), then per tap the pointers of the group's 4 rows (16 bytes); row r reads
 * segPairs pairs from its pointer of each tap in turn. Sets the header at `group`.
 */
// @ts-ignore: decorator
@inline export function rowGroup(group: usize, taps: i32, segPairs: i32): void {
  store<i32>(group, taps);
  store<i32>(group, segPairs, 4);
}

/** Bytes of a group of row pointers (rowGroup) with `taps` taps. */
// @ts-ignore: decorator
@inline export function rowGroupBytes(taps: i32): i32 { return 16 * (1 + taps); }

/**
 * The A operand of `rows` rows at a (stride lda) as the block's microkernel reads it, written to
 * `area` (gemm's block area): int16-packed rows (path 0, SIMD), groups of one row pointer per row
 * (path 1, rowGroup with one tap; missing rows of the last group repeat the group's first), tables
 * (path 2); the scalar build reads the rows themselves. Returns the block's A for multiplyBlock.
 */
export function prepareBlock(a: usize, lda: i32, rows: i32, kp: i32, path: i32, area: usize): usize {
  if (ASC_FEATURE_SIMD) {
    if (path == 2) {
      lutTables(a, lda, rows, kp, area);
      return area;
    }
    const step = <usize>lda;
    for (let r = 0; r < rows; r += MR) {
      // Missing rows of the last tile reuse row 0 of the tile; their results are not written.
      const left = rows - r;
      const a0 = a + <usize>r * step;
      const a1 = left > 1 ? a0 + step : a0, a2 = left > 2 ? a0 + 2 * step : a0, a3 = left > 3 ? a0 + 3 * step : a0;
      if (path == 0) {
        packA16(a0, a1, a2, a3, kp, area + <usize>(r * kp * 2));
      } else {
        const group = area + (<usize>r << 3);
        rowGroup(group, 1, kp >> 1);
        store<u32>(group, <u32>a0, 16); store<u32>(group, <u32>a1, 20); store<u32>(group, <u32>a2, 24); store<u32>(group, <u32>a3, 28);
      }
    }
    return area;
  }
  return a;
}

/**
 * Rows b0..bEnd of the output from a block's A operand (prepareBlock, or igemm.ts for convolutions):
 * for each weight tile (unpacked once), each 4-row tile through the microkernel into the block's
 * int32 sums (rows × all tiles' columns), then the epilogue over those rows at once. Path 1 reads
 * each 4 rows through a group of row pointers (rowGroup), groupBytes apart; the scalar build reads
 * rows at block with stride lda. Rows too wide for the sums' area (over 4096 columns) take the
 * epilogue tile by tile.
 */
export function multiplyBlock(block: usize, lda: i32, groupBytes: i32, b0: i32, bEnd: i32, k: i32, w: usize, wbits: i32, n: i32,
  path: i32, chunk: i32, scratch: usize, out: usize): void {
  const nr = tileCols(path);
  const kp = paddedK(k);
  const cb = containerBits(wbits);
  const tileBytes = <usize>(path == 2 ? kp * 8 : kp * nr * cb / 8); // lut16: two bit planes of 16 columns
  const tile = scratch + <usize>panelBytes(kp, path);
  const tiles = (n + nr - 1) / nr;
  const width = tiles * nr; // int32 columns of a row of the block's sums
  if (width * MR * 4 > ACC_BYTES) {
    for (let t = 0; t < tiles; t++) {
      const n0 = t * nr;
      const cols = min(nr, n - n0);
      for (let m0 = b0; m0 < bEnd; m0 += MR) {
        tileSums(block, lda, groupBytes, b0, m0, min(MR, bEnd - m0), kp, w, t, tileBytes, cb, path, chunk, scratch, m0 == b0, tile);
        epilogueTile(tile, nr, m0, n0, min(MR, bEnd - m0), cols, out, n);
      }
    }
    return;
  }
  const acc = tile + <usize>(MR * nr * 4);
  const chunkRows = (ACC_BYTES / 4 / width) & ~(MR - 1);
  // one weight tile: each 4-row tile's sums land where the block's sums keep them, one after another
  const direct = tiles == 1;
  for (let r0 = b0; r0 < bEnd; r0 += chunkRows) {
    const r1 = min(bEnd, r0 + chunkRows);
    for (let t = 0; t < tiles; t++) {
      const n0 = t * nr;
      for (let m0 = r0; m0 < r1; m0 += MR) {
        const rows = min(MR, r1 - m0);
        const dst = direct ? acc + (<usize>((m0 - r0) * nr) << 2) : tile;
        tileSums(block, lda, groupBytes, b0, m0, rows, kp, w, t, tileBytes, cb, path, chunk, scratch, m0 == r0, dst);
        if (!direct) copyTile(tile, nr, rows, acc + (<usize>((m0 - r0) * width + n0) << 2), width);
      }
    }
    epilogueTile(acc, width, r0, 0, r1 - r0, n, out, n);
  }
}

/**
 * The int32 sums of rows m0 .. m0+rows (at most MR) by weight tile t into dst (MR rows of nr ints):
 * the microkernel of `path`, after unpacking the tile's weights into scratch when `unpack` (the first
 * row tile of a pass over the tile) and the path reads unpacked weights.
 */
// @ts-ignore: decorator
@inline function tileSums(block: usize, lda: i32, groupBytes: i32, b0: i32, m0: i32, rows: i32, kp: i32, w: usize, t: i32,
  tileBytes: usize, cb: i32, path: i32, chunk: i32, scratch: usize, unpack: bool, dst: usize): void {
  const i = m0 - b0;
  if (ASC_FEATURE_SIMD) {
    if (path == 2) {
      // Missing rows of the last tile reuse row 0's tables; their results are not written.
      const tableRow = <usize>(kp * 4);
      const t0 = block + <usize>i * tableRow;
      kernel4x16Lut(t0, rows > 1 ? t0 + tableRow : t0, rows > 2 ? t0 + 2 * tableRow : t0, rows > 3 ? t0 + 3 * tableRow : t0,
        w + <usize>t * tileBytes, kp >> 2, chunk, dst);
      return;
    }
  }
  const panel = scratch;
  if (unpack) unpackTile(w + <usize>t * tileBytes, cb, kp * tileCols(path), panel, path == 0);
  if (ASC_FEATURE_RELAXED_SIMD) {
    if (path == 1) kernel4x16Dot8(block + <usize>((i >> 2) * groupBytes), panel, chunk, dst);
    else if (path == 3) kernel4x8Dot4(block + <usize>((i >> 2) * groupBytes), panel, dst);
    else kernel4x8Dot16Packed(block + <usize>(i * kp * 2), panel, kp >> 1, dst);
  } else if (ASC_FEATURE_SIMD) {
    kernel4x8Dot16Packed(block + <usize>(i * kp * 2), panel, kp >> 1, dst);
  } else {
    const step = <usize>lda;
    const a0 = block + <usize>i * step;
    kernel4x8Scalar(a0, rows > 1 ? a0 + step : a0, rows > 2 ? a0 + 2 * step : a0, rows > 3 ? a0 + 3 * step : a0, panel, kp >> 1, dst);
  }
}

/** rows of a tile (row stride nr ints) to dst (row stride `width` ints): inline vector moves. */
// @ts-ignore: decorator
@inline function copyTile(tile: usize, nr: i32, rows: i32, dst: usize, width: i32): void {
  for (let r = 0; r < rows; r++) {
    const s = tile + (<usize>(r * nr) << 2);
    const d = dst + (<usize>(r * width) << 2);
    if (ASC_FEATURE_SIMD) {
      for (let c = 0; c < nr; c += 4) v128.store(d + (<usize>c << 2), v128.load(s + (<usize>c << 2)));
    } else {
      for (let c = 0; c < nr; c++) store<i32>(d + (<usize>c << 2), load<i32>(s + (<usize>c << 2)));
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
