// The float network every peer runs: a Model at its highest bit width with dequantized weights
// (W̃_h·s_h, eq. 3 at l = h), each BatchNorm folded into the conv before it and each ReLU fused
// into the conv or add before it, as a user deploying the network on those engines would do.
// Also the float reference it is checked against (float64, from the unfolded Model) and the
// int8 calibration (per-tensor asymmetric activations, per-channel symmetric weights) that the
// ONNX QDQ and TFLite models share.
import { roundHalfEven, type Layer, type Model } from '@bitswitch/format';

export interface ConvNode {
  op: 'conv'; name: string; input: string; cin: number; cout: number; k: number; stride: number;
  /** Input and output height, width. */
  H: number; W: number; OH: number; OW: number;
  /** TF "same" padding: [top, left, bottom, right]. */
  pads: [number, number, number, number];
  relu: boolean;
  /** OHWI, BN folded in. */
  weights: Float32Array;
  bias: Float32Array;
}
export interface AddNode { op: 'add'; name: string; inputs: [string, string]; relu: boolean }
export interface PoolNode { op: 'globalavgpool'; name: string; input: string }
export interface DenseNode { op: 'dense'; name: string; input: string; cin: number; cout: number; /** [out][in] */ weights: Float32Array; bias: Float32Array }
export type FoldedNode = ConvNode | AddNode | PoolNode | DenseNode;

/** A peer engine loaded with the network. */
export interface Engine {
  name: string;
  /** Version and configuration, one line. */
  info: string;
  /** Logits [batch][classes] of NHWC `images`. */
  run(images: Float32Array, batch: number): Promise<Float32Array> | Float32Array;
  dispose(): void;
}

export interface FoldedNetwork {
  inputShape: [number, number, number];
  nodes: FoldedNode[];
  output: string;
  /** NHWC shape (without batch) of every tensor by name. */
  shapes: Map<string, number[]>;
  macsPerImage: number;
}

function samePads(size: number, k: number, s: number): { out: number; before: number; after: number } {
  const out = Math.ceil(size / s);
  const total = Math.max((out - 1) * s + k - size, 0);
  return { out, before: Math.floor(total / 2), after: total - Math.floor(total / 2) };
}

/** Weights of a conv or dense layer as float [out][in...] (W̃_h·s_h for quantized layers). */
function floatWeights(l: Extract<Layer, { op: 'conv2d' | 'dense' }>): Float32Array {
  const wt = l.weights;
  if (wt.kind === 'float') return Float32Array.from(wt.values);
  const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
  const k = wt.values.length / n;
  return Float32Array.from(wt.values, (v, i) => v * wt.scale[wt.scale.length === 1 ? 0 : Math.floor(i / k)]);
}

/**
 * The folded float network of `model` at its highest bit width (BatchNorm parameter set 0, which
 * every BatchNorm selects when all layers run at model.bits[0]). Throws on a layer it cannot fold.
 */
