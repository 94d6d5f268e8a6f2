// Training loops: float32 pre-training, then multi-precision training with Algorithm A.2 (a step
// after each bit, ALRS on the quantization scales), Algorithm A.1 (gradients accumulated over
// the bits, one step) or separate precision (one network per bit), with checkpoints that
// restore the run exactly (weights, optimizer state, RNG state, data position).
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { cosineRate } from '../math/schedule.ts';
import { Adam, ADAM_DEFAULTS, type AdamState } from '../math/adam.ts';
import { CHECKPOINT_FILE, loadCheckpoint, saveCheckpoint, writeFileAtomic } from '../io/checkpoint.ts';
import { limitSplits, loadDataset, makeBatch, NO_AUGMENT, type Dataset, type Split } from '../data/datasets.ts';
import { buildModel } from '../nn/models.ts';
import { Network, type BitChoice } from '../nn/network.ts';
import { LazyParallel, type DataParallel } from '../parallel/parallel.ts';
import type { GradRequest } from '../parallel/shards.ts';
import { resolveRecipe, type Recipe } from './recipe.ts';
import { Rng, deriveRng, type RngState } from '../math/rng.ts';
import { calibrate } from './calibrate.ts';
import { reestimateBn, reestimationImages } from './bn-reestimate.ts';
import { precisionName } from './evaluate.ts';
import { DivergenceError, ScaleRates, trainStep, type StepOptimizers } from './step.ts';

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
  /** Wall time of the epoch's steps (its evaluation excluded), the part before a stop included. */
  seconds: number;
  /**
   * CPU time of the process (every thread, the workers' too) over the same steps: unlike the wall
   * time it does not count time taken by other jobs on a shared machine, or time stopped. Undefined
   * when part of the epoch ran in a process that did not record it.
   */
  cpuSeconds?: number;
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
  /** Seconds the current epoch's steps took before this checkpoint (absent in older ones: 0). */
  epochSeconds?: number;
  /** CPU seconds of the same steps (absent: not recorded). */
  epochCpuSeconds?: number;
}

/** CPU seconds this process has used, every thread. */
function cpuSecondsNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * One clock (wall or process CPU) over an epoch's steps. A resumed epoch carries the seconds its
 * checkpoint recorded, so a stopped and resumed epoch is timed whole; a checkpoint that did not record
 * them leaves only this process's part timed.
 */
