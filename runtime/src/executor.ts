// Fast executor: compiles the graph into steps (conv/dense with BatchNorm, ReLU and the next
// layer's activation quantization fused into the GEMM epilogue), and keeps packed weights per
// (layer, bit) so switching precision only derives what has not been derived before.
import type { BatchNormLayer, Conv2DLayer, DenseLayer, Layer, Model } from '@bitswitch/format';
import type { ConvGeometry, Epilogue, IntBackend, PreparedWeights } from './backend.ts';
import { analyseGraph, batchNormSet, elementCount, padBefore, type GraphInfo, type QuantLayer } from './graph.ts';
import { resolvePrecision, type Precision, type PrecisionSpec } from './precision.ts';
import { checkInput } from './reference.ts';
import { graphInput, type ModelInput } from './input.ts';

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
  /** A float tensor added in the epilogue before ReLU (a fused residual add), or undefined. */
  residual?: string;
  output: string;
}
interface AddStep { kind: 'add'; inputs: string[]; relu: boolean; output: string }
interface BatchNormStep { kind: 'batchnorm'; layer: BatchNormLayer; input: string; output: string }
interface UnaryStep { kind: 'relu' | 'flatten'; input: string; output: string }
interface PoolStep { kind: 'pool'; input: string; inShape: number[]; pool: [number, number]; strides: [number, number]; padding: 'same' | 'valid'; output: string }
type Step = MatmulStep | AddStep | BatchNormStep | UnaryStep | PoolStep;

/** A tensor in the workspace: its slot, values per image, element type (float32 or uint8 codes). */
interface Tensor { slot: number; perImage: number; f32: boolean }

/** Where every tensor lives: slots are reused once a tensor's last reader has run. */
interface WorkspacePlan {
  tensors: Map<string, Tensor>;
  /** Bytes per image of each slot; then the codes, patch and float-patch scratch slots. */
  slotBytes: number[];
  codes: number;
  patches: number;
  floatPatches: number;
  /** Output of a layer timed alone (layerAtBit). */
  single: number;
}

export interface RuntimeOptions {
  /** Fuse `add` (+ ReLU) into the GEMM epilogue of its later matmul input (default true; false is for tests). */
  fuseResidual?: boolean;
}

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

export interface RuntimeInfo {
  /** Backend name (e.g. kernels-relaxed). */
  backend: string;
  /** Threads each large GEMM runs on. */
  threads: number;
  /** Why fewer threads run than were asked for (empty: none). */
  note: string;
}

export class Runtime {
  readonly model: Model;
  readonly backend: IntBackend;
  readonly graph: GraphInfo;
  private readonly steps: Step[];
  private readonly plan: WorkspacePlan;
  private readonly cache = new Map<string, PreparedWeights>();
  /** Prepared weights of the float (first and last) layers, by layer name. */
  private readonly floatWeights = new Map<string, PreparedWeights>();
  private states: (StepState | undefined)[] = [];
  private current?: Precision;
  private lastSwitch?: PrecisionInfo;
  /** For tests and debugging: receives each quantized layer's eq. 4 input codes (NHWC) during run(): a view on the workspace, valid during the call (copy to keep). */
  codeHook?: (layer: string, codes: Uint8Array) => void;

  /** Validates the graph and derives the weights of `precision` (default: the highest bit). */
  constructor(model: Model, backend: IntBackend, precision: PrecisionSpec = model.bits[0], options: RuntimeOptions = {}) {
    this.model = model;
    this.backend = backend;
    this.graph = analyseGraph(model);
    this.steps = compile(model, this.graph, options.fuseResidual ?? true);
    this.plan = planWorkspace(this.steps, this.graph, model.layers[model.layers.length - 1].name);
    for (const s of this.steps) {
      if (s.kind !== 'matmul' || s.q >= 0) continue;
      const [n, k] = matrixShape(s.layer);
      this.floatWeights.set(s.layer.name, backend.prepareFloatWeights(s.layer.weights.values as Float32Array, n, k));
    }
    this.setPrecision(precision);
  }

