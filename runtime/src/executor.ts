// Fast executor: compiles the graph into steps (conv/dense with BatchNorm, ReLU and the next
// layer's activation quantization fused into the GEMM epilogue), and keeps packed weights per
// (layer, bit) so switching precision only derives what has not been derived before.
import type { BatchNormLayer, Conv2DLayer, DenseLayer, Layer, Model } from '@bitswitch/format';
import type { ConvGeometry, Epilogue, IntBackend, PreparedWeights } from './backend.ts';
import { im2colScalar } from './backend-ts.ts';
import { analyseGraph, batchNormSet, padBefore, type GraphInfo, type QuantLayer } from './graph.ts';
import { resolvePrecision, type Precision, type PrecisionSpec } from './precision.ts';
import { checkInput } from './reference.ts';

interface MatmulStep {
  kind: 'matmul';
  layer: Conv2DLayer | DenseLayer;
  /** Index in the quantized-layer list, or -1 for a float layer. */
  q: number;
  input: string;
  inShape: number[];
  outShape: number[];
  bn?: BatchNormLayer;
  relu: boolean;
  /** Quantized layer whose input this step's output is (fused eq. 4), or -1. */
  requantFor: number;
  output: string;
}
/** `inPlace`: the first input has no other reader, so the sum overwrites it. */
interface AddStep { kind: 'add'; inputs: string[]; relu: boolean; inPlace: boolean; output: string }
interface BatchNormStep { kind: 'batchnorm'; layer: BatchNormLayer; input: string; output: string }
interface UnaryStep { kind: 'relu' | 'flatten'; input: string; output: string }
interface PoolStep { kind: 'pool'; input: string; inShape: number[]; pool: [number, number]; strides: [number, number]; padding: 'same' | 'valid'; output: string }
type Step = MatmulStep | AddStep | BatchNormStep | UnaryStep | PoolStep;

/** What one precision needs per matmul step: weights (quantized steps) and the folded epilogue. */
interface StepState { weights?: PreparedWeights; ep: Epilogue; abits: number; ascale: number }


export interface PrecisionInfo {
  label: string;
  bits: number[];
  /** Milliseconds setPrecision took (deriving + packing the weights not cached yet). */
  switchMs: number;
  /** (layer, bit) weight tensors derived by this switch. */
  derived: number;
}

export interface MemoryInfo {
  /** Stored W̃_h (int8) and scales of the quantized layers, plus float layers. */
  storedBytes: number;
  /** Packed weights of the current precision (float first/last layers included). */
  activeBytes: number;
  /** All packed weights held so far, every precision used (float layers included). */
  cachedBytes: number;
}

export class Runtime {
  readonly model: Model;
  readonly backend: IntBackend;
  readonly graph: GraphInfo;
  private readonly steps: Step[];
  private readonly cache = new Map<string, PreparedWeights>();
  /** Prepared weights of the float (first and last) layers, by layer name. */
  private readonly floatWeights = new Map<string, PreparedWeights>();
  private states: (StepState | undefined)[] = [];
  private current?: Precision;
  private lastSwitch?: PrecisionInfo;
  /** For tests and debugging: receives each quantized layer's eq. 4 input codes (NHWC) during run(). */
  codeHook?: (layer: string, codes: Uint8Array) => void;

  /** Validates the graph and derives the weights of `precision` (default: the highest bit). */
  constructor(model: Model, backend: IntBackend, precision: PrecisionSpec = model.bits[0]) {
    this.model = model;
    this.backend = backend;
    this.graph = analyseGraph(model);
    this.steps = compile(model, this.graph);
    for (const s of this.steps) {
      if (s.kind !== 'matmul' || s.q >= 0) continue;
      const [n, k] = matrixShape(s.layer);
      this.floatWeights.set(s.layer.name, backend.prepareFloatWeights(s.layer.weights.values as Float32Array, n, k));
    }
    this.setPrecision(precision);
  }

  get precision(): Precision { return this.current!; }
  get lastSwitchInfo(): PrecisionInfo { return this.lastSwitch!; }
  get quantizedLayerNames(): string[] { return this.graph.quantized.map((l) => l.name); }

  /** Uniform bit, per-quantized-layer bit list, or SubNet name. */
  setPrecision(spec: PrecisionSpec): PrecisionInfo {
    const t0 = performance.now();
    const p = resolvePrecision(this.model, this.graph.quantized.length, spec);
    let derived = 0;
    this.states = this.steps.map((s) => {
      if (s.kind !== 'matmul') return undefined;
      const st = this.stepState(s, p);
      if (st.weights === undefined && s.q >= 0) {
        derived++;
        st.weights = this.prepare(s.q, p.bits[s.q]);
      }
      return st;
    });
    this.current = p;
    this.lastSwitch = { label: p.label, bits: p.bits, switchMs: performance.now() - t0, derived };
    return this.lastSwitch;
  }

