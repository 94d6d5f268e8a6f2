// Data-parallel gradients across cores. The global batch is cut into `shards` slices of (nearly)
// equal size; BatchNorm normalises each slice with its own statistics (ghost batch norm, as
// PyTorch DDP without SyncBN), so the result depends on the shard count and never on how many
// threads compute it. Rank 0 is the calling thread, ranks 1..N-1 are worker_threads, each with
// its own tfjs backend and a replica of every network. Before each request the replicas receive
// the current weights through shared memory; each rank writes its shards' gradients (weighted by
// shard size) to the shards' slots in shared memory, and rank 0 adds the slots in shard order.
// The arithmetic is then the same for any worker count: N workers and one give identical weights.
import * as tf from '@tensorflow/tfjs';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { ModelSpec } from './models.ts';
import type { BitChoice, Network, QuantConfig } from './network.ts';
import { SuperNetwork } from './supernet.ts';

export interface GradRequest {
  /** Index of the network (one per bit for separate training, else 0). */
  net: number;
  /** The losses at these precisions are summed (A.1 passes every bit; A.2 and float pass one). */
  bits: BitChoice[];
  /** Train against the teacher probabilities kept earlier in this batch instead of the labels. */
  useTeacher: boolean;
  /** Keep softmax(logits) of this request's (single) precision as the teacher. */
  keepTeacher: boolean;
}

/** Batch statistics of one BatchNorm application, in forward order, averaged over the shards. */
export interface BnStats { name: string; key: string; mean: Float32Array; variance: Float32Array }

export interface GradResult {
  /** Σ over the request's bits of the mean loss over the global batch. */
  loss: number;
  /** Gradients by variable name (only the variables the loss depends on). */
  grads: Map<string, Float32Array>;
  bn: BnStats[];
}

/** Worker threads for training: --workers N, default every core. */
export function workerCount(flag: string | undefined): number {
  if (flag === undefined) return availableParallelism();
  const n = Number(flag);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new RangeError(`--workers: expected an integer in 1..256, got ${JSON.stringify(flag)}`);
  return n;
}

/** Gradient arrays as tensors of their variables' shapes, split into weights and quantization scales. */
export function gradTensors(net: Network, grads: Map<string, Float32Array>): { w: Record<string, tf.Tensor>; s: Record<string, tf.Tensor> } {
  const w: Record<string, tf.Tensor> = {};
  const s: Record<string, tf.Tensor> = {};
  for (const [n, g] of grads) (net.kinds.get(n) === 'scale' ? s : w)[n] = tf.tensor(g, net.v(n).shape);
  return { w, s };
}

/** Moves the BatchNorm running statistics by the batch statistics a request returned. */
export function applyBnStats(net: Network, bn: BnStats[]): void {
  tf.tidy(() => net.applyBnUpdates(bn.map((u) => ({ name: u.name, key: u.key, mean: tf.tensor(u.mean), variance: tf.tensor(u.variance) }))));
}

/** Where each trainable variable of a network lives in the shared weight and gradient buffers. */
interface Layout { names: string[]; offsets: number[]; sizes: number[]; total: number }

function layoutOf(net: Network): Layout {
  const names: string[] = [];
  const offsets: number[] = [];
  const sizes: number[] = [];
  let total = 0;
  for (const [n, v] of net.vars) {
    if (net.kinds.get(n) === 'stat') continue;
    names.push(n); offsets.push(total); sizes.push(v.size); total += v.size;
  }
  return { names, offsets, sizes, total };
}

/** [start, end) rows of shard j of a batch of `count` rows cut into `shards`. */
export function shardRange(j: number, shards: number, count: number): [number, number] {
  return [Math.floor((j * count) / shards), Math.floor(((j + 1) * count) / shards)];
}

/** Shards computed by rank k of n: a contiguous run, so rank order is shard order. */
export function rankShards(k: number, ranks: number, shards: number): number[] {
  const [a, b] = shardRange(k, ranks, shards);
  return Array.from({ length: b - a }, (_, i) => a + i);
}

/** What one rank computes: per shard (in the rank's shard order) its weighted loss and BN statistics. */
interface RankPart { losses: number[]; present: Uint8Array; bn: BnStats[][] }

/**
 * Rank-local computation shared by the calling thread and the workers: for each of this rank's
 * shards j, the loss Σ_b CE_b · (rows / batch) and its gradients, written to slot j of `out`
 * (slots of the layout's size, one per shard of the batch).
 */
