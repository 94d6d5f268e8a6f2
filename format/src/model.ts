// In-memory form of a bitswitch model file (SPEC.md). The writer serialises exactly this;
// the reader returns exactly this, validated.

export type Padding = 'same' | 'valid';

/** Float32 weights of a layer that stays full precision (first and last layers). */
export interface FloatWeights {
  kind: 'float';
  /** Row-major [N][K]: conv2d OHWI (K = kh·kw·cin), dense [out][in]. */
  values: Float32Array;
}

/** Integer weights of a quantized layer: only W̃_h and s_h are stored (Double Rounding). */
export interface IntWeights {
  kind: 'int';
  /** Highest bit-width h of this layer's stored integers (2..8). */
  bits: number;
  /** W̃_h, row-major [N][K] like FloatWeights.values, each in [-2^(h-1), 2^(h-1)-1]. */
  values: Int8Array;
  /** s_h: length 1 (per tensor) or N (per output channel); finite, > 0. */
  scale: Float32Array;
  /** Activation scale s_b of this layer's (unsigned) input, one per entry of Model.bits, same order. */
  actScales: Float32Array;
}

export type Weights = FloatWeights | IntWeights;

interface LayerBase {
  name: string;
  /** Names of the layers feeding this one; 'input' is the model input. */
  inputs: string[];
}

export interface Conv2DLayer extends LayerBase {
  op: 'conv2d';
  kernel: [number, number];
  strides: [number, number];
  padding: Padding;
  inChannels: number;
  outChannels: number;
  weights: Weights;
  bias?: Float32Array;
}

export interface DenseLayer extends LayerBase {
  op: 'dense';
  inFeatures: number;
  outFeatures: number;
  weights: Weights;
  bias?: Float32Array;
}

/**
 * Which parameter set a BatchNorm uses. 'single': one set. 'per-bit': one set per entry of
 * Model.bits, chosen by the bit of quantized layer `layer`. 'per-pair' (TBN): one set per
 * (bit of `prev`, bit of `layer`), index = prevIndex · |bits| + bitIndex.
 */
export type BatchNormSelect =
  | { kind: 'single' }
  | { kind: 'per-bit'; layer: string }
  | { kind: 'per-pair'; prev: string; layer: string };

export interface BatchNormLayer extends LayerBase {
  op: 'batchnorm';
  channels: number;
  epsilon: number;
  select: BatchNormSelect;
  /** [sets][4][channels]: gamma, beta, moving mean, moving variance. */
  params: Float32Array;
}

export interface ReluLayer extends LayerBase { op: 'relu' }
export interface AddLayer extends LayerBase { op: 'add' }
export interface FlattenLayer extends LayerBase { op: 'flatten' }
export interface GlobalAvgPoolLayer extends LayerBase { op: 'globalavgpool' }
export interface AvgPoolLayer extends LayerBase {
  op: 'avgpool';
  pool: [number, number];
  strides: [number, number];
  padding: Padding;
}

export type Layer =
  | Conv2DLayer | DenseLayer | BatchNormLayer | ReluLayer | AddLayer
  | FlattenLayer | GlobalAvgPoolLayer | AvgPoolLayer;

export type LayerOp = Layer['op'];

/** Optional per quantized layer sensitivity (HASB, search). */
export interface LayerSensitivity {
  layer: string;
  /** Hutchinson estimate of tr(H) over the layer's weights (not divided by params). */
  hessianTrace: number;
  /** Standard error of hessianTrace (format 1.1; absent in 1.0 files). */
  hessianTraceStdErr?: number;
  /** Rademacher probes averaged into hessianTrace (format 1.1; absent in 1.0 files). */
  probes?: number;
  params: number;
  macs: number;
}

/** A named mixed-precision SubNet: one bit per quantized layer, in graph order. */
export interface SubNet {
  name: string;
  bits: number[];
  /** Budget values this SubNet was searched for, e.g. { 'avg-bits': 4 }. */
  budget: Record<string, number>;
  /** Measured top-1 accuracy in [0, 1], if evaluated. */
  accuracy?: number;
  /**
   * BatchNorm statistics re-estimated for this SubNet (format 1.3): by batchnorm layer name, the
   * channels' means then their variances (2·channels values). They replace the moving mean and
   * variance of the set the layer selects at this SubNet's bits; γ and β stay the set's.
   */
  bn?: Record<string, Float32Array>;
}

/**
 * How to feed the model (format 1.2, section INPT): the raw values a caller has (8-bit pixels, say)
 * and the normalisation that turns them into the graph's float input,
 * x = ((raw − range[0]) / (range[1] − range[0]) − mean[c]) / std[c], in float64, stored as float32.
 * MNIST: uint8 0..255, mean [0.1307], std [0.3081], i.e. (pixel/255 − 0.1307)/0.3081.
 */
export interface InputDescriptor {
  /** Order of the raw values: 'NHWC' (channels interleaved per pixel) or 'NCHW' (one plane per channel). The graph itself is NHWC. */
  layout: 'NHWC' | 'NCHW';
  /** Equal to inputShape [H, W, C]. */
  height: number;
  width: number;
  channels: number;
  /** Type of a raw value: 'uint8' (integers within range) or 'float32'. */
  dtype: 'uint8' | 'float32';
  /** Raw value range [lo, hi], lo < hi; [0, 255] for 8-bit pixels. */
  range: [number, number];
  /** Per channel, of the raw value mapped to 0..1. */
  mean: number[];
  /** Per channel, > 0. */
  std: number[];
  /** Name of the data set the model was trained on, e.g. 'mnist', 'fashion-mnist'. */
  dataset?: string;
  /** One name per model output (class index order), when known. */
  labels?: string[];
}

export interface Model {
  /** Bit list B in descending order, e.g. [8, 6, 4, 2]; every entry in 2..8. */
  bits: number[];
  /** 'multi': BatchNorm per bit; 'mixed': SuperNet with TBN. */
  mode: 'multi' | 'mixed';
  /** Input shape [H, W, C] (NHWC without batch). */
  inputShape: number[];
  /** Layers in execution order; the last layer is the output. */
  layers: Layer[];
  /** How to feed the model (format 1.2); absent in older files. */
  input?: InputDescriptor;
  sensitivity?: LayerSensitivity[];
  subnets?: SubNet[];
  /** Free-form JSON (dataset, recipe, accuracy per bit). */
  metadata?: Record<string, unknown>;
}

/**
 * How to run SubNet `s` on `model`: by name when the model holds a SubNet of that name and those
 * bits (so its own BatchNorm statistics, format 1.3, apply), else by its bits.
 */
export function subnetPrecision(model: Model, s: { name: string; bits: readonly number[] }): string | number[] {
  return model.subnets?.some((m) => m.name === s.name && m.bits.join() === s.bits.join()) ? s.name : [...s.bits];
}

/** Conv2d and dense layers with integer weights, in graph order. */
export function quantizedLayers(model: Model): (Conv2DLayer | DenseLayer)[] {
  return model.layers.filter(
    (l): l is Conv2DLayer | DenseLayer => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int',
  );
}