export function foldNetwork(model: Model): FoldedNetwork {
  const [H0, W0, C0] = model.inputShape;
  const consumers = new Map<string, number>();
  for (const l of model.layers) for (const i of l.inputs) consumers.set(i, (consumers.get(i) ?? 0) + 1);
  const alias = new Map<string, string>([['input', 'input']]);
  const shapes = new Map<string, number[]>([['input', [H0, W0, C0]]]);
  const byName = new Map<string, FoldedNode>();
  const nodes: FoldedNode[] = [];
  let macs = 0;
  const only = (l: Layer): FoldedNode | undefined => {
    const src = alias.get(l.inputs[0])!;
    return consumers.get(l.inputs[0]) === 1 ? byName.get(src) : undefined;
  };
  const push = (node: FoldedNode, shape: number[]) => { nodes.push(node); byName.set(node.name, node); alias.set(node.name, node.name); shapes.set(node.name, shape); };
  for (const l of model.layers) {
    const src = alias.get(l.inputs[0]);
    if (src === undefined) throw new RangeError(`layer ${l.name}: input ${l.inputs[0]} is not produced by an earlier layer`);
    const inShape = shapes.get(src)!;
    switch (l.op) {
      case 'conv2d': {
        if (l.padding !== 'same' || l.kernel[0] !== l.kernel[1] || l.strides[0] !== l.strides[1]) {
          throw new RangeError(`layer ${l.name}: expected a square kernel and stride with 'same' padding for the baselines`);
        }
        const [H, W] = inShape;
        const k = l.kernel[0], s = l.strides[0];
        const r = samePads(H, k, s), c = samePads(W, k, s);
        const node: ConvNode = {
          op: 'conv', name: l.name, input: src, cin: l.inChannels, cout: l.outChannels, k, stride: s, H, W, OH: r.out, OW: c.out,
          pads: [r.before, c.before, r.after, c.after], relu: false, weights: floatWeights(l), bias: l.bias ? Float32Array.from(l.bias) : new Float32Array(l.outChannels),
        };
        macs += r.out * c.out * l.outChannels * k * k * l.inChannels;
        push(node, [r.out, c.out, l.outChannels]);
        break;
      }
      case 'batchnorm': {
        const conv = only(l);
        if (conv?.op !== 'conv' || conv.relu) throw new RangeError(`layer ${l.name}: expected a BatchNorm whose input is a conv used only by it`);
        const C = l.channels;
        const p = l.params; // set 0: gamma, beta, mean, variance
        const K = conv.weights.length / C;
        for (let o = 0; o < C; o++) {
          const g = p[o] / Math.sqrt(p[3 * C + o] + l.epsilon);
          for (let j = 0; j < K; j++) conv.weights[o * K + j] *= g;
          conv.bias[o] = (conv.bias[o] - p[2 * C + o]) * g + p[C + o];
        }
        alias.set(l.name, conv.name);
        break;
      }
      case 'relu': {
        const prev = only(l);
        if (!prev || (prev.op !== 'conv' && prev.op !== 'add') || prev.relu) throw new RangeError(`layer ${l.name}: expected a ReLU after a conv or add used only by it`);
        prev.relu = true;
        alias.set(l.name, prev.name);
        break;
      }
      case 'add': {
        if (l.inputs.length !== 2) throw new RangeError(`layer ${l.name}: expected 2 inputs, got ${l.inputs.length}`);
        push({ op: 'add', name: l.name, inputs: [src, alias.get(l.inputs[1])!], relu: false }, inShape);
        break;
      }
      case 'globalavgpool': push({ op: 'globalavgpool', name: l.name, input: src }, [inShape[2]]); break;
      case 'flatten': alias.set(l.name, src); shapes.set(l.name, [inShape.reduce((a, b) => a * b, 1)]); break;
      case 'dense': {
        macs += l.inFeatures * l.outFeatures;
        push({ op: 'dense', name: l.name, input: src, cin: l.inFeatures, cout: l.outFeatures, weights: floatWeights(l), bias: l.bias ? Float32Array.from(l.bias) : new Float32Array(l.outFeatures) }, [l.outFeatures]);
        break;
      }
      default: throw new RangeError(`layer ${l.name}: op ${l.op} has no baseline form`);
    }
  }
  return { inputShape: [H0, W0, C0], nodes, output: alias.get(model.layers[model.layers.length - 1].name)!, shapes, macsPerImage: macs };
}

/**
 * Every tensor of the folded network on NHWC `images` (float64 accumulation), by name. With
 * `int8`, the int8 model's arithmetic on dequantized values: each calibrated tensor rounded to its
 * uint8 grid, conv weights and biases at their quantized values (what a QDQ graph means).
 */
