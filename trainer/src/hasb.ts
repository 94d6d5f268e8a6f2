// HASB SuperNet training (Algorithm A.3): from a multi-precision model, per batch and for each b
// in B (high to low), every quantized layer switches with probability σ_e to a bit drawn from
// the Algorithm 1 roulette (Hessian-aware) or uniformly (Bit-Mixer-style baseline), else runs at
// b; forward with TBN, loss, backward, step.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readModel, type LayerSensitivity } from '@bitswitch/format';
import { rouletteBit, sensitiveLayers } from '@bitswitch/search/roulette';
import { sectionSensitivities } from '@bitswitch/search/sensitivity';
import { Adam, ADAM_DEFAULTS } from './adam.ts';
import { alrsCodeRate, cosineRate } from './alrs.ts';
import { CHECKPOINT_FILE, loadCheckpoint } from './checkpoint.ts';
import { makeBatch, stratifiedSubset, type Augment, type Dataset, type Split } from './data.ts';
import { buildModel } from './models.ts';
import { Network } from './network.ts';
import { LazyParallel, applyBnStats, gradTensors } from './parallel.ts';
import { resolveRecipe, type Recipe } from './recipe.ts';
import { Rng, deriveRng } from './rng.ts';
import { SuperNetwork } from './supernet.ts';
import { networkFromModel } from './supernet-io.ts';
import { evaluate, precisionName } from './train.ts';

export const SAMPLINGS = ['hasb', 'uniform'] as const;
export type Sampling = (typeof SAMPLINGS)[number];

/** σ_e = σ · (e + 1) / E: the switching probability grows each epoch (Algorithm A.3). */
export function switchProbability(sigma: number, epoch: number, epochs: number): number {
  if (!(sigma >= 0 && sigma <= 1)) throw new RangeError(`sigma: expected a number in [0, 1], got ${sigma}`);
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`epochs: expected a positive integer, got ${epochs}`);
  if (!Number.isInteger(epoch) || epoch < 0 || epoch >= epochs) throw new RangeError(`epoch: expected an integer in 0..${epochs - 1}, got ${epoch}`);
  return (sigma * (epoch + 1)) / epochs;
}

/**
 * Per-parameter sensitivities in the order of `layers`, from a sensitivity section: the search's
 * bounded rule (upper confidence bound of tr(H_l)/n_l, floored above 0), so the roulette and the
 * ILP read the same numbers.
 */
export function perParameterTraces(section: readonly LayerSensitivity[], layers: readonly string[]): number[] {
  return sectionSensitivities(section, layers);
}

/**
 * One bit per quantized layer for step bit b: with probability σ_e a layer takes a roulette bit
 * (Algorithm 1: p_i = b_i/Σb for sensitive layers, 1/n otherwise; 'uniform' sampling treats every
 * layer as insensitive), else b. Draws two uniforms per layer from `rng`, in layer order.
 */
export function sampleLayerBits(bits: readonly number[], b: number, sensitive: readonly boolean[], sigmaE: number, sampling: Sampling, rng: Rng): number[] {
  return sensitive.map((s) => {
    const switched = rng.uniform() < sigmaE;
    const r = 1 - rng.uniform(); // (0, 1], as rouletteBit takes it
    return switched ? rouletteBit(bits, sampling === 'hasb' && s, r) : b;
  });
}

/** SuperNet training settings (trainer/recipes/hasb-*.json); data limits as in the trainer's recipe. */
export interface SupernetRecipe {
  data: string;
  sampling: Sampling;
  /** σ of Algorithm A.3 (final switching probability). */
  sigma: number;
  epochs: number;
  batchSize: number;
  /** BatchNorm shards per batch (ghost batch norm, as the trainer's recipe); null: one per worker. */
  shards: number | null;
  lr: number;
  weightDecay: number;
  /** Scales: 'code' λ·0.1^rank(b) of the step's bit (as multi-precision training), 'off': λ. */
  scaleLr: 'code' | 'off';
  augment: Augment;
  seed: number;
  trainLimit: number | null;
  testLimit: number | null;
}

