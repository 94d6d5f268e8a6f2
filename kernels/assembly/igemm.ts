// Convolution as a GEMM without the patch matrix (the indirect convolution of XNNPACK's IGEMM,
// Dukhan 2019): output row (b, oy, ox) reads its kh·kw input pixels of C codes through one pointer
// per kernel position (tap), a shared zero row standing in for the padding; where the 4 rows of a
// microkernel tile all have their kernel rows inside the image horizontally, one pointer per kernel
// row (kw·C contiguous bytes) serves instead. The pointers feed the same block loop as gemm
// (gemm.ts: multiplyBlock) and the same epilogue, so every result is the one im2col + gemm computes:
//   path 0 (SIMD, C % 8 = 0): the block's int16 rows are packed from the taps (packA16Indirect);
//   path 1 (relaxed, C even): the dot8 microkernel walks the taps itself, nothing is copied;
//   path 2 (SIMD, C % 8 = 0): the lookup tables are built from the taps (lutTablesIndirect).
// Otherwise (odd C, C not a multiple of 8 on paths 0 and 2, the scalar build) each block's patch
// rows are copied into scratch first, which still never writes the whole patch matrix.
import { gemmBlockRows, blockAreaOffset, gemmScratchBytes, multiplyBlock, prepareBlock, rowGroup, rowGroupBytes, MR } from './gemm';
import { patchRow, zeroBytes } from './im2col';
import { packA16Indirect, lutTablesIndirect, paddedK } from './pack';

// Geometry of the convolution convGemm runs, set by setConv (NHWC input, TensorFlow padding).
let cvH = 0, cvW = 0, cvC = 0, cvKh = 0, cvKw = 0, cvSh = 0, cvSw = 0, cvPadTop = 0, cvPadLeft = 0, cvOh = 0, cvOw = 0;

/** The window walk of the next convGemm calls: input [h][w][c] per image, kernel kh×kw, strides, leading padding, output oh×ow. */
export function setConv(h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32, padTop: i32, padLeft: i32, oh: i32, ow: i32): void {
  cvH = h; cvW = w; cvC = c; cvKh = kh; cvKw = kw; cvSh = sh; cvSw = sw; cvPadTop = padTop; cvPadLeft = padLeft; cvOh = oh; cvOw = ow;
}

/** Whether `path` reads the input through tap pointers for C = c (else blocks of patch rows are copied). */
// @ts-ignore: decorator
@inline function throughTaps(path: i32, c: i32): bool {
  if (!ASC_FEATURE_SIMD) return false;
  if (path == 1) return ASC_FEATURE_RELAXED_SIMD && (c & 1) == 0;
  if (path == 3) return ASC_FEATURE_RELAXED_SIMD && (c & 3) == 0; // whole quads per tap
  return (c & 7) == 0;
}

/** Bytes of scratch convGemm needs for depth k = kh·kw·c: gemm's, then a block's groups of tap pointers, the zero row (kw·c) and a block of patch rows. */
export function convGemmScratchBytes(k: i32, c: i32, kh: i32, kw: i32, path: i32): i32 {
  const kp = paddedK(k);
  const mb = gemmBlockRows(kp, path);
  return gemmScratchBytes(k, path) + mb / MR * rowGroupBytes(kh * kw) + ((kw * c + 15) & ~15) + mb * kp;
}

/**
 * Output rows r0 .. r0+m of the convolution set by setConv over NHWC codes at src (row r = (b, oy, ox)),
 * by packed weights [n][k = kh·kw·c]: out (row r0's output) = epilogue(patch row · W), as gemm on the
 * im2col patch matrix computes it. The pool splits a convolution's rows across threads by r0.
 */
export function convGemm(src: usize, r0: i32, m: i32, k: i32, w: usize, wbits: i32, n: i32, path: i32, chunk: i32, scratch: usize, out: usize): void {
  const kp = paddedK(k);
  const c = cvC;
  const taps = cvKh * cvKw;
  const mb = gemmBlockRows(kp, path);
  const area = scratch + blockAreaOffset(kp, path);
  const groupBytes = rowGroupBytes(taps);
  const ind = scratch + <usize>gemmScratchBytes(k, path);
  const zero = ind + <usize>(mb / MR * groupBytes);
  const patches = zero + <usize>((cvKw * c + 15) & ~15);
  const taped = throughTaps(path, c);
  if (taped) zeroBytes(zero, <usize>(cvKw * c));
  for (let b0 = 0; b0 < m; b0 += mb) {
    const bEnd = min(m, b0 + mb);
    const rows = bEnd - b0;
    if (ASC_FEATURE_SIMD) {
      if (taped) {
        tapPointers(src, r0 + b0, rows, zero, ind, groupBytes);
        if (path == 1 || path == 3) {
          multiplyBlock(ind, 0, groupBytes, b0, bEnd, k, w, wbits, n, path, chunk, scratch, out);
          continue;
        }
        if (path == 0) {
          for (let r = 0; r < rows; r += MR) packA16Indirect(ind + <usize>((r >> 2) * groupBytes), area + <usize>(r * kp * 2));
        } else {
          lutTablesIndirect(ind, rows, groupBytes, area);
        }
        multiplyBlock(area, 0, rowGroupBytes(1), b0, bEnd, k, w, wbits, n, path, chunk, scratch, out);
        continue;
      }
    }
    patchRows(src, r0 + b0, rows, kp, patches);
    multiplyBlock(prepareBlock(patches, kp, rows, kp, path, area), kp, rowGroupBytes(1), b0, bEnd, k, w, wbits, n, path, chunk, scratch, out);
  }
}