  memory(): MemoryInfo {
    let stored = 0;
    for (const l of this.model.layers) {
      if (l.op !== 'conv2d' && l.op !== 'dense') continue;
      const w = l.weights;
      stored += w.kind === 'int' ? w.values.length + 4 * (w.scale.length + w.actScales.length) : 4 * w.values.length;
    }
    let float = 0;
    for (const w of this.floatWeights.values()) float += w.bytes;
    let active = float;
    for (const st of this.states) if (st?.weights) active += st.weights.bytes;
    let cached = float;
    for (const w of this.cache.values()) cached += w.bytes;
    return { storedBytes: stored, activeBytes: active, cachedBytes: cached };
  }

  clearCache(): void {
    for (const w of this.cache.values()) w.dispose?.();
    this.cache.clear();
    const p = this.current!;
    this.current = undefined;
    this.setPrecision(p.bits);
  }

  /** Logits [batch][outputs] for NHWC float input. */
  run(input: ArrayLike<number>, batch = 1): Float32Array {
    checkInput(this.model, input, batch);
    const x = input instanceof Float32Array ? input : Float32Array.from(input);
    const tensors = new Map<string, Float32Array | Uint8Array>([['input', x]]);
    for (const [i, s] of this.steps.entries()) tensors.set(s.output, this.runStep(s, this.states[i]!, tensors, batch));
    return tensors.get(this.model.layers[this.model.layers.length - 1].name) as Float32Array;
  }

  /** Index of the largest logit per image. */
  classify(input: ArrayLike<number>, batch = 1): Int32Array {
    return argmax(this.run(input, batch), batch);
  }

  /**
   * Quantized layer q alone at `bit` (eq. 4 on a float input, im2col, GEMM, fused epilogue), for
   * per-layer timing. Returns its input shape and a function that runs it on a batch.
   */
  layerAtBit(q: number, bit: number): { inShape: number[]; run(x: Float32Array, batch: number): void } {
    const s = this.steps.find((x): x is MatmulStep => x.kind === 'matmul' && x.q === q);
    if (!s) throw new RangeError(`q: expected a quantized layer index in 0..${this.graph.quantized.length - 1}, got ${q}`);
    const bits = this.current!.bits.slice();
    bits[q] = bit;
    const st = this.stepState({ ...s, requantFor: -1 }, resolvePrecision(this.model, bits.length, bits));
    st.weights ??= this.prepare(q, bit);
    return { inShape: s.inShape, run: (x, batch) => void this.runQuantized(s, st, x, batch) };
  }

  private prepare(q: number, bit: number): PreparedWeights {
    const key = `${q}:${bit}`;
    let w = this.cache.get(key);
    if (!w) {
      const l = this.graph.quantized[q];
      const wt = l.weights;
      if (wt.kind !== 'int') throw new Error('unreachable: float weights in a quantized layer');
      const [n, k] = matrixShape(l);
      w = this.backend.prepareWeights(wt.values, wt.bits, bit, n, k);
      this.cache.set(key, w);
    }
    return w;
  }

  /** Folded epilogue: scales of eq. 3 and eq. 5, bias, BatchNorm of the chosen set, requantization. */
  private stepState(s: MatmulStep, p: Precision): StepState {
    const [n] = matrixShape(s.layer);
    const wt = s.layer.weights;
    let wScale = Float32Array.of(1);
    let abits = 0;
    let ascale = 1;
    if (wt.kind === 'int') {
      const bit = p.bits[s.q];
      abits = bit;
      ascale = wt.actScales[p.bitIndex[s.q]];
      wScale = wt.scale.map((v) => v * 2 ** (wt.bits - bit)); // eq. 3
    }
    let mul: Float32Array | undefined;
    let add: Float32Array | undefined;
    if (s.bn) {
      const C = s.bn.channels;
      const set = batchNormSet(s.bn, this.graph.quantIndex, p.bitIndex, this.model.bits.length);
      const prm = s.bn.params.subarray(set * 4 * C, (set + 1) * 4 * C);
      mul = new Float32Array(n);
      add = new Float32Array(n);
      for (let j = 0; j < n; j++) {
        const g = prm[j] / Math.sqrt(prm[3 * C + j] + s.bn.epsilon);
        mul[j] = g;
        add[j] = prm[C + j] - prm[2 * C + j] * g;
      }
    }
    let requant: Epilogue['requant'];
    if (s.requantFor >= 0) {
      const c = this.graph.quantized[s.requantFor].weights;
      if (c.kind === 'int') requant = { scale: c.actScales[p.bitIndex[s.requantFor]], bits: p.bits[s.requantFor] };
    }
    const weights = s.q >= 0 ? this.cache.get(`${s.q}:${p.bits[s.q]}`) : undefined;
    return { weights, ep: { wScale, aScale: ascale, bias: s.layer.bias, mul, add, relu: s.relu, requant }, abits, ascale };
  }

