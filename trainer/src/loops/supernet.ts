// HASB SuperNet training (Algorithm A.3): from a multi-precision model, per batch and for each b
// in B (high to low), every quantized layer switches with probability σ_e to a bit drawn from
// the Algorithm 1 roulette (Hessian-aware) or uniformly (Bit-Mixer-style baseline), else runs at
// b; forward with TBN, loss, backward, step.
import { limitSplits, makeBatch, type Dataset, type Split } from '../data/datasets.ts';
import { Adam, ADAM_DEFAULTS, type AdamState } from '../math/adam.ts';
import { loadCheckpoint, saveCheckpoint } from '../io/checkpoint.ts';
import { Rng, deriveRng, type RngState } from '../math/rng.ts';
import { rouletteBit, sensitiveLayers } from '../math/roulette.ts';
import { cosineRate } from '../math/schedule.ts';
import type { SuperNetwork } from '../nn/supernet.ts';
import { LazyParallel } from '../parallel/parallel.ts';
import { evaluate, precisionName } from './evaluate.ts';
import { DivergenceError, ScaleRates, trainStep } from './step.ts';
import { resolveSupernetRecipe, type Sampling, type SupernetRecipe } from './supernet-recipe.ts';
import { InterruptedError } from './train.ts';

/** σ_e = σ · (e + 1) / E: the switching probability grows each epoch (Algorithm A.3). */
export function switchProbability(sigma: number, epoch: number, epochs: number): number {
  if (!(sigma >= 0 && sigma <= 1)) throw new RangeError(`sigma: expected a number in [0, 1], got ${sigma}`);
  if (!Number.isInteger(epochs) || epochs < 1) throw new RangeError(`epochs: expected a positive integer, got ${epochs}`);
  if (!Number.isInteger(epoch) || epoch < 0 || epoch >= epochs) throw new RangeError(`epoch: expected an integer in 0..${epochs - 1}, got ${epoch}`);
  return (sigma * (epoch + 1)) / epochs;
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

export interface SupernetStep { epoch: number; epochs: number; step: number; steps: number; loss: number; sigmaE: number }
/** `seconds`: wall time of the steps this process ran (from `resumedAtStep` when it resumed mid-epoch). */
export interface SupernetEpoch { epoch: number; loss: number; sigmaE: number; seconds: number; bitCounts: Record<string, number>; resumedAtStep?: number }

/** Steps between mid-epoch checkpoints (and one at every epoch's end). */
export const SUPERNET_CHECKPOINT_EVERY = 50;

/** Everything a SuperNet run needs to continue exactly where it stopped. */
interface SupernetCheckpoint {
  version: 1; kind: 'supernet'; recipe: SupernetRecipe; epoch: number; step: number; lossSum: number;
  sampleRng: RngState; augRng: RngState; counts: Record<string, Record<number, number>>;
  alrsFloorHits: Record<string, number>; alrsSteps: Record<string, number>;
  net: Record<string, Float32Array>; optW: AdamState; optS: AdamState; history: SupernetEpoch[];
}

/** Algorithm A.3 on a SuperNetwork. */
export class SupernetTrainer {
  readonly recipe: SupernetRecipe;
  readonly train: Split;
  readonly test: Split;
  readonly sensitive: boolean[];
  private optW: Adam;
  private optS = new Adam({ ...ADAM_DEFAULTS, weightDecay: 0 });
  /** ALRS of the scales, with eq. 6's floor hits and steps per bit ('paper'). */
  readonly alrs: ScaleRates;
  private sampleRng: Rng;
  private augRng: Rng;
  /** How often each bit was drawn for each layer: counts[layer][bit]. */
  readonly counts: Record<string, Record<number, number>> = {};

  /** Threads computing gradients (rank 0 is this one). */
  readonly workers: number;
  private readonly dp: LazyParallel;
  /** Position of the run: the next step of `epoch`, the loss summed over its finished steps, the finished epochs. */
  private epoch = 0;
  private step = 0;
  private lossSum = 0;
  private history: SupernetEpoch[] = [];
  private stopRequested = false;

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
    ({ train: this.train, test: this.test } = limitSplits(ds, r));
    if (this.train.count < r.batchSize) throw new RangeError(`supernet.batchSize: expected at most ${this.train.count} (training images), got ${r.batchSize}`);
    this.optW = new Adam({ ...ADAM_DEFAULTS, weightDecay: r.weightDecay });
    this.alrs = new ScaleRates(r.alrs, net.quant.bits);
    this.sampleRng = deriveRng(r.seed, 3);
    this.augRng = deriveRng(r.seed, 2);
    for (const q of net.quantized) this.counts[q.name] = Object.fromEntries(net.quant.bits.map((b) => [b, 0]));
  }

  get stepsPerEpoch(): number { return Math.floor(this.train.count / this.recipe.batchSize); }

  /** Stops the worker threads. */
  close(): Promise<void> { return this.dp.close(); }

  /**
   * Runs from the current position to the last epoch. With `checkpoint` (a file path) the state is
   * written there every `every` steps and at each epoch's end (atomically), so that resume()
   * continues a stopped run exactly.
   */
  async run(events: { onStep?(s: SupernetStep): void; onEpoch?(e: SupernetEpoch): void } = {}, checkpoint?: string, every = SUPERNET_CHECKPOINT_EVERY): Promise<SupernetEpoch[]> {
    const r = this.recipe;
    const S = this.stepsPerEpoch;
    for (; this.epoch < r.epochs; this.epoch++) {
      const epoch = this.epoch;
      const sigmaE = switchProbability(r.sigma, epoch, r.epochs);
      const perm = deriveRng(r.seed, 1, epoch).permutation(this.train.count);
      const t0 = Date.now();
      const first = this.step;
      for (; this.step < S; ) {
        const step = this.step;
        const idx = perm.subarray(step * r.batchSize, (step + 1) * r.batchSize);
        const batch = makeBatch(this.ds, this.train, idx, r.augment, this.augRng);
        const loss = await this.trainBatch(batch.x, batch.y, cosineRate(r.lr, epoch * S + step, r.epochs * S), sigmaE);
        this.lossSum += loss;
        this.step++;
        events.onStep?.({ epoch, epochs: r.epochs, step: this.step, steps: S, loss, sigmaE });
        // yield once so that a Ctrl-C handler gets to run and call requestStop()
        await new Promise((resolve) => setImmediate(resolve));
        if (this.stopRequested && this.step < S) {
          if (checkpoint) await this.saveCheckpoint(checkpoint);
          throw new InterruptedError(checkpoint);
        }
        if (checkpoint && this.step % every === 0 && this.step < S) await this.saveCheckpoint(checkpoint);
      }
      const info: SupernetEpoch = { epoch, loss: this.lossSum / S, sigmaE, seconds: (Date.now() - t0) / 1000, bitCounts: this.bitCountSummary(), ...(first > 0 ? { resumedAtStep: first } : {}) };
      this.history.push(info);
      this.step = 0;
      this.lossSum = 0;
      if (checkpoint) {
        this.epoch++;
        await this.saveCheckpoint(checkpoint);
        this.epoch--;
      }
      events.onEpoch?.(info);
      // a stop at an epoch's last step: the epoch-end checkpoint just written is the position
      if (this.stopRequested) throw new InterruptedError(checkpoint);
    }
    return this.history;
  }

  /** Asks run() to stop after the step in progress (for Ctrl-C); it saves the position to its checkpoint and throws InterruptedError. */
  requestStop(): void { this.stopRequested = true; }

  /** Writes the whole run state to `path` (atomically). */
  async saveCheckpoint(path: string): Promise<void> {
    const st: SupernetCheckpoint = {
      version: 1, kind: 'supernet', recipe: this.recipe, epoch: this.epoch, step: this.step, lossSum: this.lossSum,
      sampleRng: this.sampleRng.state(), augRng: this.augRng.state(), counts: this.counts,
      alrsFloorHits: { ...this.alrs.floorHits }, alrsSteps: { ...this.alrs.steps },
      net: await this.net.snapshot(), optW: await this.optW.getState(), optS: await this.optS.getState(), history: this.history,
    };
    saveCheckpoint(path, st);
  }

  /** Continues the run saved at `path` (same network, data and recipe as when it was saved). */
  resume(path: string): void {
    const st = loadCheckpoint<SupernetCheckpoint>(path);
    if (st.kind !== 'supernet' || st.version !== 1) throw new RangeError(`${path}: expected a SuperNet checkpoint (version 1), got ${st.kind ?? 'another kind'}`);
    const differs = (Object.keys(st.recipe) as (keyof SupernetRecipe)[]).filter((k) => JSON.stringify(st.recipe[k]) !== JSON.stringify(this.recipe[k]));
    if (differs.length) throw new RangeError(`${path}: saved with another recipe (${differs.join(', ')} differ); resume with the same options`);
    this.epoch = st.epoch; this.step = st.step; this.lossSum = st.lossSum; this.history = st.history;
    this.sampleRng = new Rng(st.sampleRng); this.augRng = new Rng(st.augRng);
    for (const [layer, c] of Object.entries(st.counts)) Object.assign(this.counts[layer], c);
    this.alrs.load(st.alrsFloorHits, st.alrsSteps);
    this.net.load(st.net);
    this.optW.setState(st.optW, this.net.vars);
    this.optS.setState(st.optS, this.net.vars);
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
      const b = bits[rank];
      sum += await trainStep(dp, net, { net: 0, bits: [layerBits], useTeacher: false, keepTeacher: false }, {
        optimizers: { weights: this.optW, scales: this.optS }, lr,
        scaleRate: (grads) => this.alrs.rate(net, lr, rank, b, layerBits, grads),
        diverged: (loss) => new DivergenceError(`loss is ${loss} at step bit ${b}, layer bits [${layerBits}]; stopping`),
      });
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
