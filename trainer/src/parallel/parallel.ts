// Data-parallel gradients across cores. The global batch is cut into `shards` slices of (nearly)
// equal size; BatchNorm normalises each slice with its own statistics (ghost batch norm, as
// PyTorch DDP without SyncBN), so the result depends on the shard count and never on how many
// threads compute it. Rank 0 is the calling thread, ranks 1..N-1 are worker_threads, each with
// its own tfjs backend and a replica of every network. Before each request the replicas receive
// the current weights through shared memory; each rank writes its shards' gradients (weighted by
// shard size) to the shards' slots in shared memory, and rank 0 adds the slots in shard order.
// The arithmetic is then the same for any worker count: N workers and one give identical weights.
import * as tf from '@tensorflow/tfjs';
import type { Worker } from 'node:worker_threads';
import type { ModelSpec } from '../nn/models.ts';
import type { BitChoice, Network, QuantConfig } from '../nn/network.ts';
import { SuperNetwork } from '../nn/supernet.ts';
import { ShardComputer, rankShards, shardRange, type BnStats, type GradRequest, type GradResult, type RankPart } from './shards.ts';
import { Rank, moduleUrl, spawnWorker, whenReady } from './threads.ts';

/** Images per rank in one prediction round. */
export const PREDICT_ROWS = 500;

/** What a worker needs to build its replicas. */
export interface WorkerInit {
  rank: number;
  ranks: number;
  backend: string;
  specs: ModelSpec[];
  quants: QuantConfig[];
  /** Per network: a SuperNetwork (TBN) or a plain Network. */
  supernet: boolean[];
  shape: [number, number, number];
  classes: number;
  weights: SharedArrayBuffer[];
  grads: SharedArrayBuffer[];
  x: SharedArrayBuffer;
  y: SharedArrayBuffer;
}

export type WorkerRequest =
  | { kind: 'grads'; req: GradRequest; count: number; totalShards: number; weightsVersion: number }
  | { kind: 'drop-teachers' }
  | { kind: 'predict'; net: number; bits: BitChoice; count: number; weightsVersion: number; stats: Record<string, Float32Array> };

export type WorkerReply =
  | { kind: 'ready' }
  | { kind: 'grads'; losses: number[]; present: Uint8Array; bn: BnStats[][] }
  | { kind: 'predict'; classes: Int32Array }
  | { kind: 'error'; message: string };

/** DataParallel.start's options; `backend` defaults to this thread's tfjs backend at start. */
export type ParallelOptions = Omit<Parameters<typeof DataParallel.start>[1], 'backend'> & { backend?: string };

/** Starts the ranks on first use and stops them on close(); a closed handle starts them again. */
export class LazyParallel {
  private dp?: Promise<DataParallel>;
  constructor(private readonly nets: Network[], private readonly options: ParallelOptions) {}

  get(): Promise<DataParallel> {
    this.dp ??= DataParallel.start(this.nets, { ...this.options, backend: this.options.backend ?? tf.getBackend() });
    return this.dp;
  }

  async close(): Promise<void> {
    const dp = this.dp;
    this.dp = undefined;
    if (dp) await (await dp).close();
  }
}

/**
 * Gradients of the global batch from `ranks` threads (rank 0 = this one). `shards` (≥ ranks)
 * fixes the BatchNorm grouping; every rank computes a contiguous run of shards.
 */
export class DataParallel {
  private readonly local: ShardComputer;
  private readonly workers: Rank<WorkerRequest, WorkerReply>[] = [];
  private readonly weightViews: Float32Array[];
  /** Per network: one gradient slot per shard, written by whichever rank computes the shard. */
  private readonly gradViews: Float32Array[];
  private readonly xView: Float32Array;
  private readonly yView: Int32Array;
  private readonly rankGrads: Float32Array[];
  private count = 0;
  private weightsVersion = 0;
  private readonly px: number;

  private constructor(readonly nets: Network[], readonly ranks: number, readonly shards: number, maxBatch: number, shape: [number, number, number], classes: number) {
    this.local = ShardComputer.forNets(nets, shape, classes);
    const px = shape[0] * shape[1] * shape[2];
    this.px = px;
    const f32 = (n: number) => new Float32Array(new SharedArrayBuffer(4 * Math.max(n, 1)));
    this.weightViews = this.local.layouts.map((l) => f32(l.total));
    this.gradViews = this.local.layouts.map((l) => f32(shards * l.total));
    this.rankGrads = this.local.layouts.map((l) => new Float32Array(l.total));
    this.xView = f32(Math.max(maxBatch, PREDICT_ROWS * ranks) * px);
    this.yView = new Int32Array(new SharedArrayBuffer(4 * maxBatch));
  }

