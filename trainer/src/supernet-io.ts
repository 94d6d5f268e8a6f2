// Network ⇄ format Model (SPEC.md): export a multi-precision Network ('multi', per-bit BN) or a
// SuperNetwork ('mixed', TBN per-pair BN) through the trainer's exporter, and rebuild a trainable
// network of either kind from a model file (W = W̃_h · s_h, which eq. 1 maps back to W̃_h).
import * as tf from '@tensorflow/tfjs';
import type { BatchNormLayer, BatchNormSelect, Conv2DLayer, DenseLayer, InputDescriptor, LayerSensitivity, Model } from '@bitswitch/format';
import { exportModel, fromRowsNK } from './export.ts';
import { Network, type BitChoice } from './network.ts';
import { SuperNetwork, pairKey, previousQuantizedLayer } from './supernet.ts';
import { quantizedNodes, type BatchNormNode, type GraphNode, type ModelSpec } from './models.ts';
import { Rng } from './rng.ts';
import { softmaxCrossEntropy, type SensitivityTarget } from './hessian-cli.ts';


/** The format's BN select of a node, and the network's set keys in file order. */
function bnLayout(net: Network, node: BatchNormNode): { select: BatchNormSelect; keys: string[] } {
  if (!node.follows) return { select: { kind: 'single' }, keys: ['single'] };
  const bits = net.quant.bits;
  const prev = net instanceof SuperNetwork ? net.prevOf(node) : undefined;
  if (prev) return { select: { kind: 'per-pair', prev, layer: node.follows }, keys: bits.flatMap((p) => bits.map((b) => pairKey(p, b))) };
  return { select: { kind: 'per-bit', layer: node.follows }, keys: bits.map((b) => `b${b}`) };
}

function exportBatchNorm(net: Network, node: BatchNormNode, values: Record<string, Float32Array>): BatchNormLayer {
  const { select, keys } = bnLayout(net, node);
  const C = node.channels;
  const params = new Float32Array(keys.length * 4 * C);
  keys.forEach((key, s) => {
    ['gamma', 'beta', 'mean', 'var'].forEach((p, j) => params.set(values[`${node.name}/${p}@${key}`]!, (s * 4 + j) * C));
  });
  return { name: node.name, op: 'batchnorm', inputs: [...node.inputs], channels: C, epsilon: node.epsilon, select, params };
}

/**
 * The SuperNet's weights in a plain multi-precision Network (per-bit BN sets taken from the
 * pairs (b, b)), so the trainer's exporter can write everything but the TBN layers.
 */
function multiView(sup: SuperNetwork): Network {
  const net = new Network(sup.spec, sup.quant, new Rng(0));
  for (const [name, v] of net.vars) {
    const src = sup.vars.get(name) ?? sup.vars.get(name.replace(/@b(\d+)$/, '@b$1-b$1')) ?? sup.vars.get(name.replace(/@fp$/, `@b${sup.h}`)) ?? sup.vars.get(name.replace(/@fp$/, `@b${sup.h}-b${sup.h}`));
    if (src) v.assign(src);
  }
  return net;
}

export interface ExportExtras { sensitivity?: LayerSensitivity[]; metadata?: Record<string, unknown>; input?: InputDescriptor }

/**
 * The format Model of a network through the trainer's exporter (export.ts: W̃_h by eq. 1 with
 * the training ops): 'multi' as it writes it; for a SuperNetwork, mode 'mixed' with every BN
 * that has a quantized predecessor replaced by its TBN layer (per-pair, |B|² sets).
 */
export async function networkToModel(net: Network, extras: ExportExtras = {}): Promise<Model> {
  const metadata = { model: net.spec.name, classes: net.spec.classes, ...(extras.metadata ?? {}) };
  let model: Model;
  if (net instanceof SuperNetwork) {
    const view = multiView(net);
    try {
      model = await exportModel(view, metadata, extras.input);
    } finally {
      view.dispose();
    }
    const bn = new Map(net.spec.nodes.filter((n): n is BatchNormNode => n.op === 'batchnorm').map((n) => [n.name, n]));
    const values = await net.snapshot();
    model = { ...model, mode: 'mixed', layers: model.layers.map((l) => (l.op === 'batchnorm' ? exportBatchNorm(net, bn.get(l.name)!, values) : l)) };
  } else model = await exportModel(net, metadata, extras.input);
  if (extras.sensitivity) model.sensitivity = extras.sensitivity;
  return model;
}

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
  const name = typeof model.metadata?.model === 'string' ? model.metadata.model : 'imported';
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

/**
 * `bitswitch sensitivity`'s model loader (hessian-cli's TargetLoader): the model file's network
 * at full precision (kernels W̃_h · s_h, BN inference with the highest bit's set), one kernel
 * variable per quantized layer.
 */
export function sensitivityTargetFromModel(model: Model): SensitivityTarget {
  const net = networkFromModel(model);
  return {
    layers: net.quantized.map((q) => q.name),
    params: net.quantized.map((q) => net.v(`${q.name}/kernel`)),
    loss: (_params, batch) => tf.tidy(() => softmaxCrossEntropy(net.forward(batch.x, null, false).logits, batch.y)),
    dispose: () => net.dispose(),
  };
}

/** Logits [batch][classes] of NHWC float images at `bits`, BN in inference mode (for parity checks with the runtime). */
export async function logitsOf(net: Network, x: Float32Array, batch: number, bits: BitChoice): Promise<Float32Array> {
  const [H, W, C] = net.spec.inputShape;
  if (x.length !== batch * H * W * C) throw new RangeError(`x: expected ${batch}·${H}·${W}·${C} = ${batch * H * W * C} values, got ${x.length}`);
  const logits = tf.tidy(() => net.forward(tf.tensor4d(x, [batch, H, W, C]), bits, false).logits);
  try { return (await logits.data()) as Float32Array; } finally { logits.dispose(); }
}
