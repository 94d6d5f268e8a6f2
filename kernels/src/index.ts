// @bitswitch/kernels: WebAssembly SIMD kernels (relaxed-SIMD, fixed-SIMD, scalar builds) for
// Double Rounding bit switching and integer GEMM. API: kernels/README.md.
export { relaxedSimdSupport, type RelaxedSimdSupport } from './builds.ts';
export { BUILDS, availableBuilds, buildBytes, type BuildName } from './builds.ts';
export {
  Kernels, loadKernels, createKernels,
  type LoadOptions, type WasmBuffer, type PackedWeights, type Epilogue, type GemmArgs,
  type PackedWeightsF32, type EpilogueF32, type GemmF32Args, type Im2colArgs, type Im2colResult,
} from './kernels.ts';
export { GEMM_FAMILIES, familiesOf, defaultFamily, acc16Chunk, type GemmFamily } from './families.ts';
export * from './reference.ts';
