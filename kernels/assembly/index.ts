// Entry of the three builds (relaxed-SIMD, fixed-SIMD, scalar) compiled from this one source set;
// SIMD code sits behind ASC_FEATURE_* constants, so the scalar build never contains it.
export { quantizeWeights, quantizeActivations } from './quantize';
export { downcast } from './downcast';
export { packPanels } from './pack';
export { gemm, gemmScratchBytes, maxBytes } from './gemm';
export { setConv, convGemm, convGemmScratchBytes } from './igemm';
export { setEpilogue, setEpilogueCodes, combineScales } from './epilogue';
export { switchPanels, switchWorkBytes } from './switch';
export { im2col } from './im2col';
export { packPanelsF32, gemmF32 } from './gemmf32';

/** First free byte after static data; the TypeScript allocator manages memory from here. */
export function heapBase(): usize { return __heap_base; }