  private runStep(s: Step, state: StepState, tensors: Map<string, Float32Array | Uint8Array>, batch: number): Float32Array | Uint8Array {
    switch (s.kind) {
      case 'matmul': {
        if (s.q < 0) return runFloat(s, state, this.floatWeights.get(s.layer.name)!, tensors.get(s.input) as Float32Array, batch, this.backend);
        return this.runQuantized(s, state, tensors.get(s.input)!, batch);
      }
      case 'add': {
        return addTensors(s.inputs.map((name) => tensors.get(name) as Float32Array), s.relu, s.inPlace);
      }
      case 'batchnorm': {
        const x = tensors.get(s.input) as Float32Array;
        const C = s.layer.channels;
        const set = batchNormSet(s.layer, this.graph.quantIndex, this.current!.bitIndex, this.model.bits.length);
        const p = s.layer.params.subarray(set * 4 * C, (set + 1) * 4 * C);
        return x.map((v, i) => { const c = i % C; return (p[c] * (v - p[2 * C + c])) / Math.sqrt(p[3 * C + c] + s.layer.epsilon) + p[C + c]; });
      }
      case 'relu': return (tensors.get(s.input) as Float32Array).map((v) => (v > 0 ? v : 0));
      case 'flatten': return tensors.get(s.input)!;
      case 'pool': return avgPool(tensors.get(s.input) as Float32Array, s, batch);
    }
  }

  private runQuantized(s: MatmulStep, st: StepState, x: Float32Array | Uint8Array, batch: number): Float32Array | Uint8Array {
    const b = this.backend;
    const codes = x instanceof Uint8Array ? x : b.quantize(x, st.ascale, st.abits); // eq. 4
    this.codeHook?.(s.layer.name, codes);
    let a = codes;
    let m = batch;
    if (s.layer.op === 'conv2d') {
      const g = geometry(s.layer, s.inShape, batch);
      m = batch * g.outH * g.outW;
      if (!isPointwise(g)) a = b.im2col(codes, g);
    }
    return b.gemm(a, m, st.abits, st.weights!, st.ep);
  }
}

/** Elementwise sum of float tensors, with an optional fused ReLU (small monomorphic loops: V8 keeps them optimized). */
function addTensors(xs: Float32Array[], relu: boolean, inPlace: boolean): Float32Array {
  const y = inPlace ? xs[0] : xs[0].slice();
  for (let j = 1; j < xs.length - 1; j++) addInto(y, xs[j]);
  return relu ? addReluInto(y, xs[xs.length - 1]) : addInto(y, xs[xs.length - 1]);
}

function addInto(y: Float32Array, z: Float32Array): Float32Array {
  for (let i = 0; i < y.length; i++) y[i] += z[i];
  return y;
}

function addReluInto(y: Float32Array, z: Float32Array): Float32Array {
  for (let i = 0; i < y.length; i++) {
    const v = y[i] + z[i];
    y[i] = v > 0 ? v : 0;
  }
  return y;
}

export function argmax(logits: Float32Array, batch: number): Int32Array {
  const n = logits.length / batch;
  const out = new Int32Array(batch);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let j = 1; j < n; j++) if (logits[b * n + j] > logits[b * n + best]) best = j;
    out[b] = best;
  }
  return out;
}

/** [N][K] of a conv (K = kh·kw·cin) or dense layer's weight matrix. */
export function matrixShape(l: Conv2DLayer | DenseLayer): [number, number] {
  return l.op === 'conv2d' ? [l.outChannels, l.kernel[0] * l.kernel[1] * l.inChannels] : [l.outFeatures, l.inFeatures];
}

export function geometry(l: Conv2DLayer, s: number[], batch: number): ConvGeometry {
  const r = padBefore(s[0], l.kernel[0], l.strides[0], l.padding);
  const c = padBefore(s[1], l.kernel[1], l.strides[1], l.padding);
  return { batch, h: s[0], w: s[1], c: s[2], kh: l.kernel[0], kw: l.kernel[1], sh: l.strides[0], sw: l.strides[1], padding: l.padding, padTop: r.pad, padLeft: c.pad, outH: r.out, outW: c.out };
}