export function foldedForward(net: FoldedNetwork, images: Float32Array, batch: number, int8?: Int8Calibration): Map<string, Float64Array> {
  const grid = (name: string, v: Float64Array) => {
    const a = int8?.acts.get(name);
    if (!a) return v;
    return v.map((x) => (Math.max(0, Math.min(255, roundHalfEven(x / a.scale) + a.zero)) - a.zero) * a.scale);
  };
  const t = new Map<string, Float64Array>([['input', grid('input', Float64Array.from(images))]]);
  for (const n of net.nodes) {
    let y: Float64Array;
    if (n.op === 'conv') {
      const x = t.get(n.input)!;
      const q = int8?.convs.get(n.name);
      const sx = int8?.acts.get(n.input)?.scale ?? 0;
      const K = n.weights.length / n.cout;
      const weights = q ? Float64Array.from(q.weights, (v, i) => v * q.scales[Math.floor(i / K)]) : n.weights;
      const bias = q ? Float64Array.from(q.bias, (v, o) => v * Math.fround(sx * q.scales[o])) : n.bias;
      const { H, W, OH, OW, cin: C, cout: N, k, stride: s } = n;
      y = new Float64Array(batch * OH * OW * N);
      let o = 0;
      for (let b = 0; b < batch; b++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let m = 0; m < N; m++) {
        let acc = bias[m];
        for (let ky = 0; ky < k; ky++) {
          const iy = oy * s + ky - n.pads[0];
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < k; kx++) {
            const ix = ox * s + kx - n.pads[1];
            if (ix < 0 || ix >= W) continue;
            const xi = ((b * H + iy) * W + ix) * C, wi = ((m * k + ky) * k + kx) * C;
            for (let c = 0; c < C; c++) acc += x[xi + c] * weights[wi + c];
          }
        }
        y[o++] = n.relu && acc < 0 ? 0 : acc;
      }
    } else if (n.op === 'add') {
      const a = t.get(n.inputs[0])!, b = t.get(n.inputs[1])!;
      y = a.map((v, i) => (n.relu ? Math.max(0, v + b[i]) : v + b[i]));
    } else if (n.op === 'globalavgpool') {
      const x = t.get(n.input)!;
      const C = net.shapes.get(n.name)![0];
      const hw = x.length / batch / C;
      y = new Float64Array(batch * C);
      for (let i = 0; i < x.length; i++) y[Math.floor(i / (hw * C)) * C + (i % C)] += x[i] / hw;
    } else {
      const x = t.get(n.input)!;
      y = new Float64Array(batch * n.cout);
      for (let b = 0; b < batch; b++) for (let o = 0; o < n.cout; o++) {
        let acc = n.bias[o];
        for (let i = 0; i < n.cin; i++) acc += x[b * n.cin + i] * n.weights[o * n.cin + i];
        y[b * n.cout + o] = acc;
      }
    }
    t.set(n.name, grid(n.name, y));
  }
  return t;
}

/**
 * Logits of the unfolded float model (conv, BatchNorm set 0, ReLU, add as separate float64 steps),
 * the reference each baseline is checked against; it checks the folding too.
 */
export function floatReference(model: Model, images: Float32Array, batch: number): Float64Array {
  const [H0, W0, C0] = model.inputShape;
  const t = new Map<string, { v: Float64Array; shape: number[] }>([['input', { v: Float64Array.from(images), shape: [H0, W0, C0] }]]);
  for (const l of model.layers) {
    const { v: x, shape } = t.get(l.inputs[0])!;
    let v: Float64Array, out = shape;
    switch (l.op) {
      case 'conv2d': {
        const [H, W, C] = shape, k = l.kernel[0], s = l.strides[0], w = floatWeights(l);
        const r = samePads(H, k, s), c = samePads(W, k, s);
        const N = l.outChannels;
        out = [r.out, c.out, N];
        v = new Float64Array(batch * r.out * c.out * N);
        let o = 0;
        for (let b = 0; b < batch; b++) for (let oy = 0; oy < r.out; oy++) for (let ox = 0; ox < c.out; ox++) for (let m = 0; m < N; m++) {
          let acc = l.bias ? l.bias[m] : 0;
          for (let ky = 0; ky < k; ky++) for (let kx = 0; kx < k; kx++) {
            const iy = oy * s + ky - r.before, ix = ox * s + kx - c.before;
            if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
            for (let ci = 0; ci < C; ci++) acc += x[((b * H + iy) * W + ix) * C + ci] * w[((m * k + ky) * k + kx) * C + ci];
          }
          v[o++] = acc;
        }
        break;
      }
      case 'batchnorm': {
        const C = l.channels, p = l.params;
        v = x.map((a, i) => { const c = i % C; return ((a - p[2 * C + c]) / Math.sqrt(p[3 * C + c] + l.epsilon)) * p[c] + p[C + c]; });
        break;
      }
      case 'relu': v = x.map((a) => (a > 0 ? a : 0)); break;
      case 'add': { const y = t.get(l.inputs[1])!.v; v = x.map((a, i) => a + y[i]); break; }
      case 'flatten': v = x; out = [shape.reduce((a, b) => a * b, 1)]; break;
      case 'globalavgpool': {
        const C = shape[2], hw = shape[0] * shape[1];
        v = new Float64Array(batch * C);
        for (let i = 0; i < x.length; i++) v[Math.floor(i / (hw * C)) * C + (i % C)] += x[i] / hw;
        out = [C];
        break;
      }
      case 'dense': {
        const w = floatWeights(l), K = l.inFeatures, N = l.outFeatures;
        v = new Float64Array(batch * N);
        for (let b = 0; b < batch; b++) for (let o = 0; o < N; o++) {
          let acc = l.bias ? l.bias[o] : 0;
          for (let i = 0; i < K; i++) acc += x[b * K + i] * w[o * K + i];
          v[b * N + o] = acc;
        }
        out = [N];
        break;
      }
      default: throw new RangeError(`layer ${l.name}: op ${l.op} has no float reference`);
    }
    t.set(l.name, { v, shape: out });
  }
  return t.get(model.layers[model.layers.length - 1].name)!.v;
}

