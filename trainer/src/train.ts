// Training loops: float32 pre-training, then multi-precision training with Algorithm A.2 (a step
// after each bit, ALRS on the quantization scales), Algorithm A.1 (gradients accumulated over
// the bits, one step) or separate precision (one network per bit), with checkpoints that
// restore the run exactly (weights, optimizer state, RNG state, data position).
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { alrsCodeRate, alrsEta, alrsPaperRate, cosineRate } from './alrs.ts';
import { Adam, ADAM_DEFAULTS, type AdamState } from './adam.ts';
import { CHECKPOINT_FILE, loadCheckpoint, saveCheckpoint, writeFileAtomic } from './checkpoint.ts';
import { loadDataset, makeBatch, stratifiedSubset, NO_AUGMENT, type Dataset, type Split } from './data.ts';
import { buildModel } from './models.ts';
import { Network, type BitChoice } from './network.ts';
import { LazyParallel, applyBnStats, gradTensors, type BnStats, type DataParallel, type GradRequest } from './parallel.ts';
import { initActivationScale, initWeightScale } from './quantizers.ts';
import { resolveRecipe, type Recipe } from './recipe.ts';
import { Rng, deriveRng, type RngState } from './rng.ts';

export type Phase = 'pretrain' | 'quant';

export interface StepInfo {
  phase: Phase; epoch: number; epochs: number; step: number; steps: number;
  /** Mean loss over the bits trained in this step. */
  loss: number;
  images: number;
  ms: number;
}

export interface EpochInfo {
  phase: Phase;
  epoch: number;
  /** Test accuracy in [0, 1] by precision: 'fp32' or 'w8a8', 'w6a6', … */
  accuracy: Record<string, number>;
  loss: number;
  seconds: number;
  imagesPerSec: number;
  /** eq. 6 floor hits / scale steps per bit so far (ALRS 'paper'). */
  alrsFloorHits: Record<string, number>;
  alrsSteps: Record<string, number>;
}

export interface TrainEvents {
  onStep?(s: StepInfo): void;
  onEpoch?(e: EpochInfo): void;
  onCheckpoint?(path: string, epoch: number, step: number): void;
}

export interface TrainerOptions {
  /** Threads computing gradients, default 1; at most the recipe's shard count is used. */
  workers?: number;
  backend?: string;
}

export class DivergenceError extends Error {
  constructor(message: string) { super(message); this.name = 'DivergenceError'; }
}

/** run() stopped at a step boundary because requestStop() was called; `checkpoint` holds the position to resume from. */
export class InterruptedError extends Error {
  constructor(readonly checkpoint: string | undefined) { super(`interrupted${checkpoint ? `; the last checkpoint is ${checkpoint}` : ''}`); this.name = 'InterruptedError'; }
}

interface Optimizers { pre: Adam; w: Adam; s: Adam }

interface CheckpointState {
  version: 1;
  recipe: Recipe;
  epoch: number;
  step: number;
  calibrated: boolean;
  augRng: RngState;
  alrsFloorHits: Record<string, number>;
  alrsSteps: Record<string, number>;
  nets: Record<string, Float32Array>[];
  optimizers: { pre: AdamState; w: AdamState; s: AdamState }[];
  history: EpochInfo[];
}

export const precisionName = (b: number | null) => (b === null ? 'fp32' : `w${b}a${b}`);

/** The training and test images a recipe uses (stratified subsets when limited). */
export function recipeData(recipe: Recipe, ds: Dataset): { train: Split; test: Split } {
  const px = ds.height * ds.width * ds.channels;
  const cut = (s: Split, limit: number | null) => (limit === null || limit >= s.count ? s : stratifiedSubset(s, Math.ceil(limit / ds.classes), ds.classes, px));
  return { train: cut(ds.train, recipe.trainLimit), test: cut(ds.test, recipe.testLimit) };
}

function isFiniteArray(a: ArrayLike<number>): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

