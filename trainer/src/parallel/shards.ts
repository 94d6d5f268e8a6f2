// Rank-local gradients: the global batch cut into shards, each shard's loss, gradients and
// BatchNorm statistics computed by whichever rank owns it and written to the shard's slot.
import * as tf from '@tensorflow/tfjs';
import type { BitChoice, Network } from '../nn/network.ts';

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

/** Where each trainable variable of a network lives in the shared weight and gradient buffers. */
export interface Layout { names: string[]; offsets: number[]; sizes: number[]; total: number }

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
export interface RankPart { losses: number[]; present: Uint8Array; bn: BnStats[][] }

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
    const classes = tf.tidy(() => this.nets[i].forward(tf.tensor4d(x.subarray(s * px, e * px), [e - s, H, W, C]), bits, false, undefined, { fused: true }).logits.argMax(1));
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