class EpochClock {
  private start?: number;
  private whole = true;
  /** Seconds of the current epoch's steps before this process; undefined: not recorded. */
  private carried: number | undefined = 0;
  constructor(private readonly now: () => number) {}
  /** On resume: the seconds the checkpoint recorded for the epoch's steps so far. */
  carry(seconds: number | undefined): void { this.carried = seconds; }
  /** Starts timing an epoch's steps, counting the carried seconds. */
  begin(): void {
    this.whole = this.carried !== undefined;
    this.start = this.now() - (this.carried ?? 0);
    this.carried = 0;
  }
  /** Whether the clock covers every step of the epoch so far. */
  get coversEpoch(): boolean { return this.start === undefined ? this.carried !== undefined : this.whole; }
  /** Seconds of the epoch's steps so far that this clock saw. */
  elapsed(): number { return this.start === undefined ? this.carried ?? 0 : this.now() - this.start; }
  /** elapsed() when it covers the whole epoch so far, else undefined. */
  total(): number | undefined { return this.coversEpoch ? this.elapsed() : undefined; }
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
  /** ALRS of the scales, with eq. 6's floor hits and steps per bit ('paper'). */
  private readonly alrs: ScaleRates;
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
    ({ train: this.train, test: this.test } = limitSplits(ds, r));
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
    this.alrs = new ScaleRates(r.alrs, r.bits);
  }

  /** eq. 6 floor hits per bit so far (ALRS 'paper'). */
  get alrsFloorHits(): Record<string, number> { return this.alrs.floorHits; }
  /** Scale steps per bit so far (ALRS 'paper'). */
  get alrsSteps(): Record<string, number> { return this.alrs.steps; }

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
    t.alrs.load(st.alrsFloorHits, st.alrsSteps);
    t.history = st.history;
    // a checkpoint at an epoch's start has no steps to account for
    t.wallClock.carry(st.step === 0 ? 0 : st.epochSeconds);
    t.cpuClock.carry(st.step === 0 ? 0 : st.epochCpuSeconds);
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
      epochSeconds: this.step === 0 ? 0 : this.wallClock.total(),
      epochCpuSeconds: this.step === 0 ? 0 : this.cpuClock.total(),
    };
    saveCheckpoint(path, st);
    return path;
  }

  private stopRequested = false;
  private readonly wallClock = new EpochClock(() => Date.now() / 1000);
  private readonly cpuClock = new EpochClock(cpuSecondsNow);

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
      this.wallClock.begin();
      this.cpuClock.begin();
      // steps before a resume that the wall clock did not see are left out of images/s
      const untimed = this.wallClock.coversEpoch ? 0 : this.step;
      let lossSum = 0;
      let lossCount = 0;
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
      const seconds = this.wallClock.elapsed();
      const cpuSeconds = this.cpuClock.total();
      const info: EpochInfo = {
        phase, epoch: this.epoch, accuracy: await this.evaluateAll(phase), loss: lossCount ? lossSum / lossCount : NaN, seconds, ...(cpuSeconds === undefined ? {} : { cpuSeconds }),
        imagesPerSec: ((S - untimed) * r.batchSize) / Math.max(seconds, 1e-9),
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
    if (phase === 'pretrain') return this.stepNet(0, { bits: [null], useTeacher: false, keepTeacher: false }, { all: this.opts[0].pre }, lr);
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

  /** One optimizer step of network `i` on the current batch (see step.ts); returns the mean loss. */
  private async stepNet(i: number, req: Omit<GradRequest, 'net'>, optimizers: StepOptimizers, lr: number, scaleRate?: (grads: Map<string, Float32Array>) => number): Promise<number> {
    return trainStep(await this.parallel(), this.nets[i], { net: i, ...req }, {
      optimizers, lr, scaleRate,
      diverged: (loss) => {
        const which = req.bits.length === 1 ? ` (${precisionName(typeof req.bits[0] === 'number' ? req.bits[0] : null)})` : '';
        return new DivergenceError(`loss is ${loss} at epoch ${this.epoch} step ${this.step}${which}; stopping. The last good checkpoint is ${this.checkpointPath ?? '(none: no --out)'}`);
      },
    });
  }

  /** Algorithm A.2: for each bit, high to low: forward, backward, step weights at λ and scales at λ_b (ALRS). */
  private async stepA2(i: number, lr: number): Promise<number> {
    const net = this.nets[i];
    const opt = this.opts[i];
    const bits = net.quant.bits;
    const distill = this.recipe.distill && bits.length > 1;
    let sum = 0;
    for (let rank = 0; rank < bits.length; rank++) {
      const b = bits[rank];
      sum += await this.stepNet(i, { bits: [b], useTeacher: distill && rank > 0, keepTeacher: distill && rank === 0 }, { weights: opt.w, scales: opt.s }, lr,
        (grads) => this.scaleRate(net, b, rank, lr, grads) * this.recipe.scaleLrFactor);
    }
    return sum / bits.length;
  }

  /** λ_b of bit b's quantization scales (ALRS, every layer at b). */
  private scaleRate(net: Network, b: number, rank: number, lr: number, grads: Map<string, Float32Array>): number {
    return this.alrs.rate(net, lr, rank, b, net.quantized.map(() => b), grads);
  }

  /** Algorithm A.1: losses of all bits summed (gradients accumulate), one step (no ALRS: one rate). */
  private stepA1(lr: number): Promise<number> {
    const opt = this.opts[0];
    return this.stepNet(0, { bits: [...this.nets[0].quant.bits], useTeacher: false, keepTeacher: false }, { weights: opt.w, scales: opt.s }, lr, () => lr * this.recipe.scaleLrFactor);
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

  /** Start of quantized training: scales and per-bit BatchNorm sets from the float32 network (calibrate.ts). */
  async calibrate(): Promise<void> {
    await calibrate(this.nets, this.ds, this.train);
    this.calibrated = true;
  }

  /**
   * After quantized training (recipe.bnReestimate > 0): every network's BatchNorm statistics at its
   * bits re-estimated over that many training images in batches of the BN shard size
   * (bn-reestimate.ts), and the test accuracy measured again. `before` is the last epoch's (moving
   * averages). Starts from the checkpoint's statistics, which it does not overwrite, so a run
   * stopped here does the same again on resume. Undefined when off or nothing was trained.
   */
  async reestimateBn(): Promise<{ images: number; before: Record<string, number>; after: Record<string, number> } | undefined> {
    const r = this.recipe;
    const last = this.history[this.history.length - 1];
    if (!r.bnReestimate || r.epochs === 0 || !last || last.phase !== 'quant') return undefined;
    const batch = Math.floor(r.batchSize / r.shards!);
    const indices = reestimationImages(this.train, r.bnReestimate, batch, r.seed);
    for (const net of this.nets) await reestimateBn(net, this.ds, this.train, net.quant.bits, indices, batch);
    return { images: indices.length, before: last.accuracy, after: await this.evaluateAll('quant') };
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

export function hasCheckpoint(outDir: string): boolean {
  return existsSync(join(outDir, CHECKPOINT_FILE));
}
