// Scalar reference executor: the trainer's fake-quant forward pass written as plain float64
// loops over dequantized values (eq. 2-5). Slow and obviously right; the fast executor is
// tested against it.
import {
  dequantizeWeights, doubleRoundAll, quantizeActivations,
  type BatchNormLayer, type Conv2DLayer, type DenseLayer, type Layer, type Model,
} from '@bitswitch/format';
import { analyseGraph, batchNormSet, elementCount, padBefore, type GraphInfo, type QuantLayer } from './graph.ts';
import { resolvePrecision, type PrecisionSpec } from './precision.ts';

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
    values.set(l.name, runLayer(model, graph, l, x, inShape, batch, p.bits, p.bitIndex, hooks, values));
  }
  return Float32Array.from(values.get(model.layers[model.layers.length - 1].name)!);
}

function runLayer(model: Model, graph: GraphInfo, l: Layer, x: Float64Array, inShape: number[], batch: number, bits: number[], bitIndex: number[], hooks: ReferenceHooks, values: Map<string, Float64Array>): Float64Array {
  switch (l.op) {
    case 'conv2d':
    case 'dense': {
      const q = graph.quantIndex.get(l.name);
      const { xs, w } = q === undefined ? { xs: x, w: Float64Array.from(l.weights.values) } : fakeQuant(l, x, bits[q], bitIndex[q], hooks);
      const y = l.op === 'conv2d' ? conv2d(l, xs, w, inShape, batch) : dense(l, xs, w, batch);
      if (l.bias) addBias(y, l.bias);
      return y;
    }
    case 'batchnorm': {
      const set = batchNormSet(l, graph.quantIndex, bitIndex, model.bits.length);
      hooks.beforeBatchNorm?.(l, x, set);
      return batchNorm(l, x, set);
    }
    case 'relu': return x.map((v) => (v > 0 ? v : 0));
    case 'add': {
      const y = Float64Array.from(x);
      for (const name of l.inputs.slice(1)) {
        const z = values.get(name)!;
        for (let i = 0; i < y.length; i++) y[i] += z[i];
      }
      return y;
    }
    case 'flatten': return x;
    case 'globalavgpool': return avgPool(x, inShape, batch, [inShape[0], inShape[1]], [1, 1], 'valid');
    case 'avgpool': return avgPool(x, inShape, batch, l.pool, l.strides, l.padding);
  }
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

/** NHWC conv with OHWI weights, TF padding. */
function conv2d(l: Conv2DLayer, x: Float64Array, w: Float64Array, s: number[], batch: number): Float64Array {
  const [H, W, C] = s;
  const [kh, kw] = l.kernel;
  const [sh, sw] = l.strides;
  const row = padBefore(H, kh, sh, l.padding);
  const col = padBefore(W, kw, sw, l.padding);
  const N = l.outChannels;
  const y = new Float64Array(batch * row.out * col.out * N);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < row.out; oy++) {
      for (let ox = 0; ox < col.out; ox++) {
        for (let n = 0; n < N; n++) {
          let acc = 0;
          for (let ky = 0; ky < kh; ky++) {
            const iy = oy * sh + ky - row.pad;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < kw; kx++) {
              const ix = ox * sw + kx - col.pad;
              if (ix < 0 || ix >= W) continue;
              const xi = ((b * H + iy) * W + ix) * C;
              const wi = ((n * kh + ky) * kw + kx) * C;
              for (let c = 0; c < C; c++) acc += x[xi + c] * w[wi + c];
            }
          }
          y[o++] = acc;
        }
      }
    }
  }
  return y;
}

function dense(l: DenseLayer, x: Float64Array, w: Float64Array, batch: number): Float64Array {
  const K = l.inFeatures;
  const N = l.outFeatures;
  const y = new Float64Array(batch * N);
  for (let b = 0; b < batch; b++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[b * K + k] * w[n * K + k];
      y[b * N + n] = acc;
    }
  }
  return y;
}

function addBias(y: Float64Array, bias: Float32Array): void {
  for (let i = 0; i < y.length; i++) y[i] += bias[i % bias.length];
}

/** y = γ (x − μ) / sqrt(σ² + ε) + β with parameter set `set`. */
function batchNorm(l: BatchNormLayer, x: Float64Array, set: number): Float64Array {
  const C = l.channels;
  const p = l.params.subarray(set * 4 * C, (set + 1) * 4 * C);
  const y = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    y[i] = (p[c] * (x[i] - p[2 * C + c])) / Math.sqrt(p[3 * C + c] + l.epsilon) + p[C + c];
  }
  return y;
}

/** TF average pooling: padded positions are not counted. */
function avgPool(x: Float64Array, s: number[], batch: number, pool: [number, number], strides: [number, number], padding: 'same' | 'valid'): Float64Array {
  const [H, W, C] = s;
  const row = padBefore(H, pool[0], strides[0], padding);
  const col = padBefore(W, pool[1], strides[1], padding);
  const y = new Float64Array(batch * row.out * col.out * C);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < row.out; oy++) {
      for (let ox = 0; ox < col.out; ox++) {
        for (let c = 0; c < C; c++) {
          let sum = 0;
          let count = 0;
          for (let ky = 0; ky < pool[0]; ky++) {
            const iy = oy * strides[0] + ky - row.pad;
            if (iy < 0 || iy >= H) continue;
            for (let kx = 0; kx < pool[1]; kx++) {
              const ix = ox * strides[1] + kx - col.pad;
              if (ix < 0 || ix >= W) continue;
              sum += x[((b * H + iy) * W + ix) * C + c];
              count++;
            }
          }
          y[o++] = sum / count;
        }
      }
    }
  }
  return y;
}