export const SUPERNET_DEFAULTS: SupernetRecipe = {
  data: 'fashion-mnist', sampling: 'hasb', sigma: 0.5, epochs: 2, batchSize: 64, shards: null, lr: 2e-4, weightDecay: 5e-5,
  scaleLr: 'code', augment: { pad: 2, flip: false }, seed: 1, trainLimit: null, testLimit: null,
};

/** Fills defaults and validates; errors name the field and the expected value. */
export function resolveSupernetRecipe(partial: Partial<SupernetRecipe>, source = 'supernet'): SupernetRecipe {
  const r = { ...SUPERNET_DEFAULTS, ...partial, augment: { ...SUPERNET_DEFAULTS.augment, ...(partial.augment ?? {}) } };
  const f = (k: string) => `${source}.${k}`;
  const num = (v: unknown, k: string, lo: number, hi: number, int = false) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
      throw new RangeError(`${f(k)}: expected ${int ? 'an integer' : 'a number'} in ${lo}..${hi}, got ${JSON.stringify(v)}`);
    }
  };
  if (!SAMPLINGS.includes(r.sampling)) throw new RangeError(`${f('sampling')}: expected one of ${SAMPLINGS.join(', ')}, got ${JSON.stringify(r.sampling)}`);
  if (r.scaleLr !== 'code' && r.scaleLr !== 'off') throw new RangeError(`${f('scaleLr')}: expected code or off, got ${JSON.stringify(r.scaleLr)}`);
  num(r.sigma, 'sigma', 0, 1);
  num(r.epochs, 'epochs', 1, 1e4, true);
  num(r.batchSize, 'batchSize', 1, 65536, true);
  if (r.shards !== null) num(r.shards, 'shards', 1, r.batchSize, true);
  num(r.lr, 'lr', 0, 10);
  num(r.weightDecay, 'weightDecay', 0, 1);
  num(r.augment.pad, 'augment.pad', 0, 16, true);
  num(r.seed, 'seed', 0, 2 ** 32 - 1, true);
  if (r.trainLimit !== null) num(r.trainLimit, 'trainLimit', 1, 1e9, true);
  if (r.testLimit !== null) num(r.testLimit, 'testLimit', 1, 1e9, true);
  return r;
}

export interface MultiPrecisionSource {
  net: Network;
  /** The file's sensitivity section, when it has one. */
  sensitivity?: LayerSensitivity[];
  metadata?: Record<string, unknown>;
}

/**
 * The multi-precision model to start from: a trainer run folder (or its checkpoint.json) after
 * quantized training, or a 'multi' .bsw model file. `data` may be a loader: only checkpoints need it.
 */
export function loadMultiPrecision(path: string, data: Dataset | (() => Dataset)): MultiPrecisionSource {
  if (!existsSync(path)) throw new RangeError(`${path}: no such file or folder (expected a trainer run folder, checkpoint.json or .bsw model)`);
  const ckpt = statSync(path).isDirectory() ? join(path, CHECKPOINT_FILE) : path.endsWith('.json') ? path : undefined;
  if (!ckpt) {
    const model = readModel(readFileSync(path));
    if (model.mode !== 'multi') throw new RangeError(`${path}: mode: expected 'multi' (a multi-precision model), got '${model.mode}'`);
    return { net: networkFromModel(model), sensitivity: model.sensitivity, metadata: model.metadata };
  }
  const ds = typeof data === 'function' ? data() : data; // only a checkpoint needs the images' shape
  const st = loadCheckpoint<{ recipe: Recipe; epoch: number; calibrated: boolean; nets: Record<string, Float32Array>[] }>(ckpt);
  const r = resolveRecipe(st.recipe, `${ckpt}: recipe`);
  if (r.algorithm === 'separate') throw new RangeError(`${ckpt}: recipe.algorithm: expected a2 or a1 (one multi-precision network), got separate`);
  if (!st.calibrated) throw new RangeError(`${ckpt}: expected a run past float pre-training (quantized training started), got epoch ${st.epoch}`);
  if (r.data !== ds.name) throw new RangeError(`${ckpt}: recipe.data: expected ${ds.name} (the --data set), got ${r.data}`);
  const spec = buildModel(r.model, [ds.height, ds.width, ds.channels], ds.classes, r.modelOptions);
  const net = new Network(spec, { bits: r.bits, quantizer: r.quantizer, perChannel: r.perChannel }, deriveRng(r.seed, 0));
  net.load(st.nets[0]);
  return { net, metadata: { recipe: r, epoch: st.epoch } };
}

