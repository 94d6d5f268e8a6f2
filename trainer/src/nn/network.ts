// A trainable network over a ModelSpec graph: owns its variables (named by layer) and runs the
// forward pass at full precision (bits = null), one bit-width for all quantized layers, or one
// bit per quantized layer (mixed precision, for HASB).
import * as tf from '@tensorflow/tfjs';
import { signedRange } from '@bitswitch/format';
import { Rng } from '../math/rng.ts';
import { batchNormTrain } from './batch-norm.ts';
import { quantizedNodes, type BatchNormNode, type ConvNode, type DenseNode, type GraphNode, type ModelSpec } from './models.ts';
import { BN_INFER, fusedKernelsActive } from '../tfjs/kernels/fused.ts';
import { relu } from './relu.ts';
import { activationQuantize, doubleRoundingQuantize, dorefaQuantize, lsqGradScale, type WeightQuantizer } from '../quant/quantizers.ts';

export interface QuantConfig {
  /** Bit list B, descending, e.g. [8, 6, 4, 2]; the highest is h. */
  bits: number[];
  quantizer: WeightQuantizer;
  /** One weight scale per output channel instead of one per layer. */
  perChannel: boolean;
}

/** null: float32 everywhere; a number: that bit for every quantized layer; an array: one bit per quantized layer. */
export type BitChoice = number | number[] | null;

export type VarKind = 'weight' | 'scale' | 'stat';

export interface BnUpdate { name: string; key: string; mean: tf.Tensor; variance: tf.Tensor }

export interface ForwardResult { logits: tf.Tensor2D; bnUpdates: BnUpdate[] }

/** Called with the input of each quantized layer (before quantization), e.g. for scale calibration. */
export type QuantInputHook = (layer: string, x: tf.Tensor) => void;

export const BN_MOMENTUM = 0.9;
export const MIN_SCALE = 1e-6;

export class Network {
  readonly vars = new Map<string, tf.Variable>();
  readonly kinds = new Map<string, VarKind>();
  readonly quantized: (ConvNode | DenseNode)[];
  readonly h: number;
  private qIndex = new Map<string, number>();

  constructor(readonly spec: ModelSpec, readonly quant: QuantConfig, rng: Rng) {
    const bits = quant.bits;
    if (!bits.length || bits.some((b, i) => !Number.isInteger(b) || b < 2 || b > 8 || (i > 0 && b >= bits[i - 1]))) {
      throw new RangeError(`bits: expected distinct integers in 2..8 in descending order, got [${bits}]`);
    }
    this.h = bits[0];
    this.quantized = quantizedNodes(spec);
    this.quantized.forEach((n, i) => this.qIndex.set(n.name, i));
    for (const node of spec.nodes) this.createVars(node, rng);
  }

  private addVar(name: string, kind: VarKind, value: tf.Tensor): void {
    this.vars.set(name, tf.variable(value, kind !== 'stat'));
    this.kinds.set(name, kind);
    value.dispose();
  }

  /** BN parameter-set keys of a node: 'single', or 'fp' plus one per bit. */
  bnKeys(node: BatchNormNode): string[] {
    return node.follows ? ['fp', ...this.quant.bits.map((b) => `b${b}`)] : ['single'];
  }

  private createVars(node: GraphNode, rng: Rng): void {
    if (node.op === 'conv2d' || node.op === 'dense') {
      const shape = node.op === 'conv2d' ? [...node.kernel, node.inChannels, node.outChannels] : [node.inFeatures, node.outFeatures];
      const fanIn = shape.slice(0, -1).reduce((a, b) => a * b, 1);
      const std = Math.sqrt(2 / fanIn); // He normal
      const w = new Float32Array(shape.reduce((a, b) => a * b, 1));
      for (let i = 0; i < w.length; i++) w[i] = rng.normal() * std;
      this.addVar(`${node.name}/kernel`, 'weight', tf.tensor(w, shape));
      const cout = shape[shape.length - 1];
      if (node.bias) this.addVar(`${node.name}/bias`, 'weight', tf.zeros([cout]));
      if (node.quantized) {
        const sShape = [this.quant.perChannel ? cout : 1];
        if (this.quant.quantizer === 'double-rounding' || this.quant.quantizer === 'floor') this.addVar(`${node.name}/wscale`, 'scale', tf.fill(sShape, 0.01));
        if (this.quant.quantizer === 'separate') for (const b of this.quant.bits) this.addVar(`${node.name}/wscale@${b}`, 'scale', tf.fill(sShape, 0.01));
        for (const b of this.quant.bits) this.addVar(`${node.name}/ascale@${b}`, 'scale', tf.fill([1], 0.01));
      }
    } else if (node.op === 'batchnorm') {
      for (const key of this.bnKeys(node)) {
        this.addVar(`${node.name}/gamma@${key}`, 'weight', tf.ones([node.channels]));
        this.addVar(`${node.name}/beta@${key}`, 'weight', tf.zeros([node.channels]));
        this.addVar(`${node.name}/mean@${key}`, 'stat', tf.zeros([node.channels]));
        this.addVar(`${node.name}/var@${key}`, 'stat', tf.ones([node.channels]));
      }
    }
  }

