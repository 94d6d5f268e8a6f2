// Fast executor: runs the compiled steps (compile.ts) on a backend, with every tensor in a slot of
// the backend's workspace (workspace.ts), and keeps prepared weights per (layer, bit) so switching
// precision only derives what has not been derived before (precision-state.ts).
import type { Model } from '@bitswitch/format';
import type { Epilogue, IntBackend, PreparedWeights } from './backend.ts';
import { compile, type MatmulStep, type Step } from './compile.ts';
import { analyseGraph, batchNormParams, batchNormSet, elementCount, type GraphInfo, type QuantLayer } from './graph.ts';
import { geometry, isPointwise, matrixShape } from './ops/conv.ts';
import { addInto, avgPoolInto, batchNormInto, reluInto } from './ops/float.ts';
import { resolvePrecision, type Precision, type PrecisionSpec } from './precision.ts';
import { stepState, WeightCache, type StepState } from './precision-state.ts';
import { checkInput } from './reference.ts';
import { graphInput, type ModelInput } from './input.ts';
import { planWorkspace, type WorkspacePlan } from './workspace.ts';

/** Options of the executor itself (the user-facing ones are load.ts's RuntimeOptions). */
export interface ExecutorOptions {
  /** Fuse `add` (+ ReLU) into the GEMM epilogue of its later matmul input (default true; false is for tests). */
  fuseResidual?: boolean;
  /** Write the next quantized layer's input codes in the epilogue of a float output with several readers (default true; false is for tests). */
  fuseQuantize?: boolean;
}

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
  private readonly cache: WeightCache;
  /** Prepared weights of the float (first and last) layers, by layer name. */
  private readonly floatWeights = new Map<string, PreparedWeights>();
  private states: (StepState | undefined)[] = [];
  /** γ, β, mean, variance of each standalone BatchNorm step at the current precision (batchNormParams), by step index. */
  private bnParams: (Float32Array | undefined)[] = [];
  private current?: Precision;
  private lastSwitch?: PrecisionInfo;
  /** For tests and debugging: receives each quantized layer's eq. 4 input codes (NHWC) during run(): a view on the workspace, valid during the call (copy to keep). */
  codeHook?: (layer: string, codes: Uint8Array) => void;

  /** Validates the graph and derives the weights of `precision` (default: the highest bit). */
  constructor(model: Model, backend: IntBackend, precision: PrecisionSpec = model.bits[0], options: ExecutorOptions = {}) {
    this.model = model;
    this.backend = backend;
    this.graph = analyseGraph(model);
    this.cache = new WeightCache(this.graph, backend);
    this.steps = compile(model, this.graph, options.fuseResidual ?? true, options.fuseQuantize ?? true);
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
    return this.apply(resolvePrecision(this.model, this.graph.quantized.length, spec), t0);
  }

  /** Makes `p` current: its step states (deriving the weights not cached yet) and its standalone BatchNorm parameters. */
  private apply(p: Precision, t0: number): PrecisionInfo {
    let derived = 0;
    this.states = this.steps.map((s) => {
      if (s.kind !== 'matmul') return undefined;
      const st = stepState(this.model, this.graph, s, p, this.cache);
      if (st.weights === undefined && s.q >= 0) {
        derived++;
        st.weights = this.cache.prepare(s.q, p.bits[s.q]);
      }
      return st;
    });
    this.bnParams = this.steps.map((s) => (s.kind === 'batchnorm'
      ? batchNormParams(s.layer, batchNormSet(s.layer, this.graph.quantIndex, p.bitIndex, this.model.bits.length), p.bn)
      : undefined));
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
    return { storedBytes: stored, activeBytes: active, cachedBytes: float + this.cache.bytes };
  }

  clearCache(): void {
    this.cache.clear();
    // the same resolved precision: a SubNet chosen by name keeps its label and statistics
    this.apply(this.current!, performance.now());
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
    this.plan.slotBytes.forEach((bytes, id) => { if (bytes > 0 && !this.patchesUnused(id)) ws.reserve(id, bytes * batch); });
    (this.view('input', batch) as Float32Array).set(input);
    for (const [i, s] of this.steps.entries()) this.runStep(s, this.states[i]!, batch, i);
    return (this.view(this.model.layers[this.model.layers.length - 1].name, batch) as Float32Array).slice();
  }

  /** A fresh view of a tensor (views die when the wasm memory grows). */
  private view(name: string, batch: number): Float32Array | Uint8Array {
    const t = this.plan.tensors.get(name)!;
    const ws = this.backend.workspace;
    return t.f32 ? ws.f32(t.slot, t.perImage * batch) : ws.u8(t.slot, t.perImage * batch);
  }

  private f32(name: string, batch: number): Float32Array {
    return this.view(name, batch) as Float32Array;
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
    const single: MatmulStep = { ...s, requantFor: -1, residual: undefined, codesFor: -1, codesReady: false };
    const st = stepState(this.model, this.graph, single, resolvePrecision(this.model, bits.length, bits), this.cache);
    st.weights ??= this.cache.prepare(q, bit);
    const [n, k] = matrixShape(s.layer);
    const plan = this.plan;
    return {
      inShape: s.inShape,
      run: (x, batch) => {
        const ws = this.backend.workspace;
        const rows = batch * elementCount(s.outShape) / n;
        ws.reserve(plan.codes, x.length);
        if (!this.patchesUnused(plan.patches)) ws.reserve(plan.patches, rows * k);
        ws.reserve(plan.single, rows * n * 4);
        this.runQuantized(single, st, x, batch, () => ws.f32(plan.single, rows * n), -1);
      },
    };
  }

  /** Whether slot `id` is the quantized convolutions' patch matrix and the backend never writes one (convGemm). */
  private patchesUnused(id: number): boolean {
    return id === this.plan.patches && this.backend.convGemm !== undefined;
  }

  private runStep(s: Step, state: StepState, batch: number, i: number): void {
    switch (s.kind) {
      case 'matmul': {
        // input codes the previous step's epilogue wrote (codesReady), else the input tensor
        const x = s.codesReady ? this.backend.workspace.u8(this.plan.nextCodes.get(i - 1)!, elementCount(s.inShape) * batch) : this.view(s.input, batch);
        const out = () => this.view(s.output, batch);
        if (s.q < 0) this.runFloat(s, state, x as Float32Array, batch, out, i);
        else this.runQuantized(s, state, x, batch, out, i);
        return;
      }
      case 'add':
        addInto(s.inputs.map((name) => this.f32(name, batch)), s.relu, this.f32(s.output, batch));
        return;
      case 'batchnorm':
        batchNormInto(s.layer, this.bnParams[i]!, this.f32(s.input, batch), this.f32(s.output, batch));
        return;
      case 'relu': reluInto(this.f32(s.input, batch), this.f32(s.output, batch)); return;
      case 'flatten': return; // aliases its input
      case 'pool': avgPoolInto(this.f32(s.input, batch), s.inShape, batch, s.pool, s.strides, s.padding, this.f32(s.output, batch)); return;
    }
  }

  /**
   * The residual and next-codes views are taken right before the GEMM (earlier calls may have grown
   * the memory). Step i's codes for the next step go to its nextCodes slot.
   */
  private epilogue(s: MatmulStep, st: StepState, batch: number, i: number): Epilogue {
    let ep = st.ep;
    if (s.residual !== undefined) ep = { ...ep, residual: this.view(s.residual, batch) as Float32Array };
    if (st.nextCodes && i >= 0) {
      const out = this.backend.workspace.u8(this.plan.nextCodes.get(i)!, elementCount(s.outShape) * batch);
      ep = { ...ep, codes: { out, ...st.nextCodes } };
    }
    return ep;
  }

  private runQuantized(s: MatmulStep, st: StepState, x: Float32Array | Uint8Array, batch: number, out: () => Float32Array | Uint8Array, i: number): void {
    const b = this.backend;
    const ws = b.workspace;
    const codes = x instanceof Uint8Array ? x : b.quantize(x, st.ascale, st.abits, ws.u8(this.plan.codes, x.length)); // eq. 4
    this.codeHook?.(s.layer.name, codes);
    let a = codes;
    let m = batch;
    if (s.layer.op === 'conv2d') {
      const g = geometry(s.layer, s.inShape, batch);
      m = batch * g.outH * g.outW;
      if (!isPointwise(g) && b.convGemm) {
        b.convGemm(codes, g, st.abits, st.weights!, this.epilogue(s, st, batch, i), out());
        return;
      }
      if (!isPointwise(g)) a = b.im2col(codes, g, ws.u8(this.plan.patches, m * st.weights!.k));
    }
    b.gemm(a, m, st.abits, st.weights!, this.epilogue(s, st, batch, i), out());
  }

  /** Float conv/dense (first and last layers): float32 im2col + the backend's float GEMM, same epilogue. */
  private runFloat(s: MatmulStep, st: StepState, x: Float32Array, batch: number, out: () => Float32Array | Uint8Array, i: number): void {
    const w = this.floatWeights.get(s.layer.name)!;
    const l = s.layer;
    let a = x;
    let m = batch;
    if (l.op === 'conv2d') {
      const g = geometry(l, s.inShape, batch);
      m = batch * g.outH * g.outW;
      if (!isPointwise(g)) a = this.backend.im2colFloat(x, g, this.backend.workspace.f32(this.plan.floatPatches, m * w.k));
    }
    const { wScale: _w, aScale: _a, ...ep } = this.epilogue(s, st, batch, i);
    this.backend.gemmFloat(a, m, w, ep, out());
  }
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

export { matrixShape };
export type { QuantLayer };
