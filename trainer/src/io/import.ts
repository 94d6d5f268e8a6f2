// A trainable network from a format Model (SPEC.md): a multi-precision Network for mode 'multi',
// a SuperNetwork (TBN) for 'mixed'; quantized kernels become W = W̃_h · s_h, which eq. 1 maps back
// to W̃_h exactly.
import * as tf from '@tensorflow/tfjs';
import type { BatchNormLayer, Conv2DLayer, DenseLayer, Model } from '@bitswitch/format';
import { bnLayout, fromRowsNK } from './export.ts';
import { Network } from '../nn/network.ts';
import { SuperNetwork, previousQuantizedLayer } from '../nn/supernet.ts';
import { quantizedNodes, type BatchNormNode, type GraphNode, type ModelSpec } from '../nn/models.ts';
import { Rng } from '../math/rng.ts';

/** The ModelSpec of a model file's graph (quantized = integer weights; BN follows its select's layer). */
export function specFromModel(model: Model): ModelSpec {
  const nodes: GraphNode[] = model.layers.map((l): GraphNode => {
    const base = { name: l.name, inputs: [...l.inputs] };
    switch (l.op) {
      case 'conv2d': return { ...base, op: 'conv2d', kernel: [...l.kernel], strides: [...l.strides], padding: l.padding, inChannels: l.inChannels, outChannels: l.outChannels, quantized: l.weights.kind === 'int', bias: !!l.bias };
      case 'dense': return { ...base, op: 'dense', inFeatures: l.inFeatures, outFeatures: l.outFeatures, quantized: l.weights.kind === 'int', bias: !!l.bias };
      case 'batchnorm': return { ...base, op: 'batchnorm', channels: l.channels, epsilon: l.epsilon, ...(l.select.kind === 'single' ? {} : { follows: l.select.layer }) };
      case 'avgpool': return { ...base, op: 'avgpool', pool: [...l.pool], strides: [...l.strides], padding: l.padding };
      default: return { ...base, op: l.op };
    }
  });
  const last = model.layers[model.layers.length - 1];
  if (last.op !== 'dense') throw new RangeError(`layers[${model.layers.length - 1}].op: expected dense (the classifier), got ${last.op}`);
  // networkToModel records the model's name; a trainer run's export, its recipe
  const recipe = model.metadata?.recipe as { model?: unknown } | undefined;
  const name = typeof model.metadata?.model === 'string' ? model.metadata.model : typeof recipe?.model === 'string' ? recipe.model : 'imported';
  return { name, inputShape: model.inputShape as [number, number, number], classes: last.outFeatures, nodes };
}

function checkSelect(spec: ModelSpec, l: BatchNormLayer, mixed: boolean): void {
  if (l.select.kind !== 'per-pair') {
    if (mixed && l.select.kind === 'per-bit' && previousQuantizedLayer(spec, l.select.layer)) {
      throw new RangeError(`${l.name}.select: expected per-pair (layer ${l.select.layer} has a quantized predecessor), got per-bit`);
    }
    return;
  }
  if (!mixed) throw new RangeError(`${l.name}.select: expected per-bit or single in a 'multi' model, got per-pair`);
  const prev = previousQuantizedLayer(spec, l.select.layer);
  if (prev !== l.select.prev) throw new RangeError(`${l.name}.select.prev: expected ${prev ?? '(none)'} (the quantized layer before ${l.select.layer}), got ${l.select.prev}`);
}

/**
 * A trainable network holding a model file's values: Network for 'multi' (its float BN set is
 * filled from the highest bit's set, the file has none), SuperNetwork for 'mixed'.
 */
export function networkFromModel(model: Model): Network {
  const spec = specFromModel(model);
  const q = quantizedNodes(spec);
  const firstInt = model.layers.find((l): l is Conv2DLayer | DenseLayer => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int');
  const h = firstInt?.weights.kind === 'int' ? firstInt.weights.bits : model.bits[0];
  if (h !== model.bits[0]) throw new RangeError(`weights.bits: expected the highest bit ${model.bits[0]} (the trainer stores W̃ at max(B)), got ${h}`);
  const perChannel = model.layers.some((l) => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int' && l.weights.scale.length > 1);
  const mixed = model.mode === 'mixed';
  const quant = { bits: [...model.bits], quantizer: 'double-rounding' as const, perChannel };
  const net = mixed ? new SuperNetwork(spec, quant, new Rng(0)) : new Network(spec, quant, new Rng(0));
  const set = (name: string, values: ArrayLike<number>) => tf.tidy(() => net.v(name).assign(tf.tensor(Float32Array.from(values), net.v(name).shape)));
  for (const l of model.layers) {
    if (l.op === 'conv2d' || l.op === 'dense') {
      const w = l.weights;
      const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
      if (w.kind === 'float') set(`${l.name}/kernel`, fromRowsNK(w.values, n));
      else {
        const k = w.values.length / n;
        const rows = Float32Array.from(w.values, (v, i) => v * w.scale[w.scale.length === 1 ? 0 : Math.floor(i / k)]);
        set(`${l.name}/kernel`, fromRowsNK(rows, n));
        set(`${l.name}/wscale`, perChannel && w.scale.length === 1 ? new Float32Array(n).fill(w.scale[0]) : w.scale);
        model.bits.forEach((b, i) => set(`${l.name}/ascale@${b}`, [w.actScales[i]]));
      }
      if (l.bias) set(`${l.name}/bias`, l.bias);
    } else if (l.op === 'batchnorm') {
      checkSelect(spec, l, mixed);
      const node = spec.nodes.find((n) => n.name === l.name) as BatchNormNode;
      const { keys } = bnLayout(net, node);
      const C = l.channels;
      keys.forEach((key, s) => ['gamma', 'beta', 'mean', 'var'].forEach((p, j) => set(`${l.name}/${p}@${key}`, l.params.subarray((s * 4 + j) * C, (s * 4 + j + 1) * C))));
      // the float32 set starts as the first (widest) bit's set, keys[0]
      if (!mixed && node.follows) ['gamma', 'beta', 'mean', 'var'].forEach((p, j) => set(`${l.name}/${p}@fp`, l.params.subarray(j * C, (j + 1) * C)));
    }
  }
  if (q.length === 0) throw new RangeError('layers: expected at least one quantized (int) conv2d or dense layer, got none');
  return net;
}