  v(name: string): tf.Variable {
    const t = this.vars.get(name);
    if (!t) throw new RangeError(`no variable ${name} in ${this.spec.name}`);
    return t;
  }

  /** Bit of quantized layer `name` under `bits` (null = float). */
  bitOf(name: string, bits: BitChoice): number | null {
    if (bits === null) return null;
    if (typeof bits === 'number') return bits;
    const i = this.qIndex.get(name);
    if (i === undefined) throw new RangeError(`${name} is not a quantized layer`);
    if (bits.length !== this.quantized.length) throw new RangeError(`bits: expected ${this.quantized.length} entries (one per quantized layer), got ${bits.length}`);
    return bits[i];
  }

  /** Which BN parameter set a node uses (per bit of the layer it follows; HASB's TBN can override). */
  bnKey(node: BatchNormNode, bits: BitChoice): string {
    if (!node.follows) return 'single';
    const b = this.bitOf(node.follows, bits);
    return b === null ? 'fp' : `b${b}`;
  }

  /** Fake-quantized weights of a quantized layer at bit b. */
  quantizedKernel(node: ConvNode | DenseNode, b: number, fused = false): tf.Tensor {
    const w = this.v(`${node.name}/kernel`);
    const cout = w.shape[w.shape.length - 1];
    const perScale = w.size / (this.quant.perChannel ? cout : 1);
    switch (this.quant.quantizer) {
      case 'double-rounding':
      case 'floor':
        return doubleRoundingQuantize(w, this.v(`${node.name}/wscale`), this.h, b, lsqGradScale(perScale, signedRange(b)[1]), this.quant.quantizer === 'floor' ? 'floor' : 'round', fused);
      case 'separate':
        return doubleRoundingQuantize(w, this.v(`${node.name}/wscale@${b}`), b, b, lsqGradScale(perScale, signedRange(b)[1]), 'round', fused);
      case 'dorefa':
        return dorefaQuantize(w, b);
    }
  }

