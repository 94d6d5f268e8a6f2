// Export of a trained multi-precision Network to the format's Model (and bytes via writeModel),
// and the reverse: a Network built from a Model for fast (TensorFlow.js) evaluation.
// tfjs conv filters are HWIO and dense kernels [in][out]; the format stores [N][K] (OHWI, [out][in]).
import * as tf from '@tensorflow/tfjs';
import type { BatchNormLayer, InputDescriptor, Layer, Model, Weights } from '@bitswitch/format';
import { Network } from './network.ts';
import type { GraphNode, ModelSpec } from './models.ts';
import { signedLimits } from './quantizers.ts';
import { Rng } from './rng.ts';

/** Kernel in tfjs layout ([..., K_in, N] with N last) → row-major [N][K]. */
export function toRowsNK(kernel: ArrayLike<number>, n: number): Float32Array {
  const k = kernel.length / n;
  const out = new Float32Array(kernel.length);
  for (let i = 0; i < k; i++) for (let o = 0; o < n; o++) out[o * k + i] = kernel[i * n + o];
  return out;
}

/** [N][K] → tfjs layout (inverse of toRowsNK). */
export function fromRowsNK(rows: ArrayLike<number>, n: number): Float32Array {
  const k = rows.length / n;
  const out = new Float32Array(rows.length);
  for (let i = 0; i < k; i++) for (let o = 0; o < n; o++) out[i * n + o] = rows[o * k + i];
  return out;
}

/** eq. 1 on the trainer's tensors (the same tf ops as training): W̃_h in tfjs layout. */
async function integerWeights(net: Network, layer: string): Promise<Float32Array> {
  const [lo, hi] = signedLimits(net.h);
  const w = tf.tidy(() => tf.clipByValue(tf.round(tf.div(net.v(`${layer}/kernel`), net.v(`${layer}/wscale`))), lo, hi));
  try { return (await w.data()) as Float32Array; } finally { w.dispose(); }
}

/**
 * The packed-format Model of a Double Rounding network: W̃_h and s_h per quantized layer, s_b and BN per bit,
 * and how to feed it (`input`, from data.ts's inputDescriptor) when known.
 */
export async function exportModel(net: Network, metadata: Record<string, unknown> = {}, input?: InputDescriptor): Promise<Model> {
  if (net.quant.quantizer !== 'double-rounding') {
    throw new RangeError(`quantizer: expected double-rounding to export (format v1 stores W̃_h and s_h only), got ${net.quant.quantizer}`);
  }
  const bits = net.quant.bits;
  // every value is read back asynchronously first (GPU backends have no cheap synchronous read)
  const values = await net.snapshot();
  const data = (name: string) => values[name]!;
  const ints = new Map<string, Float32Array>();
  for (const node of net.spec.nodes) if ((node.op === 'conv2d' || node.op === 'dense') && node.quantized) ints.set(node.name, await integerWeights(net, node.name));
  const layers: Layer[] = net.spec.nodes.map((node): Layer => {
    const base = { name: node.name, inputs: node.inputs };
    switch (node.op) {
      case 'conv2d':
      case 'dense': {
        const n = node.op === 'conv2d' ? node.outChannels : node.outFeatures;
        let weights: Weights;
        if (node.quantized) {
          const rows = toRowsNK(ints.get(node.name)!, n);
          weights = {
            kind: 'int', bits: net.h, values: Int8Array.from(rows),
            scale: Float32Array.from(data(`${node.name}/wscale`)),
            actScales: Float32Array.from(bits.map((b) => data(`${node.name}/ascale@${b}`)[0])),
          };
        } else {
          weights = { kind: 'float', values: toRowsNK(data(`${node.name}/kernel`), n) };
        }
        const bias = node.bias ? { bias: Float32Array.from(data(`${node.name}/bias`)) } : {};
        return node.op === 'conv2d'
          ? { ...base, op: 'conv2d', kernel: node.kernel, strides: node.strides, padding: node.padding, inChannels: node.inChannels, outChannels: node.outChannels, weights, ...bias }
          : { ...base, op: 'dense', inFeatures: node.inFeatures, outFeatures: node.outFeatures, weights, ...bias };
      }
      case 'batchnorm': {
        const keys = node.follows ? bits.map((b) => `b${b}`) : ['single'];
        const C = node.channels;
        const params = new Float32Array(keys.length * 4 * C);
        keys.forEach((key, s) => ['gamma', 'beta', 'mean', 'var'].forEach((p, j) => params.set(data(`${node.name}/${p}@${key}`), (s * 4 + j) * C)));
        const select: BatchNormLayer['select'] = node.follows ? { kind: 'per-bit', layer: node.follows } : { kind: 'single' };
        return { ...base, op: 'batchnorm', channels: C, epsilon: node.epsilon, select, params };
      }
      case 'avgpool': return { ...base, op: 'avgpool', pool: node.pool, strides: node.strides, padding: node.padding };
      default: return { ...base, op: node.op };
    }
  });
  return { bits: [...bits], mode: 'multi', inputShape: [...net.spec.inputShape], layers, ...(input ? { input } : {}), metadata };
}

