// Export of a trained network to the format's Model (and bytes via writeModel): a multi-precision
// Network as mode 'multi' (per-bit BN), a SuperNetwork as mode 'mixed' (TBN, per-pair BN).
// tfjs conv filters are HWIO and dense kernels [in][out]; the format stores [N][K] (OHWI, [out][in]).
import * as tf from '@tensorflow/tfjs';
import { signedRange, type BatchNormLayer, type BatchNormSelect, type InputDescriptor, type Layer, type LayerSensitivity, type Model, type Weights } from '@bitswitch/format';
import type { Network } from '../nn/network.ts';
import type { BatchNormNode } from '../nn/models.ts';
import { SuperNetwork, pairKey } from '../nn/supernet.ts';

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
  const [lo, hi] = signedRange(net.h);
  const w = tf.tidy(() => tf.clipByValue(tf.round(tf.div(net.v(`${layer}/kernel`), net.v(`${layer}/wscale`))), lo, hi));
  try { return (await w.data()) as Float32Array; } finally { w.dispose(); }
}

/**
 * The format Model of a Double Rounding network: W̃_h (eq. 1, the training ops) and s_h per
 * quantized layer, s_b per bit; BN per bit ('multi'), or per pair of bits for a SuperNetwork's
 * TBN layers ('mixed'); and how to feed it (`input`, from datasets.ts's inputDescriptor) when known.
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
      case 'batchnorm': return exportBatchNorm(net, node, values);
      case 'avgpool': return { ...base, op: 'avgpool', pool: node.pool, strides: node.strides, padding: node.padding };
      default: return { ...base, op: node.op };
    }
  });
  return { bits: [...bits], mode: net instanceof SuperNetwork ? 'mixed' : 'multi', inputShape: [...net.spec.inputShape], layers, ...(input ? { input } : {}), metadata };
}

/** The format's BN select of a node, and the network's set keys in file order. */
export function bnLayout(net: Network, node: BatchNormNode): { select: BatchNormSelect; keys: string[] } {
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

export interface ExportExtras { sensitivity?: LayerSensitivity[]; metadata?: Record<string, unknown>; input?: InputDescriptor }

/** exportModel with the network's name and class count in the metadata, and optional input descriptor and sensitivity section. */
export async function networkToModel(net: Network, extras: ExportExtras = {}): Promise<Model> {
  const model = await exportModel(net, { model: net.spec.name, classes: net.spec.classes, ...(extras.metadata ?? {}) }, extras.input);
  if (extras.sensitivity) model.sensitivity = extras.sensitivity;
  return model;
}