  private linear(node: ConvNode | DenseNode, x: tf.Tensor, bits: BitChoice, fused: boolean, hook?: QuantInputHook): tf.Tensor {
    const b = node.quantized ? this.bitOf(node.name, bits) : null;
    if (node.quantized && hook) hook(node.name, x);
    let w: tf.Tensor = this.v(`${node.name}/kernel`);
    if (b !== null) {
      if (!this.quant.bits.includes(b)) throw new RangeError(`bit ${b} of ${node.name}: expected one of [${this.quant.bits}]`);
      const perExample = x.size / x.shape[0];
      x = activationQuantize(x, this.v(`${node.name}/ascale@${b}`), b, lsqGradScale(perExample, 2 ** b - 1), fused);
      w = this.quantizedKernel(node, b, fused);
    }
    let y = node.op === 'conv2d'
      ? tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, node.strides, node.padding)
      : tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
    if (node.bias) y = tf.add(y, this.v(`${node.name}/bias`));
    return y;
  }

  private batchNorm(node: BatchNormNode, x: tf.Tensor, bits: BitChoice, training: boolean, fused: boolean, updates: BnUpdate[]): tf.Tensor {
    const key = this.bnKey(node, bits);
    const gamma = this.v(`${node.name}/gamma@${key}`);
    const beta = this.v(`${node.name}/beta@${key}`);
    let mean: tf.Tensor;
    let variance: tf.Tensor;
    if (training) {
      // Tile-free closed-form gradient (the backend's op); dense outputs go through it as [N,1,1,C].
      const x4 = (x.rank === 4 ? x : tf.reshape(x, [x.shape[0], 1, 1, x.shape[x.rank - 1]])) as tf.Tensor4D;
      const r = batchNormTrain(x4, gamma as tf.Tensor1D, beta as tf.Tensor1D, node.epsilon, fused);
      updates.push({ name: node.name, key, mean: r.mean, variance: r.variance });
      return x.rank === 4 ? r.y : tf.reshape(r.y, x.shape);
    } else {
      mean = this.v(`${node.name}/mean@${key}`);
      variance = this.v(`${node.name}/var@${key}`);
    }
    if (fused) {
      return tf.tidy(() => tf.engine().runKernel(BN_INFER, { x, mean, rstd: tf.rsqrt(tf.add(variance, node.epsilon)), gamma, beta }) as tf.Tensor);
    }
    return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, node.epsilon))), gamma), beta);
  }

  /**
   * On the wasm backend, training passes (`training`) and passes asked for with `opts.fused`
   * (evaluation: no gradients) use the fused kernels (kernels/fused.ts), whose forward values are
   * the composite ops' bit for bit; other passes keep the composite ops, which second-order
   * gradients (Hessian traces) need.
   */
  forward(input: tf.Tensor4D, bits: BitChoice, training: boolean, hook?: QuantInputHook, opts: { fused?: boolean } = {}): ForwardResult {
    const fused = (opts.fused ?? training) && fusedKernelsActive();
    const out = new Map<string, tf.Tensor>([['input', input]]);
    const bnUpdates: BnUpdate[] = [];
    let last: tf.Tensor = input;
    for (const node of this.spec.nodes) {
      const x = out.get(node.inputs[0])!;
      switch (node.op) {
        case 'conv2d': case 'dense': last = this.linear(node, x, bits, fused, hook); break;
        case 'batchnorm': last = this.batchNorm(node, x, bits, training, fused, bnUpdates); break;
        case 'relu': last = relu(x, fused && training); break;
        case 'add': last = tf.add(x, out.get(node.inputs[1])!); break;
        case 'flatten': last = tf.reshape(x, [x.shape[0], -1]); break;
        case 'globalavgpool': last = tf.mean(x, [1, 2]); break;
        case 'avgpool': last = tf.avgPool(x as tf.Tensor4D, node.pool, node.strides, node.padding); break;
      }
      out.set(node.name, last);
    }
    return { logits: last as tf.Tensor2D, bnUpdates };
  }

  /** Moving averages of BN statistics: m ← μ·m + (1 − μ)·batch. */
  applyBnUpdates(updates: BnUpdate[], momentum = BN_MOMENTUM): void {
    tf.tidy(() => {
      for (const u of updates) {
        const m = this.v(`${u.name}/mean@${u.key}`);
        const v = this.v(`${u.name}/var@${u.key}`);
        m.assign(tf.add(tf.mul(m, momentum), tf.mul(u.mean, 1 - momentum)));
        v.assign(tf.add(tf.mul(v, momentum), tf.mul(u.variance, 1 - momentum)));
      }
    });
  }

  /** Trainable variables of one kind, or all. */
  trainable(kind?: VarKind): tf.Variable[] {
    return [...this.vars].filter(([n]) => this.kinds.get(n) !== 'stat' && (!kind || this.kinds.get(n) === kind)).map(([, v]) => v);
  }

  /** Maps tf's variable names (keys of tf.variableGrads) back to ours. */
  nameOf(tfName: string): string {
    this.tfNames ??= new Map([...this.vars].map(([n, v]) => [v.name, n]));
    const n = this.tfNames.get(tfName);
    if (!n) throw new RangeError(`variable ${tfName} does not belong to ${this.spec.name}`);
    return n;
  }
  private tfNames?: Map<string, string>;

  /**
   * Projects quantization scales back to ≥ MIN_SCALE after a step: an Adam step is about the
   * learning rate in size and can exceed a small scale, and a scale ≤ 0 has no meaning.
   */
  clampScales(): void {
    tf.tidy(() => {
      for (const [n, v] of this.vars) if (this.kinds.get(n) === 'scale') v.assign(tf.maximum(v, MIN_SCALE));
    });
  }

  /** Copies the 'fp' BN sets (float pre-training) into every per-bit set. */
  copyFloatBnToBits(): void {
    for (const node of this.spec.nodes) {
      if (node.op !== 'batchnorm' || !node.follows) continue;
      for (const b of this.quant.bits) for (const p of ['gamma', 'beta', 'mean', 'var']) this.v(`${node.name}/${p}@b${b}`).assign(this.v(`${node.name}/${p}@fp`));
    }
  }

  /** All variable values by name (float32 copies). */
  async snapshot(): Promise<Record<string, Float32Array>> {
    const vars = [...this.vars];
    const values = await Promise.all(vars.map(([, v]) => v.data()));
    return Object.fromEntries(vars.map(([n], i) => [n, values[i] as Float32Array]));
  }

  load(values: Record<string, Float32Array>, allowMissing = false): void {
    for (const [n, v] of this.vars) {
      const arr = values[n];
      if (!arr) { if (allowMissing) continue; throw new RangeError(`weights: missing variable ${n}`); }
      if (arr.length !== v.size) throw new RangeError(`weights.${n}: expected ${v.size} values, got ${arr.length}`);
      tf.tidy(() => v.assign(tf.tensor(arr, v.shape)));
    }
  }

  dispose(): void { for (const v of this.vars.values()) v.dispose(); this.vars.clear(); }
}

/** Names of the variables a float32 forward pass uses. */
export function floatVariableNames(net: Network): string[] {
  return [...net.vars.keys()].filter((n) => net.kinds.get(n) !== 'scale' && (!n.includes('@') || n.endsWith('@fp') || n.endsWith('@single')));
}