/** The graph of a Model as a ModelSpec (per-bit BN only; TBN models need the SuperNet). */
export function specFromModel(model: Model, name = 'imported'): ModelSpec {
  const classes = (() => {
    const last = model.layers[model.layers.length - 1];
    return last.op === 'dense' ? last.outFeatures : 0;
  })();
  const nodes: GraphNode[] = model.layers.map((l): GraphNode => {
    const base = { name: l.name, inputs: l.inputs };
    switch (l.op) {
      case 'conv2d': return { ...base, op: 'conv2d', kernel: l.kernel, strides: l.strides, padding: l.padding, inChannels: l.inChannels, outChannels: l.outChannels, quantized: l.weights.kind === 'int', bias: !!l.bias };
      case 'dense': return { ...base, op: 'dense', inFeatures: l.inFeatures, outFeatures: l.outFeatures, quantized: l.weights.kind === 'int', bias: !!l.bias };
      case 'batchnorm':
        if (l.select.kind === 'per-pair') throw new RangeError(`layers.${l.name}.select: expected 'single' or 'per-bit' (a multi-precision model), got 'per-pair'`);
        return { ...base, op: 'batchnorm', channels: l.channels, epsilon: l.epsilon, ...(l.select.kind === 'per-bit' ? { follows: l.select.layer } : {}) };
      case 'avgpool': return { ...base, op: 'avgpool', pool: l.pool, strides: l.strides, padding: l.padding };
      default: return { ...base, op: l.op };
    }
  });
  return { name, inputShape: model.inputShape as [number, number, number], classes, nodes };
}

/**
 * A Network holding a Model's values: quantized kernels become W̃_h·s_h (so eq. 1 on them gives
 * back W̃_h exactly) with s_h as the scale; BN sets per bit as stored.
 */
export function networkFromModel(model: Model): Network {
  const spec = specFromModel(model);
  const ints = model.layers.flatMap((l) => ((l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int' ? [l.weights] : []));
  if (ints.some((w) => w.bits !== model.bits[0])) throw new RangeError(`weights.bits: expected ${model.bits[0]} (the highest bit of the list) in every quantized layer`);
  const perChannel = ints.some((w) => w.scale.length > 1);
  const net = new Network(spec, { bits: model.bits, quantizer: 'double-rounding', perChannel }, new Rng(0));
  for (const l of model.layers) {
    if (l.op === 'conv2d' || l.op === 'dense') {
      const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
      const w = l.weights;
      let rows: Float32Array;
      if (w.kind === 'int') {
        const k = w.values.length / n;
        rows = Float32Array.from(w.values, (v, i) => v * w.scale[w.scale.length === 1 ? 0 : Math.floor(i / k)]);
        const s = net.v(`${l.name}/wscale`);
        s.assign(tf.tensor(w.scale.length === s.size ? w.scale : new Float32Array(s.size).fill(w.scale[0]), s.shape));
        model.bits.forEach((b, i) => net.v(`${l.name}/ascale@${b}`).assign(tf.tensor([w.actScales[i]])));
      } else rows = w.values;
      const kv = net.v(`${l.name}/kernel`);
      kv.assign(tf.tensor(fromRowsNK(rows, n), kv.shape));
      if (l.bias) net.v(`${l.name}/bias`).assign(tf.tensor(l.bias));
    } else if (l.op === 'batchnorm') {
      const keys = l.select.kind === 'per-bit' ? model.bits.map((b) => `b${b}`) : ['single'];
      const C = l.channels;
      keys.forEach((key, s) => ['gamma', 'beta', 'mean', 'var'].forEach((p, j) => net.v(`${l.name}/${p}@${key}`).assign(tf.tensor(l.params.subarray((s * 4 + j) * C, (s * 4 + j + 1) * C)))));
    }
  }
  return net;
}