export class ShardComputer {
  /** Teacher probabilities per shard of the current batch (distillation). */
  private teachers = new Map<number, tf.Tensor>();

  constructor(readonly nets: Network[], readonly layouts: Layout[], readonly shape: [number, number, number], readonly classes: number) {}

  static forNets(nets: Network[], shape: [number, number, number], classes: number): ShardComputer {
    return new ShardComputer(nets, nets.map(layoutOf), shape, classes);
  }

  dropTeachers(): void {
    for (const t of this.teachers.values()) t.dispose();
    this.teachers.clear();
  }

  async compute(req: GradRequest, x: Float32Array, y: Int32Array, count: number, shards: number[], totalShards: number, out: Float32Array): Promise<RankPart> {
    const net = this.nets[req.net];
    const lay = this.layouts[req.net];
    const [H, W, C] = this.shape;
    const px = H * W * C;
    const present = new Uint8Array(lay.names.length);
    const losses: number[] = [];
    const bn: BnStats[][] = [];
    const index = new Map(lay.names.map((n, i) => [n, i]));
    for (const j of shards) {
      const [s, e] = shardRange(j, totalShards, count);
      const weight = (e - s) / count;
      const slot = out.subarray(j * lay.total, (j + 1) * lay.total);
      slot.fill(0);
      const stats: { name: string; key: string; mean: tf.Tensor; variance: tf.Tensor }[] = [];
      // the tensors leave the tidy kept and are read asynchronously (GPU backends have no cheap sync read)
      const { value, grads } = tf.tidy(() => {
        const xs = tf.tensor4d(x.subarray(s * px, e * px), [e - s, H, W, C]);
        const target = req.useTeacher ? this.teacher(j) : tf.oneHot(tf.tensor1d(y.subarray(s, e), 'int32'), this.classes);
        const r = tf.variableGrads(() => {
          let total: tf.Scalar | null = null;
          for (const b of req.bits) {
            const res = net.forward(xs, b, true);
            for (const u of res.bnUpdates) stats.push({ name: u.name, key: u.key, mean: tf.keep(u.mean), variance: tf.keep(u.variance) });
            if (req.keepTeacher) {
              this.teachers.get(j)?.dispose();
              this.teachers.set(j, tf.keep(tf.softmax(res.logits)));
            }
            const l = tf.losses.softmaxCrossEntropy(target, res.logits) as tf.Scalar;
            total = total ? (tf.add(total, l) as tf.Scalar) : l;
          }
          return tf.mul(total!, weight) as tf.Scalar;
        }, net.trainable());
        tf.keep(r.value);
        for (const g of Object.values(r.grads)) tf.keep(g);
        return r;
      });
      const gradEntries = Object.entries(grads);
      try {
        const [lossValue, gradValues, statValues] = await Promise.all([
          value.data(),
          Promise.all(gradEntries.map(([, g]) => g.data())),
          Promise.all(stats.map((u) => Promise.all([u.mean.data(), u.variance.data()]))),
        ]);
        losses.push(lossValue[0]);
        gradEntries.forEach(([tfName], q) => {
          const i = index.get(net.nameOf(tfName))!;
          present[i] = 1;
          slot.set(gradValues[q] as Float32Array, lay.offsets[i]);
        });
        bn.push(stats.map((u, q) => ({
          name: u.name, key: u.key,
          mean: (statValues[q][0] as Float32Array).map((a) => a * weight),
          variance: (statValues[q][1] as Float32Array).map((a) => a * weight),
        })));
      } finally {
        tf.dispose([value, ...gradEntries.map(([, g]) => g), ...stats.flatMap((u) => [u.mean, u.variance])]);
      }
    }
    return { losses, present, bn };
  }

  private teacher(j: number): tf.Tensor {
    const t = this.teachers.get(j);
    if (!t) throw new Error(`shard ${j}: no teacher probabilities were kept for this batch`);
    return t;
  }

  /** Top-1 classes of rows [s, e) of `x` (BatchNorm in inference mode). */
  async predict(i: number, bits: BitChoice, x: Float32Array, s: number, e: number): Promise<Int32Array> {
    const [H, W, C] = this.shape;
    const px = H * W * C;
    if (e === s) return new Int32Array(0);
    const classes = tf.tidy(() => this.nets[i].forward(tf.tensor4d(x.subarray(s * px, e * px), [e - s, H, W, C]), bits, false).logits.argMax(1));
    try { return (await classes.data()) as Int32Array; } finally { classes.dispose(); }
  }