/**
 * The row pointer groups (gemm.ts: rowGroup) of output rows r0 .. r0+rows at ind, groupBytes apart:
 * per tap (ky, kx) the 4 rows' input pixels, c/2 pairs each; or, where every row of the group has its
 * kernel rows inside the image horizontally, per kernel row ky the 4 rows' first pixels, kw·c/2
 * pairs each. Pixels in the padding, and the missing rows of the last group, point at `zero` (kw·c
 * zero bytes, so a kernel row in the padding reads zeros either way).
 */
function tapPointers(src: usize, r0: i32, rows: i32, zero: usize, ind: usize, groupBytes: i32): void {
  const px = <usize>cvC;
  const image = <usize>(cvH * cvW) * px;
  const plane = cvOh * cvOw;
  let b = r0 / plane;
  let oy = (r0 % plane) / cvOw;
  let ox = r0 % cvOw;
  const rowStep = <usize>cvSw * px; // input bytes between neighbouring output pixels of one output row
  const steps = i32x4(0, <i32>rowStep, <i32>(2 * rowStep), <i32>(3 * rowStep));
  const lineBytes = <usize>cvW * px;
  for (let g0 = 0; g0 < rows; g0 += MR) {
    const group = ind + <usize>((g0 >> 2) * groupBytes);
    const count = min(MR, rows - g0);
    if (ASC_FEATURE_SIMD && count == MR && cvKw > 1 && ox + MR <= cvOw) {
      // Fast path: 4 pixels of one output row, all with their kernel rows inside the image
      // horizontally: per kernel row one vector of 4 pointers, rowStep apart (the zero row where the
      // kernel row lies in the vertical padding). The general loop below gives the same pointers.
      const x0 = ox * cvSw - cvPadLeft;
      if (x0 >= 0 && x0 + (MR - 1) * cvSw + cvKw <= cvW) {
        rowGroup(group, cvKh, (cvKw * cvC) >> 1);
        const y0 = oy * cvSh - cvPadTop;
        const line = src + <usize>b * image + <usize>x0 * px; // + iy · lineBytes
        const zeros = i32x4.splat(<i32>zero);
        let at = group + 16;
        for (let ky = 0; ky < cvKh; ky++, at += 16) {
          const iy = y0 + ky;
          v128.store(at, iy >= 0 && iy < cvH ? i32x4.add(i32x4.splat(<i32>(line + <usize>iy * lineBytes)), steps) : zeros);
        }
        ox += MR;
        if (ox == cvOw) {
          ox = 0;
          if (++oy == cvOh) { oy = 0; b++; }
        }
        continue;
      }
    }
    // whole kernel rows: x0 of each row of the group (ox wraps to the next output row)
    let rowsInside = cvKw > 1;
    for (let r = 0, x = ox; r < count; r++) {
      const x0 = x * cvSw - cvPadLeft;
      rowsInside = rowsInside && x0 >= 0 && x0 + cvKw <= cvW;
      if (++x == cvOw) x = 0;
    }
    const perRow = rowsInside ? 1 : cvKw;
    rowGroup(group, cvKh * perRow, (perRow == 1 ? cvKw * cvC : cvC) >> 1);
    for (let r = 0; r < MR; r++) {
      let at = group + 16 + <usize>(r * 4);
      if (r >= count) {
        for (let t = 0; t < cvKh * perRow; t++, at += 16) store<u32>(at, <u32>zero);
        continue;
      }
      const img = src + <usize>b * image;
      const y0 = oy * cvSh - cvPadTop, x0 = ox * cvSw - cvPadLeft;
      for (let ky = 0; ky < cvKh; ky++) {
        const iy = y0 + ky;
        const inRow = iy >= 0 && iy < cvH;
        for (let kx = 0; kx < perRow; kx++, at += 16) {
          const ix = x0 + kx;
          store<u32>(at, <u32>(inRow && ix >= 0 && ix < cvW ? img + <usize>(iy * cvW + ix) * px : zero));
        }
      }
      if (++ox == cvOw) {
        ox = 0;
        if (++oy == cvOh) { oy = 0; b++; }
      }
    }
  }
}

/** Patch rows r0 .. r0+rows (im2col's rows), kp bytes each (zero beyond k = kh·kw·c), at dst. */
function patchRows(src: usize, r0: i32, rows: i32, kp: i32, dst: usize): void {
  const px = <usize>cvC;
  const image = <usize>(cvH * cvW) * px;
  const plane = cvOh * cvOw;
  const k = cvKh * cvKw * cvC;
  let b = r0 / plane;
  let oy = (r0 % plane) / cvOw;
  let ox = r0 % cvOw;
  for (let r = 0; r < rows; r++) {
    patchRow(src + <usize>b * image, cvH, cvW, px, cvKh, cvKw, oy * cvSh - cvPadTop, ox * cvSw - cvPadLeft, dst);
    zeroBytes(dst + <usize>k, <usize>(kp - k));
    dst += <usize>kp;
    if (++ox == cvOw) {
      ox = 0;
      if (++oy == cvOh) { oy = 0; b++; }
    }
  }
}
