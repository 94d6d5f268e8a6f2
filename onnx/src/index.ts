export { parseOnnx, decodeOnnx, SUPPORTED_OPS, type ParsedOnnx } from './parse.ts';
export { importOnnx, quantizeParsed, foldBatchNorms, floatModel, calibrateActivations, type ImportOptions } from './import.ts';
export { mseActivationScale, absmaxWeightScales, HISTOGRAM_BINS, CLIP_CANDIDATES } from './calibrate.ts';
export { exportOnnx, type ExportResult } from './export.ts';
export { onnx, EXPORT_OPSET } from './proto.ts';
export { fp32FromOnnx, type OnnxStart, type SpecLike, type SpecNode } from './fp32.ts';
