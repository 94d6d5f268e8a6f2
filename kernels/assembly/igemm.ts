// Convolution as a GEMM without the patch matrix (the indirect convolution of XNNPACK's IGEMM,
// Dukhan 2019): output row (b, oy, ox) reads its kh·kw input pixels of C codes through one pointer
// per kernel position (tap), a shared zero row standing in for the padding. The pointers feed the
// same block loop as gemm (gemm.ts: multiplyBlock) and the same epilogue, so every result is the
// one im2col + gemm computes:
//   path 0 (SIMD, C % 8 = 0): the block's int16 rows are packed from the taps (packA16Indirect);
//   path 1 (relaxed, C even): the dot8 microkernel walks the taps itself, nothing is copied;
//   path 2 (SIMD, C % 8 = 0): the lookup tables are built from the taps (lutTablesIndirect).
// Otherwise (odd C, C not a multiple of 8 on paths 0 and 2, the scalar build) each block's patch
// rows are copied into scratch first, which still never writes the whole patch matrix.
import { gemmBlockRows, blockAreaOffset, gemmScratchBytes, multiplyBlock, prepareBlock, MR } from './gemm';
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
  return path == 1 ? ASC_FEATURE_RELAXED_SIMD && (c & 1) == 0 : (c & 7) == 0;
}

/** Bytes of scratch convGemm needs for depth k = kh·kw·c: gemm's, then a block's tap pointers, the zero row and a block of patch rows. */
export function convGemmScratchBytes(k: i32, c: i32, taps: i32, path: i32): i32 {
  const kp = paddedK(k);
  const mb = gemmBlockRows(kp, path);
  return gemmScratchBytes(k, path) + mb * taps * 4 + ((c + 15) & ~15) + mb * kp;
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
  const ind = scratch + <usize>gemmScratchBytes(k, path);
  const zero = ind + <usize>(mb * taps * 4);
  const patches = zero + <usize>((c + 15) & ~15);
  const taped = throughTaps(path, c);
  if (taped) zeroBytes(zero, <usize>c);
  for (let b0 = 0; b0 < m; b0 += mb) {
    const bEnd = min(m, b0 + mb);
    const rows = bEnd - b0;
    if (ASC_FEATURE_SIMD) {
      if (taped) {
        tapPointers(src, r0 + b0, rows, zero, ind);
        if (path == 1) {
          multiplyBlock(ind, 0, taps, c >> 1, b0, bEnd, k, w, wbits, n, path, chunk, scratch, out);
          continue;
        }
        if (path == 0) {
          for (let r = 0; r < rows; r += MR) packA16Indirect(ind + <usize>(r * taps * 4), taps, c, area + <usize>(r * kp * 2));
        } else {
          lutTablesIndirect(ind, rows, taps, c, area);
        }
        multiplyBlock(area, 0, 1, kp >> 1, b0, bEnd, k, w, wbits, n, path, chunk, scratch, out);
        continue;
      }
    }
    patchRows(src, r0 + b0, rows, kp, patches);
    multiplyBlock(prepareBlock(patches, kp, rows, kp, path, area), kp, 1, kp >> 1, b0, bEnd, k, w, wbits, n, path, chunk, scratch, out);
  }
}

/**
 * The tap pointers of output rows r0 .. r0+rows at ind: per group of 4 rows and tap (ky, kx), the
 * 4 rows' input pixels (16 bytes); pixels in the padding, and the missing rows of the last group, point at `zero`.
 */
function tapPointers(src: usize, r0: i32, rows: i32, zero: usize, ind: usize): void {
  const px = <usize>cvC;
  const image = <usize>(cvH * cvW) * px;
  const plane = cvOh * cvOw;
  const taps = cvKh * cvKw;
  let b = r0 / plane;
  let oy = (r0 % plane) / cvOw;
  let ox = r0 % cvOw;
  const groups = (rows + MR - 1) / MR;
  for (let r = 0; r < groups * MR; r++) {
    let at = ind + <usize>((r >> 2) * taps * 16 + (r & 3) * 4);
    if (r >= rows) {
      for (let t = 0; t < taps; t++, at += 16) store<u32>(at, <u32>zero);
      continue;
    }
    const img = src + <usize>b * image;
    const y0 = oy * cvSh - cvPadTop, x0 = ox * cvSw - cvPadLeft;
    for (let ky = 0; ky < cvKh; ky++) {
      const iy = y0 + ky;
      const inRow = iy >= 0 && iy < cvH;
      for (let kx = 0; kx < cvKw; kx++, at += 16) {
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
