// A float ONNX model as the trainer's FP32 starting point (`train --init model.onnx`): its
// conv/dense/BatchNorm parameters mapped in order onto a trainer network of the same
// architecture, as the variables the trainer's float32 forward pass reads (tfjs layout: conv
// kernels HWIO, dense kernels [in][out]; BatchNorm sets '@single', or '@fp' for a BN that follows
// a quantized layer); the trainer wraps them into its FP32 model (trainer/src/io/fp32.ts loadInit).
import type { BatchNormLayer, Conv2DLayer, DenseLayer, Padding } from '@bitswitch/format';
import { parseOnnx } from './parse.ts';

/** What the adapter reads of a trainer graph node (trainer/src/nn/models.ts GraphNode). */
export interface SpecNode {
  name: string;
  op: string;
  inputs: string[];
  kernel?: [number, number];
  strides?: [number, number];
  padding?: Padding;
  inChannels?: number;
  outChannels?: number;
  inFeatures?: number;
  outFeatures?: number;
  bias?: boolean;
  channels?: number;
  epsilon?: number;
  follows?: string;
}

export interface SpecLike { name: string; inputShape: [number, number, number]; classes: number; nodes: SpecNode[] }

/** The float variables of a trainer network, by the trainer's names, and where they came from. */
export interface OnnxStart {
  weights: Record<string, Float32Array>;
  /** e.g. "model.onnx, pytorch 2.3" */
  source: string;
}

/** [N][K] rows → tfjs [K][N] (conv: HWIO, since K runs kh, kw, cin). */
function kernelFromRows(rows: Float32Array, n: number): Float32Array {
  const k = rows.length / n;
  const out = new Float32Array(rows.length);
  for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) out[c * n + r] = rows[r * k + c];
  return out;
}

/**
 * Maps ONNX `bytes` onto `spec`: the i-th conv/dense of the ONNX graph onto the i-th of the
 * trainer's, shapes checked; a BatchNorm onto the BatchNorm after it. Where the trainer has a
 * bias-free layer followed by BatchNorm, an ONNX bias moves into that BatchNorm's mean (μ − b), and
 * where the ONNX exporter folded the BatchNorm away, the trainer's starts as the identity
 * (γ = 1, β = bias, μ = 0, σ² = 1 − ε).
 */
export function fp32FromOnnx(bytes: Uint8Array, spec: SpecLike, file = 'model.onnx'): OnnxStart {
  const p = parseOnnx(bytes, file);
  const fail = (what: string) => new RangeError(`--init: ${file}: ${what} — expected the architecture of ${spec.name} (train --model)`);
  if (p.inputShape.join() !== spec.inputShape.join()) throw fail(`input [${p.inputShape}] (H, W, C)`);
  if (p.widened.size) throw fail(`conv ${[...p.widened.keys()][0]} pads cannot be TF 'same' without widening its kernel`);
  const src = p.layers.filter((l): l is Conv2DLayer | DenseLayer | BatchNormLayer => l.op === 'conv2d' || l.op === 'dense' || l.op === 'batchnorm');
  const dst = spec.nodes.filter((n) => n.op === 'conv2d' || n.op === 'dense' || n.op === 'batchnorm');
  const weights: Record<string, Float32Array> = {};
  let i = 0;
  let pendingBias: Float32Array | undefined;
  for (const node of dst) {
    const s = src[i];
    if (node.op === 'batchnorm') {
      const c = node.channels!;
      const key = node.follows ? 'fp' : 'single';
      const set = (g: ArrayLike<number>, b: ArrayLike<number>, m: ArrayLike<number>, v: ArrayLike<number>) =>
        [g, b, m, v].forEach((a, j) => { weights[`${node.name}/${['gamma', 'beta', 'mean', 'var'][j]}@${key}`] = Float32Array.from(a); });
      if (s?.op === 'batchnorm') {
        if (s.channels !== c) throw fail(`BatchNormalization ${s.name} has ${s.channels} channels where ${node.name} has ${c}`);
        const q = s.params;
        const eps = node.epsilon ?? s.epsilon;
        const mean = Float32Array.from(q.subarray(2 * c, 3 * c), (m, j) => m - (pendingBias?.[j] ?? 0));
        set(q.subarray(0, c), q.subarray(c, 2 * c), mean, Float32Array.from(q.subarray(3 * c, 4 * c), (v) => Math.max(0, v + s.epsilon - eps)));
        i++;
      } else {
        const eps = node.epsilon ?? 1e-5;
        set(new Float32Array(c).fill(1), pendingBias ?? new Float32Array(c), new Float32Array(c), new Float32Array(c).fill(1 - eps));
      }
      pendingBias = undefined;
      continue;
    }
    if (pendingBias) throw fail(`bias of the layer before ${node.name} has nowhere to go (no BatchNorm after it)`);
    if (s?.op === 'batchnorm') throw fail(`BatchNormalization ${s.name} where ${node.name} (${node.op}) comes`);
    if (!s || (s.op === 'conv2d') !== (node.op === 'conv2d')) throw fail(`${s ? `${s.op} ${s.name}` : 'no layer'} where ${node.name} (${node.op}) comes`);
    if (s.op === 'conv2d') {
      const got = [s.kernel, s.strides, s.padding, s.inChannels, s.outChannels].join(' ');
      const want = [node.kernel, node.strides, node.padding, node.inChannels, node.outChannels].join(' ');
      if (got !== want) throw fail(`conv ${s.name} is kernel, strides, padding, in, out = ${got} where ${node.name} is ${want}`);
      weights[`${node.name}/kernel`] = kernelFromRows(s.weights.values as Float32Array, s.outChannels);
    } else {
      if (s.op !== 'dense' || s.inFeatures !== node.inFeatures || s.outFeatures !== node.outFeatures) throw fail(`dense ${s.name} is ${(s as DenseLayer).inFeatures}→${(s as DenseLayer).outFeatures} where ${node.name} is ${node.inFeatures}→${node.outFeatures}`);
      weights[`${node.name}/kernel`] = kernelFromRows(s.weights.values as Float32Array, s.outFeatures);
    }
    if (node.bias) weights[`${node.name}/bias`] = s.bias ? Float32Array.from(s.bias) : new Float32Array(s.op === 'conv2d' ? s.outChannels : s.outFeatures);
    else if (s.bias) pendingBias = s.bias;
    i++;
  }
  if (pendingBias) throw fail('the last layer has a bias the trainer\'s has not');
  if (i !== src.length) throw fail(`${src.length - i} more conv/dense/BatchNormalization layers than ${spec.name} has`);
  return { weights, source: `${file}${p.producer ? `, ${p.producer}` : ''}` };
}