export interface SupernetStep { epoch: number; epochs: number; step: number; steps: number; loss: number; sigmaE: number }
export interface SupernetEpoch { epoch: number; loss: number; sigmaE: number; seconds: number; bitCounts: Record<string, number> }

/** Algorithm A.3 on a SuperNetwork. */
export class SupernetTrainer {
  readonly recipe: SupernetRecipe;
  readonly train: Split;
  readonly test: Split;
  readonly sensitive: boolean[];
  private optW: Adam;
  private optS = new Adam({ ...ADAM_DEFAULTS, weightDecay: 0 });
  private sampleRng: Rng;
  private augRng: Rng;
  /** How often each bit was drawn for each layer: counts[layer][bit]. */
  readonly counts: Record<string, Record<number, number>> = {};

  /** Threads computing gradients (rank 0 is this one). */
  readonly workers: number;
  private readonly dp: LazyParallel;

  /** `traces`: per-parameter Hessian traces in quantized-layer order (required for 'hasb'). */
  constructor(readonly net: SuperNetwork, readonly ds: Dataset, recipe: Partial<SupernetRecipe>, traces?: readonly number[], options: { workers?: number; backend?: string } = {}) {
    const resolved = resolveSupernetRecipe(recipe);
    const workers = options.workers ?? 1;
    if (!Number.isInteger(workers) || workers < 1) throw new RangeError(`workers: expected an integer >= 1, got ${workers}`);
    this.recipe = { ...resolved, shards: resolved.shards ?? workers };
    this.workers = Math.min(workers, this.recipe.shards!);
    const r = this.recipe;
    this.dp = new LazyParallel([net], { ranks: this.workers, shards: r.shards!, maxBatch: r.batchSize, shape: [ds.height, ds.width, ds.channels], classes: ds.classes, backend: options.backend });
    if (r.batchSize < r.shards!) throw new RangeError(`supernet.shards: expected at most the batch size ${r.batchSize}, got ${r.shards}`);
    if (ds.name !== r.data) throw new RangeError(`supernet.data: expected ${ds.name} (the loaded dataset), got ${r.data}`);
    const L = net.quantized.length;
    if (r.sampling === 'hasb') {
      if (!traces) throw new RangeError("traces: HASB sampling needs per-layer Hessian traces (the model's sensitivity section: run bitswitch sensitivity)");
      if (traces.length !== L) throw new RangeError(`traces: expected ${L} entries (one per quantized layer), got ${traces.length}`);
      this.sensitive = sensitiveLayers(traces);
    } else this.sensitive = new Array(L).fill(false);
    const px = ds.height * ds.width * ds.channels;
    const cut = (s: Split, limit: number | null) => (limit === null || limit >= s.count ? s : stratifiedSubset(s, Math.ceil(limit / ds.classes), ds.classes, px));
    this.train = cut(ds.train, r.trainLimit);
    this.test = cut(ds.test, r.testLimit);
    if (this.train.count < r.batchSize) throw new RangeError(`supernet.batchSize: expected at most ${this.train.count} (training images), got ${r.batchSize}`);
    this.optW = new Adam({ ...ADAM_DEFAULTS, weightDecay: r.weightDecay });
    this.sampleRng = deriveRng(r.seed, 3);
    this.augRng = deriveRng(r.seed, 2);
    for (const q of net.quantized) this.counts[q.name] = Object.fromEntries(net.quant.bits.map((b) => [b, 0]));
  }

