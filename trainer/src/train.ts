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
import { Network, type BitChoice, type BnUpdate } from './network.ts';
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

export class DivergenceError extends Error {
  constructor(message: string) { super(message); this.name = 'DivergenceError'; }
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

  constructor(recipe: Partial<Recipe>, readonly ds: Dataset, readonly outDir?: string) {
    this.recipe = resolveRecipe(recipe);
    const r = this.recipe;
    if (ds.name !== r.data) throw new RangeError(`recipe.data: expected ${ds.name} (the loaded dataset), got ${r.data}`);
    ({ train: this.train, test: this.test } = recipeData(r, ds));
    if (this.train.count < r.batchSize) throw new RangeError(`recipe.batchSize: expected at most ${this.train.count} (training images), got ${r.batchSize}`);
    const spec = buildModel(r.model, [ds.height, ds.width, ds.channels], ds.classes, r.modelOptions);
    const bitSets = r.algorithm === 'separate' ? r.bits.map((b) => [b]) : [r.bits];
    const quantizer = r.algorithm === 'separate' ? 'double-rounding' : r.quantizer;
    // Every network starts from the same initial weights (drawn from the seed).
    this.nets = bitSets.map((bits) => new Network(spec, { bits, quantizer, perChannel: r.perChannel }, deriveRng(r.seed, 0)));
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
  static resume(outDir: string, ds?: Dataset): Trainer {
    const path = join(outDir, CHECKPOINT_FILE);
    const st = loadCheckpoint<CheckpointState>(path);
    if (st.version !== 1) throw new RangeError(`${path}: version: expected 1, got ${st.version}`);
    const t = new Trainer(st.recipe, ds ?? loadDataset(st.recipe.data), outDir);
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

  saveCheckpoint(): string | undefined {
    const path = this.checkpointPath;
    if (!path) return undefined;
    const nets = this.nets.map((n) => n.snapshot());
    for (const snap of nets) {
      const bad = Object.entries(snap).find(([, v]) => !isFiniteArray(v));
      if (bad) throw new DivergenceError(`weight ${bad[0]} holds NaN or Inf at epoch ${this.epoch} step ${this.step}; not saving it. The last good checkpoint is ${path}`);
    }
    const st: CheckpointState = {
      version: 1, recipe: this.recipe, epoch: this.epoch, step: this.step, calibrated: this.calibrated,
      augRng: this.augRng.state(), alrsFloorHits: this.alrsFloorHits, alrsSteps: this.alrsSteps,
      nets,
      optimizers: this.opts.map((o) => ({ pre: o.pre.getState(), w: o.w.getState(), s: o.s.getState() })),
      history: this.history,
    };
    saveCheckpoint(path, st);
    return path;
  }

  /** Runs from the current position to the end of the recipe. */
  run(events: TrainEvents = {}): EpochInfo[] {
    if (this.outDir) mkdirSync(this.outDir, { recursive: true });
    const r = this.recipe;
    const S = this.stepsPerEpoch;
    for (; this.epoch < this.totalEpochs; this.epoch++) {
      const phase = this.phaseOf(this.epoch);
      if (phase === 'quant' && !this.calibrated) this.calibrate();
      const perm = deriveRng(r.seed, 1, this.epoch).permutation(this.train.count);
      const t0 = Date.now();
      let lossSum = 0;
      let lossCount = 0;
      const first = this.step;
      for (; this.step < S; ) {
        const ts = Date.now();
        const idx = perm.subarray(this.step * r.batchSize, (this.step + 1) * r.batchSize);
        const batch = makeBatch(this.ds, this.train, idx, r.augment, this.augRng);
        const loss = this.trainBatch(phase, batch.x, batch.y, this.step);
        lossSum += loss;
        lossCount++;
        this.checkWeights();
        this.step++;
        events.onStep?.({ phase, epoch: this.epoch, epochs: this.totalEpochs, step: this.step, steps: S, loss, images: idx.length, ms: Date.now() - ts });
        if (r.checkpointEvery && this.step % r.checkpointEvery === 0 && this.step < S) {
          const p = this.saveCheckpoint();
          if (p) events.onCheckpoint?.(p, this.epoch, this.step);
        }
      }
      const seconds = (Date.now() - t0) / 1000;
      const info: EpochInfo = {
        phase, epoch: this.epoch, accuracy: this.evaluateAll(phase), loss: lossCount ? lossSum / lossCount : NaN, seconds,
        imagesPerSec: ((S - first) * r.batchSize) / Math.max(seconds, 1e-9),
        alrsFloorHits: { ...this.alrsFloorHits }, alrsSteps: { ...this.alrsSteps },
      };
      this.history.push(info);
      this.step = 0;
      this.epoch++;
      const p = this.saveCheckpoint();
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
  trainBatch(phase: Phase, xs: Float32Array, ys: Int32Array, step: number): number {
    const r = this.recipe;
    const { height: H, width: W, channels: C, classes } = this.ds;
    const lr = this.rate(phase, step);
    return tf.tidy(() => {
      const x = tf.tensor4d(xs, [ys.length, H, W, C]);
      const y = tf.oneHot(tf.tensor1d(ys, 'int32'), classes);
      if (phase === 'pretrain') return this.stepOneBit(this.nets[0], this.opts[0].pre, null, x, y, lr);
      if (r.algorithm === 'a1') return this.stepA1(x, y, lr);
      if (r.algorithm === 'separate') {
        let sum = 0;
        this.nets.forEach((n, i) => { sum += this.stepA2(n, this.opts[i], x, y, lr); });
        return sum / this.nets.length;
      }
      return this.stepA2(this.nets[0], this.opts[0], x, y, lr);
    });
  }

  private lossAndGrads(net: Network, bits: BitChoice, x: tf.Tensor4D, target: tf.Tensor, keepProbs: boolean) {
    let bn: BnUpdate[] = [];
    let probs: tf.Tensor | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const res = net.forward(x, bits, true);
      bn = res.bnUpdates.map((u) => ({ ...u, mean: tf.keep(u.mean), variance: tf.keep(u.variance) }));
      if (keepProbs) probs = tf.keep(tf.softmax(res.logits));
      return tf.losses.softmaxCrossEntropy(target, res.logits) as tf.Scalar;
    }, net.trainable());
    const loss = value.dataSync()[0];
    if (!Number.isFinite(loss)) {
      bn.forEach((u) => { u.mean.dispose(); u.variance.dispose(); });
      throw new DivergenceError(`loss is ${loss} at epoch ${this.epoch} step ${this.step} (${precisionName(typeof bits === 'number' ? bits : null)}); stopping. The last good checkpoint is ${this.checkpointPath ?? '(none: no --out)'}`);
    }
    return { loss, grads, bn, probs: probs as tf.Tensor | null };
  }

  private splitGrads(net: Network, grads: tf.NamedTensorMap) {
    const w: Record<string, tf.Tensor> = {};
    const s: Record<string, tf.Tensor> = {};
    for (const [tfName, g] of Object.entries(grads)) {
      const n = net.nameOf(tfName);
      (net.kinds.get(n) === 'scale' ? s : w)[n] = g;
    }
    return { w, s };
  }

  private finishBn(net: Network, bn: BnUpdate[]): void {
    net.applyBnUpdates(bn);
    bn.forEach((u) => { u.mean.dispose(); u.variance.dispose(); });
  }

  /** One bit (or float32), one optimizer step on everything. */
  private stepOneBit(net: Network, opt: Adam, bits: BitChoice, x: tf.Tensor4D, y: tf.Tensor, lr: number): number {
    const { loss, grads, bn } = this.lossAndGrads(net, bits, x, y, false);
    const named: Record<string, tf.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) named[net.nameOf(k)] = g;
    opt.apply(net.vars, named, lr);
    this.finishBn(net, bn);
    return loss;
  }

  /** Learning rate of bit b's quantization scales (ALRS). */
  private scaleRate(net: Network, b: number, rank: number, lr: number, scaleGrads: Record<string, tf.Tensor>): number {
    const mode = this.recipe.alrs;
    if (mode === 'off') return lr;
    if (mode === 'code') return alrsCodeRate(lr, rank);
    const perLayer = net.quantized.map((q) => {
      const parts = [`${q.name}/wscale`, `${q.name}/wscale@${b}`, `${q.name}/ascale@${b}`].filter((n) => scaleGrads[n]);
      return Float32Array.from(parts.flatMap((n) => Array.from(scaleGrads[n].dataSync())));
    });
    const { rate, floored } = alrsPaperRate(lr, alrsEta(net.h - b), perLayer); // eq. 6–7
    this.alrsSteps[b]++;
    if (floored) this.alrsFloorHits[b]++;
    return rate;
  }

  /** Algorithm A.2: for each bit, high to low: forward, backward, step weights at λ and scales at λ_b. */
  private stepA2(net: Network, opt: Optimizers, x: tf.Tensor4D, y: tf.Tensor, lr: number): number {
    const bits = net.quant.bits;
    let teacher: tf.Tensor | null = null;
    let sum = 0;
    try {
      bits.forEach((b, rank) => {
        tf.tidy(() => {
          const distill = this.recipe.distill && bits.length > 1;
          const target = distill && rank > 0 ? teacher! : y;
          const { loss, grads, bn, probs } = this.lossAndGrads(net, b, x, target, distill && rank === 0);
          if (probs) teacher = probs;
          sum += loss;
          const { w, s } = this.splitGrads(net, grads);
          const lrB = this.scaleRate(net, b, rank, lr, s);
          opt.w.apply(net.vars, w, lr);
          opt.s.apply(net.vars, s, lrB * this.recipe.scaleLrFactor);
          net.clampScales();
          this.finishBn(net, bn);
        });
      });
    } finally {
      (teacher as tf.Tensor | null)?.dispose();
    }
    return sum / bits.length;
  }

  /** Algorithm A.1: losses of all bits summed (gradients accumulate), one step (no ALRS: one rate). */
  private stepA1(x: tf.Tensor4D, y: tf.Tensor, lr: number): number {
    const net = this.nets[0];
    const opt = this.opts[0];
    let bn: BnUpdate[] = [];
    const losses: tf.Scalar[] = [];
    const { value, grads } = tf.variableGrads(() => {
      let total: tf.Scalar = tf.scalar(0);
      for (const b of net.quant.bits) {
        const res = net.forward(x, b, true);
        bn.push(...res.bnUpdates.map((u) => ({ ...u, mean: tf.keep(u.mean), variance: tf.keep(u.variance) })));
        const l = tf.losses.softmaxCrossEntropy(y, res.logits) as tf.Scalar;
        total = tf.add(total, l);
        losses.push(tf.keep(l));
      }
      return total;
    }, net.trainable());
    const loss = value.dataSync()[0] / net.quant.bits.length;
    losses.forEach((l) => l.dispose());
    if (!Number.isFinite(loss)) {
      bn.forEach((u) => { u.mean.dispose(); u.variance.dispose(); });
      throw new DivergenceError(`loss is ${loss} at epoch ${this.epoch} step ${this.step}; stopping. The last good checkpoint is ${this.checkpointPath ?? '(none: no --out)'}`);
    }
    const { w, s } = this.splitGrads(net, grads);
    opt.w.apply(net.vars, w, lr);
    opt.s.apply(net.vars, s, lr * this.recipe.scaleLrFactor);
    net.clampScales();
    this.finishBn(net, bn);
    bn = [];
    return loss;
  }

  /** NaN or Inf in any weight stops training before a checkpoint can record it. */
  private checkWeights(): void {
    for (const net of this.nets) {
      const total = tf.tidy(() => tf.addN(net.trainable().map((v) => tf.sum(tf.abs(v)))).dataSync()[0]);
      if (!Number.isFinite(total)) {
        const bad = [...net.vars].find(([, v]) => !isFiniteArray(v.dataSync()))?.[0];
        throw new DivergenceError(`weight ${bad ?? '?'} holds NaN or Inf after epoch ${this.epoch} step ${this.step}; stopping. The last good checkpoint is ${this.checkpointPath ?? '(none: no --out)'}`);
      }
    }
  }

  /**
   * Start of quantized training: per-bit BN sets start from the float32 ones, weight scales from
   * initWeightScale, activation scales from initActivationScale on a fixed calibration batch
   * (the first 256 training images, no augmentation) run at full precision.
   */
  calibrate(): void {
    const [first, ...rest] = this.nets;
    const floatNames = [...first.vars.keys()].filter((n) => first.kinds.get(n) !== 'scale' && (!n.includes('@') || n.endsWith('@fp') || n.endsWith('@single')));
    const floatValues = Object.fromEntries(floatNames.map((n) => [n, first.v(n).dataSync() as Float32Array]));
    for (const net of rest) for (const n of floatNames) net.v(n).assign(tf.tensor(floatValues[n], net.v(n).shape));
    const count = Math.min(256, this.train.count);
    const idx = Int32Array.from({ length: count }, (_, i) => i);
    const { x } = makeBatch(this.ds, this.train, idx, NO_AUGMENT, new Rng(0));
    for (const net of this.nets) {
      net.copyFloatBnToBits();
      const inputs = new Map<string, Float32Array>();
      tf.tidy(() => {
        net.forward(tf.tensor4d(x, [count, this.ds.height, this.ds.width, this.ds.channels]), null, false, (name, t) => inputs.set(name, t.dataSync() as Float32Array));
      });
      for (const q of net.quantized) {
        const k = net.v(`${q.name}/kernel`);
        const w = k.dataSync();
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

  /** Test accuracy at every precision the current phase trains. */
  evaluateAll(phase: Phase): Record<string, number> {
    if (phase === 'pretrain') return { fp32: evaluate(this.nets[0], this.ds, this.test, null) };
    const out: Record<string, number> = {};
    if (this.recipe.algorithm === 'separate') this.nets.forEach((n) => (out[precisionName(n.quant.bits[0])] = evaluate(n, this.ds, this.test, n.quant.bits[0])));
    else for (const b of this.recipe.bits) out[precisionName(b)] = evaluate(this.nets[0], this.ds, this.test, b);
    return out;
  }
}

/** Top-1 accuracy of `net` at `bits` on a split (BN in inference mode). */
export function evaluate(net: Network, ds: Dataset, split: Split, bits: BitChoice, batch = 500): number {
  return countCorrect(net, ds, split, bits, batch).correct / split.count;
}

/** Predicted classes of every image of a split. */
export function predict(net: Network, ds: Dataset, split: Split, bits: BitChoice, batch = 500): Int32Array {
  return countCorrect(net, ds, split, bits, batch).predictions;
}

function countCorrect(net: Network, ds: Dataset, split: Split, bits: BitChoice, batch: number) {
  const predictions = new Int32Array(split.count);
  let correct = 0;
  for (let i = 0; i < split.count; i += batch) {
    const idx = Int32Array.from({ length: Math.min(batch, split.count - i) }, (_, j) => i + j);
    const { x, y } = makeBatch(ds, split, idx, NO_AUGMENT, new Rng(0));
    const pred = tf.tidy(() => net.forward(tf.tensor4d(x, [idx.length, ds.height, ds.width, ds.channels]), bits, false).logits.argMax(1).dataSync());
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