  get precision(): Precision { return this.current!; }
  get info(): RuntimeInfo { return { backend: this.backend.name, threads: this.backend.threads ?? 1, note: this.backend.threadNote ?? '' }; }

  /** Stops the backend's worker threads; the runtime keeps working on one thread. */
  dispose(): void { this.backend.dispose?.(); }
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

  /**
   * Logits [batch][outputs] for NHWC float input, or raw 8-bit pixels / ImageData normalised as the
   * file's INPT says (input.ts; a batch of ImageData sets `batch`). Intermediate tensors stay in the backend's workspace.
   */
  run(raw: ModelInput, batch = 1): Float32Array {
    const { values: input, batch: n } = graphInput(this.model, raw, batch);
    batch = n;
    checkInput(this.model, input, batch);
    const ws = this.backend.workspace;
    this.plan.slotBytes.forEach((bytes, id) => ws.reserve(id, bytes * batch));
    (this.view('input', batch) as Float32Array).set(input);
    for (const [i, s] of this.steps.entries()) this.runStep(s, this.states[i]!, batch);
    return (this.view(this.model.layers[this.model.layers.length - 1].name, batch) as Float32Array).slice();
  }

  /** A fresh view of a tensor (views die when the wasm memory grows). */
  private view(name: string, batch: number): Float32Array | Uint8Array {
    const t = this.plan.tensors.get(name)!;
    const ws = this.backend.workspace;
    return t.f32 ? ws.f32(t.slot, t.perImage * batch) : ws.u8(t.slot, t.perImage * batch);
  }