export class Trainer {
  readonly recipe: Recipe;
  readonly nets: Network[];
  private opts: Optimizers[];
  readonly train: Split;
  readonly test: Split;
  epoch = 0;
  step = 0;
  calibrated = false;
  private augRng: Rng;
  alrsFloorHits: Record<string, number> = {};
  alrsSteps: Record<string, number> = {};
  history: EpochInfo[] = [];

  /** Threads that compute gradients (rank 0 is this one). */
  readonly workers: number;
  /** tfjs backend the worker threads load (default: this thread's). */
  readonly backend?: string;
  private readonly dp: LazyParallel;

  constructor(recipe: Partial<Recipe>, readonly ds: Dataset, readonly outDir?: string, options: TrainerOptions = {}) {
    const resolved = resolveRecipe(recipe);
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers: expected an integer >= 1, got ${workers}`);
    // the shard count fixes the BatchNorm grouping; a resumed run keeps its own
    const shards = resolved.shards ?? workers;
    this.recipe = { ...resolved, shards };
    this.workers = Math.min(workers, shards);
    this.backend = options.backend;
    const r = this.recipe;
    if (r.batchSize < shards) throw new RangeError(`recipe.shards: expected at most the batch size ${r.batchSize}, got ${shards}`);
    if (ds.name !== r.data) throw new RangeError(`recipe.data: expected ${ds.name} (the loaded dataset), got ${r.data}`);
    ({ train: this.train, test: this.test } = recipeData(r, ds));
    if (this.train.count < r.batchSize) throw new RangeError(`recipe.batchSize: expected at most ${this.train.count} (training images), got ${r.batchSize}`);
    const spec = buildModel(r.model, [ds.height, ds.width, ds.channels], ds.classes, r.modelOptions);
    const bitSets = r.algorithm === 'separate' ? r.bits.map((b) => [b]) : [r.bits];
    const quantizer = r.algorithm === 'separate' ? 'double-rounding' : r.quantizer;
    // Every network starts from the same initial weights (drawn from the seed).
    this.nets = bitSets.map((bits) => new Network(spec, { bits, quantizer, perChannel: r.perChannel }, deriveRng(r.seed, 0)));
    this.dp = new LazyParallel(this.nets, { ranks: this.workers, shards, maxBatch: r.batchSize, shape: [ds.height, ds.width, ds.channels], classes: ds.classes, backend: options.backend });
    this.opts = this.nets.map(() => ({
      pre: new Adam({ ...ADAM_DEFAULTS, weightDecay: r.weightDecay }),
      w: new Adam({ ...ADAM_DEFAULTS, weightDecay: r.weightDecay }),
      s: new Adam({ ...ADAM_DEFAULTS, weightDecay: 0 }),
    }));
    this.augRng = deriveRng(r.seed, 2);
    for (const b of r.bits) { this.alrsFloorHits[b] = 0; this.alrsSteps[b] = 0; }
  }

  get totalEpochs(): number { return this.recipe.pretrainEpochs + this.recipe.epochs; }
  get stepsPerEpoch(): number { return Math.floor(this.train.count / this.recipe.batchSize); }
  phaseOf(epoch: number): Phase { return epoch < this.recipe.pretrainEpochs ? 'pretrain' : 'quant'; }
  get checkpointPath(): string | undefined { return this.outDir ? join(this.outDir, CHECKPOINT_FILE) : undefined; }

  /** Resumes from DIR/checkpoint.json. */
  static resume(outDir: string, ds?: Dataset, options: TrainerOptions = {}): Trainer {
    const path = join(outDir, CHECKPOINT_FILE);
    const st = loadCheckpoint<CheckpointState>(path);
    if (st.version !== 1) throw new RangeError(`${path}: version: expected 1, got ${st.version}`);
    // checkpoints from before shards were recorded trained with one shard
    const t = new Trainer({ ...st.recipe, shards: st.recipe.shards ?? 1 }, ds ?? loadDataset(st.recipe.data), outDir, options);
    t.epoch = st.epoch;
    t.step = st.step;
    t.calibrated = st.calibrated;
    t.augRng = new Rng(st.augRng);
    t.alrsFloorHits = st.alrsFloorHits;
    t.alrsSteps = st.alrsSteps;
    t.history = st.history;
    t.nets.forEach((n, i) => {
      n.load(st.nets[i]);
      t.opts[i].pre.setState(st.optimizers[i].pre, n.vars);
      t.opts[i].w.setState(st.optimizers[i].w, n.vars);
      t.opts[i].s.setState(st.optimizers[i].s, n.vars);
    });
    return t;
  }

  async saveCheckpoint(): Promise<string | undefined> {
    const path = this.checkpointPath;
    if (!path) return undefined;
    const nets = await Promise.all(this.nets.map((n) => n.snapshot()));
    for (const snap of nets) {
      const bad = Object.entries(snap).find(([, v]) => !isFiniteArray(v));
      if (bad) throw new DivergenceError(`weight ${bad[0]} holds NaN or Inf at epoch ${this.epoch} step ${this.step}; not saving it. The last good checkpoint is ${path}`);
    }
    const st: CheckpointState = {
      version: 1, recipe: this.recipe, epoch: this.epoch, step: this.step, calibrated: this.calibrated,
      augRng: this.augRng.state(), alrsFloorHits: this.alrsFloorHits, alrsSteps: this.alrsSteps,
      nets,
      optimizers: await Promise.all(this.opts.map(async (o) => ({ pre: await o.pre.getState(), w: await o.w.getState(), s: await o.s.getState() }))),
      history: this.history,
    };
    saveCheckpoint(path, st);
    return path;
  }

  private stopRequested = false;

  /** Asks run() to stop after the step in progress (for Ctrl-C); it then throws InterruptedError. */
  requestStop(): void { this.stopRequested = true; }

  /** Runs from the current position to the end of the recipe. */
  async run(events: TrainEvents = {}): Promise<EpochInfo[]> {
    if (this.outDir) mkdirSync(this.outDir, { recursive: true });
    const r = this.recipe;
    const S = this.stepsPerEpoch;
    for (; this.epoch < this.totalEpochs; this.epoch++) {
      const phase = this.phaseOf(this.epoch);
      if (phase === 'quant' && !this.calibrated) await this.calibrate();
      const perm = deriveRng(r.seed, 1, this.epoch).permutation(this.train.count);
      const t0 = Date.now();
      let lossSum = 0;
      let lossCount = 0;
      const first = this.step;
      for (; this.step < S; ) {
        const ts = Date.now();
        const idx = perm.subarray(this.step * r.batchSize, (this.step + 1) * r.batchSize);
        const batch = makeBatch(this.ds, this.train, idx, r.augment, this.augRng);
        const loss = await this.trainBatch(phase, batch.x, batch.y, this.step);
        lossSum += loss;
        lossCount++;
        await this.checkWeights();
        this.step++;
        events.onStep?.({ phase, epoch: this.epoch, epochs: this.totalEpochs, step: this.step, steps: S, loss, images: idx.length, ms: Date.now() - ts });
        // a step may never leave the microtask queue (tfjs's cpu backend): yield once so a
        // Ctrl-C handler gets to run and call requestStop()
        await new Promise((resolve) => setImmediate(resolve));
        if (this.stopRequested) {
          // mid-epoch the finished steps are worth keeping; at an epoch's last step the
          // epoch-end evaluation is skipped and the previous checkpoint stands
          const p = this.step < S ? await this.saveCheckpoint() : undefined;
          if (p) events.onCheckpoint?.(p, this.epoch, this.step);
          throw new InterruptedError(this.checkpointPath && hasCheckpoint(this.outDir!) ? this.checkpointPath : undefined);
        }
        if (r.checkpointEvery && this.step % r.checkpointEvery === 0 && this.step < S) {
          const p = await this.saveCheckpoint();
          if (p) events.onCheckpoint?.(p, this.epoch, this.step);
        }
      }
      const seconds = (Date.now() - t0) / 1000;
      const info: EpochInfo = {
        phase, epoch: this.epoch, accuracy: await this.evaluateAll(phase), loss: lossCount ? lossSum / lossCount : NaN, seconds,
        imagesPerSec: ((S - first) * r.batchSize) / Math.max(seconds, 1e-9),
        alrsFloorHits: { ...this.alrsFloorHits }, alrsSteps: { ...this.alrsSteps },
      };
      this.history.push(info);
      this.step = 0;
      this.epoch++;
      const p = await this.saveCheckpoint();
      this.epoch--;
      if (p) {
        events.onCheckpoint?.(p, this.epoch + 1, 0);
        writeFileAtomic(join(this.outDir!, 'metrics.jsonl'), this.history.map((h) => JSON.stringify(h)).join('\n') + '\n');
      }
      events.onEpoch?.(info);
    }
    return this.history;
  }

  /** Learning rate of the current phase at this step (cosine, no warm-up). */
  private rate(phase: Phase, step: number): number {
    const r = this.recipe;
    const S = this.stepsPerEpoch;
    return phase === 'pretrain'
      ? cosineRate(r.pretrainLr, this.epoch * S + step, r.pretrainEpochs * S)
      : cosineRate(r.lr, (this.epoch - r.pretrainEpochs) * S + step, r.epochs * S);
  }

  /** One optimizer batch of the given phase (all bits for 'quant'); returns the mean loss. */
  async trainBatch(phase: Phase, xs: Float32Array, ys: Int32Array, step: number): Promise<number> {
    const r = this.recipe;
    const lr = this.rate(phase, step);
    const dp = await this.parallel();
    dp.setBatch(xs, ys);
    if (phase === 'pretrain') return this.stepOneBit(0, this.opts[0].pre, null, lr);
    if (r.algorithm === 'a1') return this.stepA1(lr);
    if (r.algorithm === 'separate') {
      let sum = 0;
      for (let i = 0; i < this.nets.length; i++) sum += await this.stepA2(i, lr);
      return sum / this.nets.length;
    }
    return this.stepA2(0, lr);
  }

  /** The data-parallel ranks, started on first use with the options given to the constructor. */
  parallel(): Promise<DataParallel> { return this.dp.get(); }

  /** Stops the worker threads (the trainer can start them again). */
  close(): Promise<void> { return this.dp.close(); }

  /** Gradients of the current batch over all ranks; a non-finite loss stops training. */
  private async lossAndGrads(req: GradRequest): Promise<{ loss: number; grads: Map<string, Float32Array>; bn: BnStats[] }> {
    const res = await (await this.parallel()).grads(req);
    const loss = res.loss / req.bits.length;
    if (!Number.isFinite(loss)) {
      const which = req.bits.length === 1 ? ` (${precisionName(typeof req.bits[0] === 'number' ? req.bits[0] : null)})` : '';
      throw new DivergenceError(`loss is ${loss} at epoch ${this.epoch} step ${this.step}${which}; stopping. The last good checkpoint is ${this.checkpointPath ?? '(none: no --out)'}`);
    }
    return { loss, grads: res.grads, bn: res.bn };
  }

  /** One bit (or float32), one optimizer step on everything. */
  private async stepOneBit(i: number, opt: Adam, bits: BitChoice, lr: number): Promise<number> {
    const net = this.nets[i];
    const { loss, grads, bn } = await this.lossAndGrads({ net: i, bits: [bits], useTeacher: false, keepTeacher: false });
    tf.tidy(() => {
      const { w, s } = gradTensors(net, grads);
      opt.apply(net.vars, { ...w, ...s }, lr);
    });
    applyBnStats(net, bn);
    return loss;
  }

  /** Learning rate of bit b's quantization scales (ALRS). */
  private scaleRate(net: Network, b: number, rank: number, lr: number, grads: Map<string, Float32Array>): number {
    const mode = this.recipe.alrs;
    if (mode === 'off') return lr;
    if (mode === 'code') return alrsCodeRate(lr, rank);
    const perLayer = net.quantized.map((q) => {
      const parts = [`${q.name}/wscale`, `${q.name}/wscale@${b}`, `${q.name}/ascale@${b}`].filter((n) => grads.has(n));
      return Float32Array.from(parts.flatMap((n) => Array.from(grads.get(n)!)));
    });
    const { rate, floored } = alrsPaperRate(lr, alrsEta(net.h - b), perLayer); // eq. 6–7
    this.alrsSteps[b]++;
    if (floored) this.alrsFloorHits[b]++;
    return rate;
  }

  /** Algorithm A.2: for each bit, high to low: forward, backward, step weights at λ and scales at λ_b. */
  private async stepA2(i: number, lr: number): Promise<number> {
    const net = this.nets[i];
    const opt = this.opts[i];
    const bits = net.quant.bits;
    const distill = this.recipe.distill && bits.length > 1;
    let sum = 0;
    for (let rank = 0; rank < bits.length; rank++) {
      const b = bits[rank];
      const { loss, grads, bn } = await this.lossAndGrads({ net: i, bits: [b], useTeacher: distill && rank > 0, keepTeacher: distill && rank === 0 });
      sum += loss;
      const lrB = this.scaleRate(net, b, rank, lr, grads);
      tf.tidy(() => {
        const { w, s } = gradTensors(net, grads);
        opt.w.apply(net.vars, w, lr);
        opt.s.apply(net.vars, s, lrB * this.recipe.scaleLrFactor);
      });
      net.clampScales();
      applyBnStats(net, bn);
    }
    return sum / bits.length;
  }

  /** Algorithm A.1: losses of all bits summed (gradients accumulate), one step (no ALRS: one rate). */
  private async stepA1(lr: number): Promise<number> {
    const net = this.nets[0];
    const opt = this.opts[0];
    const { loss, grads, bn } = await this.lossAndGrads({ net: 0, bits: [...net.quant.bits], useTeacher: false, keepTeacher: false });
    tf.tidy(() => {
      const { w, s } = gradTensors(net, grads);
      opt.w.apply(net.vars, w, lr);
      opt.s.apply(net.vars, s, lr * this.recipe.scaleLrFactor);
    });
    net.clampScales();
    applyBnStats(net, bn);
    return loss;
  }

  /** NaN or Inf in any weight stops training before a checkpoint can record it. */
  private async checkWeights(): Promise<void> {
    for (const net of this.nets) {
      // a chain of adds, not addN: WebGPU binds every addN input at once (8 buffers by default)
      const sum = tf.tidy(() => net.trainable().map((v) => tf.sum(tf.abs(v))).reduce((a, b) => tf.add(a, b)));
      const total = (await sum.data())[0];
      sum.dispose();
      if (!Number.isFinite(total)) {
        const snap = await net.snapshot();
        const bad = Object.entries(snap).find(([, v]) => !isFiniteArray(v))?.[0];
        throw new DivergenceError(`weight ${bad ?? '?'} holds NaN or Inf after epoch ${this.epoch} step ${this.step}; stopping. The last good checkpoint is ${this.checkpointPath ?? '(none: no --out)'}`);
      }
    }
  }

  /**
   * Start of quantized training: per-bit BN sets start from the float32 ones, weight scales from
   * initWeightScale, activation scales from initActivationScale on a fixed calibration batch
   * (the first 256 training images, no augmentation) run at full precision.
   */
  async calibrate(): Promise<void> {
    const [first, ...rest] = this.nets;
    const floatNames = [...first.vars.keys()].filter((n) => first.kinds.get(n) !== 'scale' && (!n.includes('@') || n.endsWith('@fp') || n.endsWith('@single')));
    const floatValues = await first.snapshot();
    for (const net of rest) for (const n of floatNames) net.v(n).assign(tf.tensor(floatValues[n], net.v(n).shape));
    const count = Math.min(256, this.train.count);
    const idx = Int32Array.from({ length: count }, (_, i) => i);
    const { x } = makeBatch(this.ds, this.train, idx, NO_AUGMENT, new Rng(0));
    for (const net of this.nets) {
      net.copyFloatBnToBits();
      const kept = new Map<string, tf.Tensor>();
      tf.tidy(() => {
        net.forward(tf.tensor4d(x, [count, this.ds.height, this.ds.width, this.ds.channels]), null, false, (name, t) => kept.set(name, tf.keep(t)));
      });
      const inputs = new Map<string, Float32Array>();
      try {
        for (const [name, t] of kept) inputs.set(name, (await t.data()) as Float32Array);
      } finally {
        tf.dispose([...kept.values()]);
      }
      const values = await net.snapshot();
      for (const q of net.quantized) {
        const k = net.v(`${q.name}/kernel`);
        const w = values[`${q.name}/kernel`];
        const cout = k.shape[k.shape.length - 1];
        const scaleNames = net.vars.has(`${q.name}/wscale`) ? [[`${q.name}/wscale`, net.quant.bits]] as const : net.quant.bits.map((b) => [`${q.name}/wscale@${b}`, [b]] as const);
        for (const [sn, bits] of scaleNames) {
          if (!net.vars.has(sn)) continue;
          const h = bits[0];
          const s = net.quant.perChannel
            ? Float32Array.from({ length: cout }, (_, c) => initWeightScale(w.filter((_, i) => i % cout === c), h, [...bits]))
            : Float32Array.of(initWeightScale(w, h, [...bits]));
          net.v(sn).assign(tf.tensor(s));
        }
        const a = inputs.get(q.name)!;
        for (const b of net.quant.bits) net.v(`${q.name}/ascale@${b}`).assign(tf.tensor([initActivationScale(a, b)]));
      }
    }
    this.calibrated = true;
  }

  /** Test accuracy at every precision the current phase trains, the images split across the ranks. */
  async evaluateAll(phase: Phase): Promise<Record<string, number>> {
    const runs: [string, number, BitChoice][] = phase === 'pretrain' ? [['fp32', 0, null]]
      : this.recipe.algorithm === 'separate' ? this.nets.map((n, i) => [precisionName(n.quant.bits[0]), i, n.quant.bits[0]])
      : this.recipe.bits.map((b) => [precisionName(b), 0, b]);
    const dp = await this.parallel();
    const out: Record<string, number> = {};
    for (const [name, i, bits] of runs) {
      let correct = 0;
      for (let s = 0; s < this.test.count; s += dp.predictCapacity) {
        const idx = Int32Array.from({ length: Math.min(dp.predictCapacity, this.test.count - s) }, (_, j) => s + j);
        const { x, y } = makeBatch(this.ds, this.test, idx, NO_AUGMENT, new Rng(0));
        const pred = await dp.predict(i, bits, x, idx.length);
        for (let j = 0; j < idx.length; j++) if (pred[j] === y[j]) correct++;
      }
      out[name] = correct / this.test.count;
    }
    return out;
  }
}

/** Top-1 accuracy of `net` at `bits` on a split (BN in inference mode). */
export async function evaluate(net: Network, ds: Dataset, split: Split, bits: BitChoice, batch = 500): Promise<number> {
  return (await countCorrect(net, ds, split, bits, batch)).correct / split.count;
}

/** Predicted classes of every image of a split. */
export async function predict(net: Network, ds: Dataset, split: Split, bits: BitChoice, batch = 500): Promise<Int32Array> {
  return (await countCorrect(net, ds, split, bits, batch)).predictions;
}

async function countCorrect(net: Network, ds: Dataset, split: Split, bits: BitChoice, batch: number) {
  const predictions = new Int32Array(split.count);
  let correct = 0;
  for (let i = 0; i < split.count; i += batch) {
    const idx = Int32Array.from({ length: Math.min(batch, split.count - i) }, (_, j) => i + j);
    const { x, y } = makeBatch(ds, split, idx, NO_AUGMENT, new Rng(0));
    const classes = tf.tidy(() => net.forward(tf.tensor4d(x, [idx.length, ds.height, ds.width, ds.channels]), bits, false).logits.argMax(1));
    const pred = await classes.data();
    classes.dispose();
    for (let j = 0; j < idx.length; j++) {
      predictions[i + j] = pred[j];
      if (pred[j] === y[j]) correct++;
    }
  }
  return { correct, predictions };
}

export function hasCheckpoint(outDir: string): boolean {
  return existsSync(join(outDir, CHECKPOINT_FILE));
}
