// Scalar reference of a convolution's integer GEMM (convGemm): the reference GEMM on the reference im2col's patches.
import { gemmRef } from './gemm.ts';
import { im2colRef } from './im2col.ts';

/** convGemm's int32 sums: gemmRef of im2colRef's patch rows by weights [n][kh·kw·c] (OHWI). */
export function convGemmRef(input: Uint8Array, batch: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number,
  padding: 'same' | 'valid', weights: Int8Array, n: number): Int32Array {
  const patches = im2colRef(input, batch, h, w, c, kh, kw, sh, sw, padding);
  const k = kh * kw * c;
  return gemmRef(patches, patches.length / k, k, k, weights, n);
}