/** A 1×1, stride 1 conv reads NHWC rows as they are: no im2col. */
function isPointwise(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1;
}

/** Float conv/dense (first and last layers): float32 im2col + the backend's float GEMM, same epilogue. */
function runFloat(s: MatmulStep, st: StepState, w: PreparedWeights, x: Float32Array, batch: number, b: IntBackend): Float32Array | Uint8Array {
  const l = s.layer;
  let a = x;
  let m = batch;
  if (l.op === 'conv2d') {
    const g = geometry(l, s.inShape, batch);
    m = batch * g.outH * g.outW;
    if (!isPointwise(g)) a = im2colScalar(x, g, new Float32Array(m * w.k));
  }
  const { wScale: _w, aScale: _a, ...ep } = st.ep;
  return b.gemmFloat(a, m, w, ep);
}

function avgPool(x: Float32Array, s: PoolStep, batch: number): Float32Array {
  const [H, W, C] = s.inShape;
  const r = padBefore(H, s.pool[0], s.strides[0], s.padding);
  const c = padBefore(W, s.pool[1], s.strides[1], s.padding);
  const y = new Float32Array(batch * r.out * c.out * C);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < r.out; oy++) {
      for (let ox = 0; ox < c.out; ox++, o += C) {
        let count = 0;
        for (let ky = 0; ky < s.pool[0]; ky++) {
          const iy = oy * s.strides[0] + ky - r.pad;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < s.pool[1]; kx++) {
            const ix = ox * s.strides[1] + kx - c.pad;
            if (ix < 0 || ix >= W) continue;
            const src = ((b * H + iy) * W + ix) * C;
            for (let ch = 0; ch < C; ch++) y[o + ch] += x[src + ch];
            count++;
          }
        }
        for (let ch = 0; ch < C; ch++) y[o + ch] /= count;
      }
    }
  }
  return y;
}

/** Turns layers into steps, fusing BatchNorm, ReLU and requantization where a tensor has a single reader. */
function compile(model: Model, graph: GraphInfo): Step[] {
  const readersOf = new Map<string, Layer[]>();
  for (const l of model.layers) for (const i of l.inputs) readersOf.set(i, [...(readersOf.get(i) ?? []), l]);
  const soleReader = (name: string): Layer | undefined => (graph.readers.get(name) === 1 ? readersOf.get(name)?.[0] : undefined);
  const fused = new Set<string>();
  const steps: Step[] = [];
  for (const l of model.layers) {
    if (fused.has(l.name)) continue;
    const input = l.inputs[0];
    const inShape = graph.shapes.get(input)!;
    switch (l.op) {
      case 'conv2d':
      case 'dense': {
        let output = l.name;
        let bn: BatchNormLayer | undefined;
        let relu = false;
        const next = soleReader(output);
        if (next?.op === 'batchnorm') { bn = next; output = next.name; fused.add(next.name); }
        const after = soleReader(output);
        if (after?.op === 'relu') { relu = true; output = after.name; fused.add(after.name); }
        const consumer = soleReader(output);
        const q = graph.quantIndex.get(l.name) ?? -1;
        const requantFor = consumer && graph.quantIndex.has(consumer.name) ? graph.quantIndex.get(consumer.name)! : -1;
        steps.push({ kind: 'matmul', layer: l, q, input, inShape, outShape: graph.shapes.get(l.name)!, bn, relu, requantFor, output });
        break;
      }
      case 'add': {
        const after = soleReader(l.name);
        const relu = after?.op === 'relu';
        if (relu) fused.add(after!.name);
        // Never overwrite the caller's input or a flatten (which aliases its own input).
        const first = model.layers.find((x) => x.name === l.inputs[0]);
        const inPlace = graph.readers.get(l.inputs[0]) === 1 && first !== undefined && first.op !== 'flatten' && !l.inputs.slice(1).includes(l.inputs[0]);
        steps.push({ kind: 'add', inputs: l.inputs, relu, inPlace, output: relu ? after!.name : l.name });
        break;
      }
      case 'batchnorm': steps.push({ kind: 'batchnorm', layer: l, input, output: l.name }); break;
      case 'relu': steps.push({ kind: 'relu', input, output: l.name }); break;
      case 'flatten': steps.push({ kind: 'flatten', input, output: l.name }); break;
      case 'globalavgpool': steps.push({ kind: 'pool', input, inShape, pool: [inShape[0], inShape[1]], strides: [1, 1], padding: 'valid', output: l.name }); break;
      case 'avgpool': steps.push({ kind: 'pool', input, inShape, pool: l.pool, strides: l.strides, padding: l.padding, output: l.name }); break;
    }
  }
  return steps;
}

export type { QuantLayer };