  /** Starts ranks 1..N-1 (each loads its backend) and resolves once all are ready. */
  static async start(nets: Network[], o: { ranks: number; shards: number; maxBatch: number; shape: [number, number, number]; classes: number; backend: string }): Promise<DataParallel> {
    if (!Number.isInteger(o.ranks) || o.ranks < 1) throw new RangeError(`workers: expected an integer >= 1, got ${o.ranks}`);
    if (!Number.isInteger(o.shards) || o.shards < o.ranks) throw new RangeError(`shards: expected an integer >= workers (${o.ranks}), got ${o.shards}`);
    const dp = new DataParallel(nets, o.ranks, o.shards, o.maxBatch, o.shape, o.classes);
    const url = moduleUrl('parallel-worker', import.meta.url);
    for (let k = 1; k < o.ranks; k++) {
      const init: WorkerInit = {
        rank: k, ranks: o.ranks, backend: o.backend, specs: nets.map((n) => n.spec), quants: nets.map((n) => n.quant), supernet: nets.map((n) => n instanceof SuperNetwork),
        shape: o.shape, classes: o.classes, weights: dp.weightViews.map((v) => v.buffer as SharedArrayBuffer),
        grads: dp.gradViews.map((v) => v.buffer as SharedArrayBuffer), x: dp.xView.buffer as SharedArrayBuffer, y: dp.yView.buffer as SharedArrayBuffer,
      };
      dp.workers.push(new Rank<WorkerRequest, WorkerReply>(k, spawnWorker(url, init)));
    }
    await whenReady(dp.workers, () => dp.close());
    return dp;
  }

  /** The worker threads (rank k is workers[k - 1]), e.g. for a test that stops one. */
  get threads(): Worker[] { return this.workers.map((w) => w.worker); }

  /** Sets the global batch for the following requests; drops the teachers of the previous one. */
  setBatch(x: Float32Array, y: Int32Array): void {
    if (y.length > this.yView.length || y.length < this.shards) throw new RangeError(`batch: expected ${this.shards}..${this.yView.length} images (shards..batch size), got ${y.length}`);
    this.xView.set(x);
    this.yView.set(y);
    this.count = y.length;
    this.local.dropTeachers();
    for (const w of this.workers) w.worker.postMessage({ kind: 'drop-teachers' } satisfies WorkerRequest);
  }

  /**
   * Gradients of the current batch under `req`: each shard's gradient, loss and BN statistics
   * added in shard order, so the sums do not depend on which rank computed which shard.
   */
  async grads(req: GradRequest): Promise<GradResult> {
    const lay = this.local.layouts[req.net];
    if (this.workers.length) {
      await this.local.writeWeights(req.net, this.weightViews[req.net]);
      this.weightsVersion++;
    }
    const msg: WorkerRequest = { kind: 'grads', req, count: this.count, totalShards: this.shards, weightsVersion: this.weightsVersion };
    const replies = this.workers.map((w) => w.request(msg));
    // rank 0 works while the workers do; their replies are awaited afterwards
    const slots = this.gradViews[req.net];
    const parts: RankPart[] = [await this.local.compute(req, this.xView, this.yView, this.count, rankShards(0, this.ranks, this.shards), this.shards, slots)];
    for (const r of await Promise.all(replies)) {
      if (r.kind !== 'grads') throw new Error(`worker reply: expected grads, got ${r.kind}`);
      parts.push(r);
    }
    const losses = parts.flatMap((p) => p.losses);
    const bnByShard = parts.flatMap((p) => p.bn);
    const sum = this.rankGrads[req.net];
    sum.set(slots.subarray(0, lay.total));
    for (let j = 1; j < this.shards; j++) {
      const g = slots.subarray(j * lay.total, (j + 1) * lay.total);
      for (let i = 0; i < lay.total; i++) sum[i] += g[i];
    }
    const grads = new Map<string, Float32Array>();
    lay.names.forEach((n, i) => {
      if (parts.some((p) => p.present[i])) grads.set(n, sum.slice(lay.offsets[i], lay.offsets[i] + lay.sizes[i]));
    });
    const bn = bnByShard[0].map((u, q) => {
      const mean = Float32Array.from(u.mean);
      const variance = Float32Array.from(u.variance);
      for (const shard of bnByShard.slice(1)) for (let c = 0; c < mean.length; c++) { mean[c] += shard[q].mean[c]; variance[c] += shard[q].variance[c]; }
      return { name: u.name, key: u.key, mean, variance };
    });
    let loss = losses[0];
    for (const l of losses.slice(1)) loss += l;
    return { loss, grads, bn };
  }

  /** Images one predict() call takes at most. */
  get predictCapacity(): number { return PREDICT_ROWS * this.ranks; }

  /** Top-1 classes of `count` images of `x` at `bits`, the rows split across the ranks. */
  async predict(net: number, bits: BitChoice, x: Float32Array, count: number): Promise<Int32Array> {
    if (count > this.predictCapacity) throw new RangeError(`count: expected at most ${this.predictCapacity} images, got ${count}`);
    this.xView.set(x.subarray(0, count * this.px));
    if (this.workers.length) {
      await this.local.writeWeights(net, this.weightViews[net]);
      this.weightsVersion++;
    }
    const stats = this.workers.length ? await this.local.stats(net) : {};
    const replies = this.workers.map((w) => w.request({ kind: 'predict', net, bits, count, weightsVersion: this.weightsVersion, stats }));
    const out = new Int32Array(count);
    const [s0, e0] = shardRange(0, this.ranks, count);
    out.set(await this.local.predict(net, bits, this.xView, s0, e0), s0);
    const rs = await Promise.all(replies);
    rs.forEach((r, k) => {
      if (r.kind !== 'predict') throw new Error(`worker reply: expected predict, got ${r.kind}`);
      out.set(r.classes, shardRange(k + 1, this.ranks, count)[0]);
    });
    this.count = 0; // the batch buffer now holds these images
    return out;
  }

  async close(): Promise<void> {
    this.local.dropTeachers();
    await Promise.all(this.workers.map((w) => w.worker.terminate()));
    this.workers.length = 0;
  }
}
