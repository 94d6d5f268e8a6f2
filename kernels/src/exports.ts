// The functions a kernels build exports (kernels/assembly/index.ts), as the TypeScript side calls them.

export interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  quantizeWeights(src: number, n: number, k: number, scales: number, perChannel: number, h: number, dst: number): void;
  quantizeActivations(src: number, len: number, scale: number, bits: number, dst: number): void;
  downcast(src: number, h: number, dst: number, l: number, n: number, k: number): void;
  packPanels(src: number, srcRowBytes: number, srcCb: number, n: number, k: number, bits: number, path: number, dst: number): number;
  gemmScratchBytes(k: number, path: number): number;
  setEpilogue(scale: number, bias: number, mul: number, add: number, residual: number, relu: number, rqScale: number, rqBits: number): void;
  setEpilogueCodes(codes: number, scale: number, bits: number): void;
  combineScales(wScale: number, perChannel: number, aScale: number, n: number, out: number): void;
  gemm(a: number, lda: number, m: number, k: number, w: number, wbits: number, n: number, path: number, chunk: number, scratch: number, out: number): void;
  setConv(h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, padTop: number, padLeft: number, oh: number, ow: number): void;
  convGemm(src: number, r0: number, m: number, k: number, w: number, wbits: number, n: number, path: number, chunk: number, scratch: number, out: number): void;
  convGemmScratchBytes(k: number, c: number, kh: number, kw: number, path: number): number;
  maxBytes(src: number, rows: number, cols: number, ld: number): number;
  switchPanels(src: number, h: number, n: number, k: number, l: number, path: number, work: number, dst: number): number;
  switchWorkBytes(k: number, path: number): number;
  packPanelsF32(src: number, n: number, k: number, dst: number): void;
  gemmF32(a: number, lda: number, m: number, k: number, w: number, n: number, scratch: number, out: number): void;
  im2col(src: number, batch: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number,
    padTop: number, padLeft: number, oh: number, ow: number, elt: number, dst: number): void;
}
