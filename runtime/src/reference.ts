// The float reference forward pass: the trainer's fake-quant forward pass written as plain float64
// loops over dequantized values (eq. 2-5). Slow and obviously right; the fast executor is
// tested against it. Convolutions run as the kernels' reference im2col and a float64 GEMM.
import {
  dequantizeWeights, doubleRoundAll, quantizeActivations,
  type BatchNormLayer, type Conv2DLayer, type DenseLayer, type Layer, type Model,
} from '@bitswitch/format';
import { im2colRef, matmulRef } from '@bitswitch/kernels';
import { analyseGraph, batchNormParams, batchNormSet, elementCount, type GraphInfo, type QuantLayer } from './graph.ts';
import { matrixShape } from './ops/conv.ts';
import { addInto, avgPoolInto, batchNormInto, poolOutputSize, reluInto } from './ops/float.ts';
import { resolvePrecision, type Precision, type PrecisionSpec } from './precision.ts';

export interface ReferenceHooks {
  /** Called with a quantized layer's float input before eq. 4 (bitIndex into model.bits). */
  beforeQuantize?(layer: QuantLayer, x: Float64Array, bitIndex: number): void;
  /** Called with a BatchNorm's input before it is applied, with the parameter set it will use. */
  beforeBatchNorm?(layer: BatchNormLayer, x: Float64Array, set: number): void;
  /** Called with every layer's first input before the layer runs. */
  beforeLayer?(layer: Layer, x: Float64Array): void;
}

/** Checks a batch of NHWC images against the model's input shape; returns the batch size. */
export function checkInput(model: Model, input: ArrayLike<number>, batch: number): void {
  const per = elementCount(model.inputShape);
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch: expected an integer >= 1, got ${batch}`);
  if (input.length !== per * batch) {
    throw new RangeError(`input.length: expected batch ${batch} × [${model.inputShape}] = ${per * batch} values, got ${input.length}`);
  }
}

/** Logits [batch][outputs] of `model` at `precision` for NHWC `input`. */
export function referenceForward(model: Model, precision: PrecisionSpec, input: ArrayLike<number>, batch = 1, hooks: ReferenceHooks = {}, graph: GraphInfo = analyseGraph(model)): Float32Array {
  checkInput(model, input, batch);
  const p = resolvePrecision(model, graph.quantized.length, precision);
  const values = new Map<string, Float64Array>([['input', Float64Array.from(input)]]);
  for (const l of model.layers) {
    const x = values.get(l.inputs[0])!;
    const inShape = graph.shapes.get(l.inputs[0])!;
    hooks.beforeLayer?.(l, x);
    values.set(l.name, runLayer(model, graph, l, x, inShape, batch, p, hooks, values));
  }
  return Float32Array.from(values.get(model.layers[model.layers.length - 1].name)!);
}

function runLayer(model: Model, graph: GraphInfo, l: Layer, x: Float64Array, inShape: number[], batch: number, p: Precision, hooks: ReferenceHooks, values: Map<string, Float64Array>): Float64Array {
  const { bits, bitIndex } = p;
  switch (l.op) {
    case 'conv2d':
    case 'dense': {
      const q = graph.quantIndex.get(l.name);
      const { xs, w } = q === undefined ? { xs: x, w: Float64Array.from(l.weights.values) } : fakeQuant(l, x, bits[q], bitIndex[q], hooks);
      const y = matmul(l, xs, w, inShape, batch);
      if (l.bias) addBias(y, l.bias);
      return y;
    }
    case 'batchnorm': {
      const set = batchNormSet(l, graph.quantIndex, bitIndex, model.bits.length);
      hooks.beforeBatchNorm?.(l, x, set);
      return batchNormInto(l, batchNormParams(l, set, p.bn), x, new Float64Array(x.length));
    }
    case 'relu': return reluInto(x, new Float64Array(x.length));
    case 'add': return addInto(l.inputs.map((name) => values.get(name)!), false, new Float64Array(x.length));
    case 'flatten': return x;
    case 'globalavgpool': return avgPool(x, inShape, batch, [inShape[0], inShape[1]], [1, 1], 'valid');
    case 'avgpool': return avgPool(x, inShape, batch, l.pool, l.strides, l.padding);
  }
}

function avgPool(x: Float64Array, inShape: number[], batch: number, pool: [number, number], strides: [number, number], padding: 'same' | 'valid'): Float64Array {
  return avgPoolInto(x, inShape, batch, pool, strides, padding, new Float64Array(batch * poolOutputSize(inShape, pool, strides, padding)));
}

/** eq. 4-5 on the input and eq. 2-3 on the weights: the dequantized operands of a quantized layer. */
function fakeQuant(l: Conv2DLayer | DenseLayer, x: Float64Array, bit: number, bitIndex: number, hooks: ReferenceHooks): { xs: Float64Array; w: Float64Array } {
  const wt = l.weights;
  if (wt.kind !== 'int') throw new Error('unreachable: fakeQuant on float weights');
  hooks.beforeQuantize?.(l, x, bitIndex);
  const sa = wt.actScales[bitIndex];
  const xq = quantizeActivations(x, sa, bit);
  const xs = Float64Array.from(xq, (v) => v * sa);
  const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
  const wl = doubleRoundAll(wt.values, wt.bits, bit);
  return { xs, w: Float64Array.from(dequantizeWeights(wl, wt.scale, wt.bits, bit, n)) };
}

/** y[m][n] = Σ_k a[m][k]·w[n][k] in float64, k in order; a conv's rows are its im2col patches (columns ky, kx, c: the OHWI order). */
function matmul(l: Conv2DLayer | DenseLayer, x: Float64Array, w: Float64Array, inShape: number[], batch: number): Float64Array {
  const [N, K] = matrixShape(l);
  const a = l.op === 'conv2d'
    ? im2colRef(x, batch, inShape[0], inShape[1], inShape[2], l.kernel[0], l.kernel[1], l.strides[0], l.strides[1], l.padding)
    : x;
  const M = a.length / K;
  return matmulRef(a, M, K, K, w, N, new Float64Array(M * N));
}

function addBias(y: Float64Array, bias: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] += bias[i % bias.length];
}
