// @bitswitch/kernels: WebAssembly SIMD kernels (relaxed-SIMD, fixed-SIMD, scalar builds) for
// Double Rounding bit switching and integer GEMM. API: kernels/README.md.
export { relaxedSimdSupport, type RelaxedSimdSupport } from './builds.ts';
export { BUILDS, availableBuilds, buildBytes, type BuildName } from './builds.ts';
export { Kernels } from './kernels.ts';
export { createTrainingKernels, type TrainingKernels } from './training.ts';
export { loadKernels, createKernels } from './load.ts';
export type {
  LoadOptions, WasmBuffer, ResidentValues, PackedWeights, Epilogue, GemmArgs,
  PackedWeightsF32, EpilogueF32, GemmF32Args, Im2colArgs, Im2colResult, ConvGemmArgs, ConvWindowArgs,
} from './types.ts';
export { GEMM_FAMILIES, familiesOf, defaultFamily, acc16Chunk, lutChunk, dot4Reliable, dot4Unsigned8, type GemmFamily } from './families.ts';
export { CHOICE_ROWS, type FamilyChoice } from './choose.ts';
export * from './reference/index.ts';
