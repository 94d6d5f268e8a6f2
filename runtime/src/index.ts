export { Runtime, argmax, matrixShape, type PrecisionInfo, type MemoryInfo } from './executor.ts';
export { referenceForward, checkInput, type ReferenceHooks } from './reference.ts';
export { resolvePrecision, type Precision, type PrecisionSpec } from './precision.ts';
export { analyseGraph, type GraphInfo, type QuantLayer } from './graph.ts';
export type { IntBackend, PreparedWeights, Epilogue, ConvGeometry } from './backend.ts';
export { createTsBackend } from './backend-ts.ts';
export { createBackend, BACKEND_NAMES, type BackendName } from './backends.ts';
export { createKernelsBackend } from './backend-kernels.ts';
export { buildResNet, buildResNet20, calibrate, randomImages, rng, type ResNetOptions } from './testing.ts';