  /** Index of the largest logit per image. */
  classify(input: ModelInput, batch = 1): Int32Array {
    const logits = this.run(input, batch);
    return argmax(logits, logits.length / elementCount(this.graph.shapes.get(this.model.layers[this.model.layers.length - 1].name)!));
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
    const single: MatmulStep = { ...s, requantFor: -1, residual: undefined };
    const st = this.stepState(single, resolvePrecision(this.model, bits.length, bits));
    st.weights ??= this.prepare(q, bit);
    const [n, k] = matrixShape(s.layer);
    const plan = this.plan;
    return {
      inShape: s.inShape,
      run: (x, batch) => {
        const ws = this.backend.workspace;
        const rows = batch * elementCount(s.outShape) / n;
        ws.reserve(plan.codes, x.length);
        ws.reserve(plan.patches, rows * k);
        ws.reserve(plan.single, rows * n * 4);
        this.runQuantized(single, st, x, batch, () => ws.f32(plan.single, rows * n));
      },
    };
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

  private runStep(s: Step, state: StepState, batch: number): void {
    switch (s.kind) {
      case 'matmul': {
        const x = this.view(s.input, batch);
        const out = () => this.view(s.output, batch);
        if (s.q < 0) this.runFloat(s, state, x as Float32Array, batch, out);
        else this.runQuantized(s, state, x, batch, out);
        return;
      }
      case 'add': {
        addTensors(s.inputs.map((name) => this.view(name, batch) as Float32Array), s.relu, this.view(s.output, batch) as Float32Array);
        return;
      }
      case 'batchnorm': {
        const x = this.view(s.input, batch) as Float32Array;
        const y = this.view(s.output, batch) as Float32Array;
        const C = s.layer.channels;
        const set = batchNormSet(s.layer, this.graph.quantIndex, this.current!.bitIndex, this.model.bits.length);
        const p = s.layer.params.subarray(set * 4 * C, (set + 1) * 4 * C);
        for (let i = 0; i < x.length; i++) { const c = i % C; y[i] = (p[c] * (x[i] - p[2 * C + c])) / Math.sqrt(p[3 * C + c] + s.layer.epsilon) + p[C + c]; }
        return;
      }
      case 'relu': {
        const x = this.view(s.input, batch) as Float32Array;
        const y = this.view(s.output, batch) as Float32Array;
        for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : 0;
        return;
      }
      case 'flatten': return; // aliases its input
      case 'pool': avgPool(this.view(s.input, batch) as Float32Array, s, batch, this.view(s.output, batch) as Float32Array); return;
    }
  }

  /** The residual view is taken right before the GEMM (earlier calls may have grown the memory). */
  private epilogue(s: MatmulStep, st: StepState, batch: number): Epilogue {
    return s.residual === undefined ? st.ep : { ...st.ep, residual: this.view(s.residual, batch) as Float32Array };
  }

  private runQuantized(s: MatmulStep, st: StepState, x: Float32Array | Uint8Array, batch: number, out: () => Float32Array | Uint8Array): void {
    const b = this.backend;
    const ws = b.workspace;
    const codes = x instanceof Uint8Array ? x : b.quantize(x, st.ascale, st.abits, ws.u8(this.plan.codes, x.length)); // eq. 4
    this.codeHook?.(s.layer.name, codes);
    let a = codes;
    let m = batch;
    if (s.layer.op === 'conv2d') {
      const g = geometry(s.layer, s.inShape, batch);
      m = batch * g.outH * g.outW;
      if (!isPointwise(g)) a = b.im2col(codes, g, ws.u8(this.plan.patches, m * st.weights!.k));
    }
    b.gemm(a, m, st.abits, st.weights!, this.epilogue(s, st, batch), out());
  }

  /** Float conv/dense (first and last layers): float32 im2col + the backend's float GEMM, same epilogue. */
  private runFloat(s: MatmulStep, st: StepState, x: Float32Array, batch: number, out: () => Float32Array | Uint8Array): void {
    const w = this.floatWeights.get(s.layer.name)!;
    const l = s.layer;
    let a = x;
    let m = batch;
    if (l.op === 'conv2d') {
      const g = geometry(l, s.inShape, batch);
      m = batch * g.outH * g.outW;
      if (!isPointwise(g)) a = this.backend.im2colFloat(x, g, this.backend.workspace.f32(this.plan.floatPatches, m * w.k));
    }
    const { wScale: _w, aScale: _a, ...ep } = this.epilogue(s, st, batch);
    this.backend.gemmFloat(a, m, w, ep, out());
  }
}

/** Elementwise sum of float tensors into y, with an optional fused ReLU (small monomorphic loops: V8 keeps them optimized). */
function addTensors(xs: Float32Array[], relu: boolean, y: Float32Array): Float32Array {
  y.set(xs[0]);
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

function avgPool(x: Float32Array, s: PoolStep, batch: number, y: Float32Array): Float32Array {
  const [H, W, C] = s.inShape;
  const r = padBefore(H, s.pool[0], s.strides[0], s.padding);
  const c = padBefore(W, s.pool[1], s.strides[1], s.padding);
  y.fill(0);
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

/**
 * Turns layers into steps, fusing BatchNorm, ReLU and requantization where a tensor has a single
 * reader, and a two-input add (+ ReLU) into the epilogue of its later matmul input when that
 * input has no other reader and no ReLU of its own (float32 a + b = b + a, so the sum is unchanged).
 */
function compile(model: Model, graph: GraphInfo, fuseResidual: boolean): Step[] {
  const readersOf = new Map<string, Layer[]>();
  for (const l of model.layers) for (const i of l.inputs) readersOf.set(i, [...(readersOf.get(i) ?? []), l]);
  const soleReader = (name: string): Layer | undefined => (graph.readers.get(name) === 1 ? readersOf.get(name)?.[0] : undefined);
  const fused = new Set<string>();
  const steps: Step[] = [];
  /** The quantized layer that is the sole reader of `name` (its eq. 4 fuses into the producer), or -1. */
  const requantOf = (name: string): number => {
    const consumer = soleReader(name);
    return consumer && graph.quantIndex.has(consumer.name) ? graph.quantIndex.get(consumer.name)! : -1;
  };
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
        const q = graph.quantIndex.get(l.name) ?? -1;
        steps.push({ kind: 'matmul', layer: l, q, input, inShape, outShape: graph.shapes.get(l.name)!, bn, relu, requantFor: requantOf(output), output });
        break;
      }
      case 'add': {
        const after = soleReader(l.name);
        const relu = after?.op === 'relu';
        if (relu) fused.add(after!.name);
        const output = relu ? after!.name : l.name;
        const at = l.inputs.map((name) => steps.findIndex((s) => s.output === name));
        const j = Math.max(...at);
        const host = steps[j];
        if (fuseResidual && l.inputs.length === 2 && l.inputs[0] !== l.inputs[1] && host?.kind === 'matmul' && !host.relu && graph.readers.get(host.output) === 1) {
          host.residual = l.inputs[at[0] === j ? 1 : 0];
          host.relu = relu;
          host.output = output;
          host.requantFor = requantOf(output);
          break;
        }
        steps.push({ kind: 'add', inputs: l.inputs, relu, output });
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

/** Slot assignment: each tensor takes a free slot (best fit) and frees it after its last reader; flatten aliases its input. */
function planWorkspace(steps: Step[], graph: GraphInfo, last: string): WorkspacePlan {
  const root = new Map<string, string>([['input', 'input']]);
  for (const s of steps) root.set(s.output, s.kind === 'flatten' ? root.get(s.input)! : s.output);
  const reads = (s: Step): string[] => (s.kind === 'add' ? s.inputs : s.kind === 'matmul' && s.residual !== undefined ? [s.input, s.residual] : [s.input]);
  const lastUse = new Map<string, number>();
  steps.forEach((s, i) => { for (const name of reads(s)) lastUse.set(root.get(name)!, i); });
  lastUse.set(root.get(last)!, Infinity);
  const slots: { bytes: number; busyUntil: number }[] = [];
  const tensors = new Map<string, Tensor>();
  const place = (name: string, f32: boolean, at: number) => {
    const perImage = elementCount(graph.shapes.get(name)!);
    const bytes = perImage * (f32 ? 4 : 1);
    const free = slots.map((x, id) => ({ ...x, id })).filter((x) => x.busyUntil < at);
    const fit = free.filter((x) => x.bytes >= bytes).sort((a, b) => a.bytes - b.bytes)[0] ?? free.sort((a, b) => b.bytes - a.bytes)[0];
    const id = fit ? fit.id : slots.push({ bytes: 0, busyUntil: 0 }) - 1;
    slots[id] = { bytes: Math.max(slots[id].bytes, bytes), busyUntil: lastUse.get(name) ?? at };
    tensors.set(name, { slot: id, perImage, f32 });
  };
  place('input', true, -1);
  let codes = 0, patches = 0, floatPatches = 0;
  steps.forEach((s, i) => {
    if (s.kind === 'flatten') { tensors.set(s.output, tensors.get(root.get(s.input)!)!); return; }
    if (s.kind === 'matmul') {
      const inF32 = tensors.get(s.input)!.f32;
      const [, k] = matrixShape(s.layer);
      const rows = elementCount(s.outShape) / (s.layer.op === 'conv2d' ? s.layer.outChannels : s.layer.outFeatures);
      if (s.q >= 0 && inF32) codes = Math.max(codes, elementCount(s.inShape));
      if (s.q >= 0) patches = Math.max(patches, rows * k);
      else floatPatches = Math.max(floatPatches, rows * k * 4);
      place(s.output, s.requantFor < 0, i);
    } else {
      place(s.output, true, i);
    }
  });
  const slotBytes = slots.map((x) => x.bytes);
  const base = slotBytes.length;
  slotBytes.push(codes, patches, floatPatches);
  return { tensors, slotBytes, codes: base, patches: base + 1, floatPatches: base + 2, single: base + 3 };
}