/** uint8 asymmetric per-tensor parameters: real = s·(q − z). */
export interface ActQuant { scale: number; zero: number }

export interface Int8Calibration {
  /** Every activation tensor feeding a conv, an add or the pool, and the pool's output. */
  acts: Map<string, ActQuant>;
  /** Per conv: int8 weights (OHWI, symmetric per output channel), their scales and int32 bias at scale s_x·s_w. */
  convs: Map<string, { weights: Int8Array; scales: Float32Array; bias: Int32Array }>;
}

/**
 * Post-training int8 calibration on `images`: each activation's range [min(0, lo), max(0, hi)]
 * over the calibration set gives a uint8 scale and zero point (post-ReLU tensors get zero point 0);
 * weights are int8 symmetric per output channel (±127); biases int32. Round half to even throughout.
 */
export function calibrateInt8(net: FoldedNetwork, images: Float32Array, count: number): Int8Calibration {
  const t = foldedForward(net, images, count);
  const acts = new Map<string, ActQuant>();
  for (const [name, v] of t) {
    if (name === net.output) continue;
    let lo = 0, hi = 0;
    for (const a of v) { if (a < lo) lo = a; if (a > hi) hi = a; }
    const scale = Math.fround((hi - lo) / 255 || 1e-8);
    acts.set(name, { scale, zero: Math.max(0, Math.min(255, roundHalfEven(-lo / scale))) });
  }
  const convs = new Map<string, { weights: Int8Array; scales: Float32Array; bias: Int32Array }>();
  for (const n of net.nodes) {
    if (n.op !== 'conv') continue;
    const K = n.weights.length / n.cout;
    const weights = new Int8Array(n.weights.length), scales = new Float32Array(n.cout), bias = new Int32Array(n.cout);
    const sx = acts.get(n.input)!.scale;
    for (let o = 0; o < n.cout; o++) {
      let m = 0;
      for (let j = 0; j < K; j++) m = Math.max(m, Math.abs(n.weights[o * K + j]));
      scales[o] = Math.fround(m / 127 || 1e-8);
      for (let j = 0; j < K; j++) weights[o * K + j] = Math.max(-127, Math.min(127, roundHalfEven(n.weights[o * K + j] / scales[o])));
      bias[o] = roundHalfEven(n.bias[o] / Math.fround(sx * scales[o]));
    }
    convs.set(n.name, { weights, scales, bias });
  }
  return { acts, convs };
}

/** Largest |a − b| / max(|b|) over the whole output: one relative figure per comparison. */
export function maxRelativeError(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let d = 0, m = 0;
  for (let i = 0; i < ref.length; i++) { d = Math.max(d, Math.abs(a[i] - ref[i])); m = Math.max(m, Math.abs(ref[i])); }
  return m > 0 ? d / m : d;
}

/** Fraction of rows of `a` whose argmax equals that of `ref` ([rows][cols]). */
export function argmaxAgreement(a: ArrayLike<number>, ref: ArrayLike<number>, cols: number): number {
  const rows = ref.length / cols;
  let same = 0;
  const am = (x: ArrayLike<number>, r: number) => { let j = 0; for (let c = 1; c < cols; c++) if (x[r * cols + c] > x[r * cols + j]) j = c; return j; };
  for (let r = 0; r < rows; r++) if (am(a, r) === am(ref, r)) same++;
  return same / rows;
}
