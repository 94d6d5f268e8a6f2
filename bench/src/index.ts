// The peers the benchmarks measure the runtime against, for tests and other benchmarks.
export {
  foldNetwork, foldedForward, floatReference, calibrateInt8, maxRelativeError, argmaxAgreement,
  type FoldedNetwork, type FoldedNode, type Engine, type Int8Calibration,
} from './baselines/network.ts';
export { startTfjsWasm, tfjsEngine } from './baselines/tfjs.ts';
export { onnxFloat32, onnxInt8Qdq, ortEngine, startOrtWeb } from './baselines/onnx.ts';
export { TfliteBuilder, tfliteInt8 } from './baselines/tflite.ts';
export { startLiteRt, liteRtEngine } from './baselines/litert.ts';
