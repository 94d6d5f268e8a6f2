// Float ONNX CNN → bitswitch Model: BatchNorms folded into the conv/dense before them, weights
// quantized to W̃_h (eq. 1, per-channel absmax scale s_h) so every lower bit is eq. 2's rounding
// shift of them, and activation scales calibrated per bit on calibration images (calibrate.ts).
import { quantizeWeights, type BatchNormLayer, type Conv2DLayer, type DenseLayer, type Layer, type Model } from '@bitswitch/format';
import { referenceForward } from '@bitswitch/runtime';
import { absmaxWeightScales, mseActivationScale } from './calibrate.ts';
import { parseOnnx, type ParsedOnnx } from './parse.ts';

export interface ImportOptions {
  /** Bit list B, descending, e.g. [8, 6, 4, 2]; weights are stored at h = B[0]. */
  bits: number[];
  /** NHWC float images, normalised as the ONNX model expects its input. */
  calibration: Float32Array;
  /** Names the source in errors and metadata. */
  file?: string;
  metadata?: Record<string, unknown>;
}

/** The float model of a parsed ONNX graph (every weight float32), runnable by the runtime's reference. */
export function floatModel(p: ParsedOnnx, bits: number[] = [8]): Model {
  return { bits, mode: 'multi', inputShape: [...p.inputShape], layers: p.layers, metadata: {} };
}

/**
 * Folds each BatchNorm into the conv or dense it directly follows (when that is its only reader):
 * W'[n] = W[n]·γ/σ, b' = (b − μ)·γ/σ + β, σ = sqrt(var + ε), in float64 rounded once to float32.
 */
export function foldBatchNorms(layers: Layer[]): Layer[] {
  const readers = new Map<string, number>();
  for (const l of layers) for (const i of l.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const byName = new Map(layers.map((l) => [l.name, l] as const));
  const rename = new Map<string, string>();
  const out: Layer[] = [];
  for (const l0 of layers) {
    const l = { ...l0, inputs: l0.inputs.map((i) => rename.get(i) ?? i) } as Layer;
    const prev = l.op === 'batchnorm' ? byName.get(l.inputs[0]) : undefined;
    if (l.op === 'batchnorm' && prev && (prev.op === 'conv2d' || prev.op === 'dense') && readers.get(prev.name) === 1) {
      const folded = fold(out.find((o) => o.name === prev.name) as Conv2DLayer | DenseLayer, l);
      out[out.findIndex((o) => o.name === prev.name)] = folded;
      rename.set(l.name, prev.name);
      continue;
    }
    out.push(l);
  }
  return out;
}

function fold(l: Conv2DLayer | DenseLayer, bn: BatchNormLayer): Conv2DLayer | DenseLayer {
  const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
  const w = l.weights.values as Float32Array;
  const k = w.length / n;
  const C = bn.channels;
  const p = bn.params;
  const values = new Float32Array(w.length);
  const bias = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    const g = p[c] / Math.sqrt(p[3 * C + c] + bn.epsilon);
    for (let j = 0; j < k; j++) values[c * k + j] = w[c * k + j] * g;
    bias[c] = ((l.bias?.[c] ?? 0) - p[2 * C + c]) * g + p[C + c];
  }
  return { ...l, weights: { kind: 'float', values }, bias };
}

/** Layers whose input is non-negative by construction: a ReLU, seen through pooling and flatten. */
function nonNegative(layers: Layer[]): Set<string> {
  const out = new Set<string>();
  for (const l of layers) {
    if (l.op === 'relu') out.add(l.name);
    else if ((l.op === 'flatten' || l.op === 'avgpool' || l.op === 'globalavgpool') && out.has(l.inputs[0])) out.add(l.name);
  }
  return out;
}

/**
 * Quantizes a parsed float model: every conv/dense that reads a ReLU output (eq. 4 codes are
 * unsigned) is quantized, except the output layer, which stays float32 as the paper keeps the
 * first and last layers; a first conv reads the normalised image and stays float too.
 */
export function quantizeParsed(p: ParsedOnnx, o: ImportOptions): Model {
  const bits = o.bits;
  if (!bits.length || bits.some((b, i) => !Number.isInteger(b) || b < 2 || b > 8 || (i > 0 && b >= bits[i - 1]))) {
    throw new RangeError(`--bits: expected distinct integers in 2..8 in descending order, got ${bits.join(',')}`);
  }
  const h = bits[0];
  const layers = foldBatchNorms(p.layers);
  const positive = nonNegative(layers);
  const last = layers[layers.length - 1].name;
  const quantized = layers.map((l): Layer => {
    if ((l.op !== 'conv2d' && l.op !== 'dense') || l.name === last || !positive.has(l.inputs[0])) return l;
    const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
    const rows = l.weights.values as Float32Array;
    const scale = absmaxWeightScales(rows, n, h);
    return { ...l, weights: { kind: 'int', bits: h, values: quantizeWeights(rows, scale, h, n), scale, actScales: new Float32Array(bits.length).fill(1) } };
  });
  if (!quantized.some((l) => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int')) {
    throw new RangeError(`${o.file ?? 'model'}: no layer to quantize — expected a Conv or Gemm that reads a Relu output and is not the output layer`);
  }
  const model: Model = {
    bits: [...bits], mode: 'multi', inputShape: [...p.inputShape], layers: quantized,
    metadata: {
      source: { format: 'onnx', file: o.file ?? null, producer: p.producer || null },
      calibration: { rule: 'activation scale per bit minimising eq. 4-5 squared error over a histogram of the float inputs of each quantized layer, inputs from the model quantized at that bit; weight scale per channel absmax', images: imagesIn(o.calibration, p.inputShape) },
      ...(p.widened.size ? { widenedKernels: Object.fromEntries(p.widened) } : {}),
      ...o.metadata,
    },
  };
  calibrateActivations(model, o.calibration);
  return model;
}

function imagesIn(x: Float32Array, shape: number[]): number {
  const per = shape.reduce((a, b) => a * b, 1);
  if (x.length === 0 || x.length % per !== 0) throw new RangeError(`calibration: expected whole images of [${shape}] (${per} values each), got ${x.length} values`);
  return x.length / per;
}

/**
 * Sets actScales in place, one bit at a time: a forward pass at bit b over the calibration batch
 * fixes each quantized layer's s_b from the input it actually receives at that bit (the layers
 * before it already quantized with their new scales), just before eq. 4 uses it.
 */
export function calibrateActivations(model: Model, images: Float32Array): void {
  const batch = imagesIn(images, model.inputShape);
  for (const b of model.bits) {
    referenceForward(model, b, images, batch, {
      beforeQuantize(layer, x, bitIndex) {
        if (layer.weights.kind === 'int') layer.weights.actScales[bitIndex] = mseActivationScale(x, b);
      },
    });
  }
}

/** ONNX bytes → bitswitch Model (parse, fold, quantize, calibrate). */
export function importOnnx(bytes: Uint8Array, o: ImportOptions): Model {
  return quantizeParsed(parseOnnx(bytes, o.file), o);
}