  /** BatchNorm running statistics of network `i` (not trainable, so not in the weight buffer). */
  async stats(i: number): Promise<Record<string, Float32Array>> {
    const net = this.nets[i];
    const vars = [...net.vars].filter(([n]) => net.kinds.get(n) === 'stat');
    const values = await Promise.all(vars.map(([, v]) => v.data()));
    return Object.fromEntries(vars.map(([n], q) => [n, values[q] as Float32Array]));
  }

  loadStats(i: number, stats: Record<string, Float32Array>): void {
    const net = this.nets[i];
    tf.tidy(() => { for (const [n, arr] of Object.entries(stats)) net.v(n).assign(tf.tensor(arr, net.v(n).shape)); });
  }

  /** Copies the trainable weights of network `i` into `dst` (layout order). */
  async writeWeights(i: number, dst: Float32Array): Promise<void> {
    const lay = this.layouts[i];
    const values = await Promise.all(lay.names.map((n) => this.nets[i].v(n).data()));
    values.forEach((v, q) => dst.set(v as Float32Array, lay.offsets[q]));
  }

  /** Loads network `i`'s trainable weights from `src` (layout order). */
  readWeights(i: number, src: Float32Array): void {
    const lay = this.layouts[i];
    const net = this.nets[i];
    // the new values' tensors are released at the end; the variables keep their data
    tf.tidy(() => lay.names.forEach((n, q) => {
      const v = net.v(n);
      v.assign(tf.tensor(src.subarray(lay.offsets[q], lay.offsets[q] + lay.sizes[q]), v.shape));
    }));
  }
}

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

export class WorkerDiedError extends Error {
  constructor(message: string) { super(message); this.name = 'WorkerDiedError'; }
}

interface Pending<R> { resolve: (r: R) => void; reject: (e: Error) => void }

/** One worker thread and its single outstanding request; replies of kind 'error' reject it. */
export class Rank<Q = WorkerRequest, R extends { kind: string } = WorkerReply> {
  pending?: Pending<R>;
  dead?: string;
  constructor(readonly rank: number, readonly worker: Worker) {
    const thread = worker.threadId; // -1 once the thread has exited
    worker.on('message', (m: R & { message?: string }) => {
      const p = this.pending;
      this.pending = undefined;
      if (!p) return;
      if (m.kind === 'error') p.reject(new WorkerDiedError(`worker ${rank} (thread ${thread}) failed: ${m.message}`));
      else p.resolve(m);
    });
    const die = (why: string) => {
      this.dead ??= `worker ${rank} (thread ${thread}) ${why}`;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new WorkerDiedError(this.dead));
    };
    worker.on('error', (e) => die(`crashed: ${e.message}`));
    worker.on('exit', (code) => die(`exited with code ${code}`));
  }

  /** Sends `msg` (null: only waits, e.g. for 'ready') and resolves with the next reply. */
  request(msg: Q | null): Promise<R> {
    if (this.dead) return Promise.reject(new WorkerDiedError(this.dead));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      if (msg) this.worker.postMessage(msg);
    });
  }
}

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

/** A worker thread running `url`; TypeScript sources go through tsx's loader, registered in the thread. */
export function spawnWorker(url: URL, init: unknown): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData: init });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData: init });
}

/** A sibling module of this one, as TypeScript source or as compiled JavaScript. */
export function siblingUrl(name: string): URL {
  return new URL(`./${name}${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url);
}

/**
 * Gradients of the global batch from `ranks` threads (rank 0 = this one). `shards` (≥ ranks)
 * fixes the BatchNorm grouping; every rank computes a contiguous run of shards.
 */
export class DataParallel {
  private readonly local: ShardComputer;
  private readonly workers: Rank[] = [];
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
    const url = siblingUrl('parallel-worker');
    for (let k = 1; k < o.ranks; k++) {
      const init: WorkerInit = {
        rank: k, ranks: o.ranks, backend: o.backend, specs: nets.map((n) => n.spec), quants: nets.map((n) => n.quant), supernet: nets.map((n) => n instanceof SuperNetwork),
        shape: o.shape, classes: o.classes, weights: dp.weightViews.map((v) => v.buffer as SharedArrayBuffer),
        grads: dp.gradViews.map((v) => v.buffer as SharedArrayBuffer), x: dp.xView.buffer as SharedArrayBuffer, y: dp.yView.buffer as SharedArrayBuffer,
      };
      dp.workers.push(new Rank(k, spawnWorker(url, init)));
    }
    try {
      await Promise.all(dp.workers.map((w) => w.request(null)));
    } catch (e) {
      await dp.close();
      throw e;
    }
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