  get stepsPerEpoch(): number { return Math.floor(this.train.count / this.recipe.batchSize); }

  /** Stops the worker threads. */
  close(): Promise<void> { return this.dp.close(); }

  async run(events: { onStep?(s: SupernetStep): void; onEpoch?(e: SupernetEpoch): void } = {}): Promise<SupernetEpoch[]> {
    const r = this.recipe;
    const S = this.stepsPerEpoch;
    const history: SupernetEpoch[] = [];
    for (let epoch = 0; epoch < r.epochs; epoch++) {
      const sigmaE = switchProbability(r.sigma, epoch, r.epochs);
      const perm = deriveRng(r.seed, 1, epoch).permutation(this.train.count);
      const t0 = Date.now();
      let lossSum = 0;
      for (let step = 0; step < S; step++) {
        const idx = perm.subarray(step * r.batchSize, (step + 1) * r.batchSize);
        const batch = makeBatch(this.ds, this.train, idx, r.augment, this.augRng);
        const loss = await this.trainBatch(batch.x, batch.y, cosineRate(r.lr, epoch * S + step, r.epochs * S), sigmaE);
        lossSum += loss;
        events.onStep?.({ epoch, epochs: r.epochs, step: step + 1, steps: S, loss, sigmaE });
      }
      const info = { epoch, loss: lossSum / S, sigmaE, seconds: (Date.now() - t0) / 1000, bitCounts: this.bitCountSummary() };
      history.push(info);
      events.onEpoch?.(info);
    }
    return history;
  }

  private bitCountSummary(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const c of Object.values(this.counts)) for (const [b, n] of Object.entries(c)) out[`w${b}`] = (out[`w${b}`] ?? 0) + n;
    return out;
  }

  /** For each b in B, high to low: sample per-layer bits, forward (TBN), loss, backward, step. Mean loss. */
  async trainBatch(xs: Float32Array, ys: Int32Array, lr: number, sigmaE: number): Promise<number> {
    const { net } = this;
    const bits = net.quant.bits;
    const dp = await this.dp.get();
    dp.setBatch(xs, ys);
    let sum = 0;
    for (let rank = 0; rank < bits.length; rank++) {
      const layerBits = sampleLayerBits(bits, bits[rank], this.sensitive, sigmaE, this.recipe.sampling, this.sampleRng);
      net.quantized.forEach((q, i) => this.counts[q.name][layerBits[i]]++);
      const { loss, grads, bn } = await dp.grads({ net: 0, bits: [layerBits], useTeacher: false, keepTeacher: false });
      if (!Number.isFinite(loss)) throw new RangeError(`loss is ${loss} at bits [${layerBits}]; stopping`);
      sum += loss;
      tf.tidy(() => {
        const { w, s } = gradTensors(net, grads);
        this.optW.apply(net.vars, w, lr);
        this.optS.apply(net.vars, s, this.recipe.scaleLr === 'code' ? alrsCodeRate(lr, rank) : lr);
        net.clampScales(); // as the multi-precision trainer: a scale step must not cross zero
      });
      applyBnStats(net, bn);
    }
    return sum / bits.length;
  }

  /** Test accuracy at each uniform precision (TBN sets (b, b)). */
  async evaluateUniform(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const b of this.net.quant.bits) out[precisionName(b)] = await evaluate(this.net, this.ds, this.test, b);
    return out;
  }

  dispose(): void { this.optW.dispose(); this.optS.dispose(); }
}
