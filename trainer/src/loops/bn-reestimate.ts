// BatchNorm statistics re-estimated after training. During training each bit-width's moving
// averages follow the batch statistics with momentum 0.9 (about the last ten batches), while the
// weights move under them; with small (ghost) batches they end noisy and a little stale, which
// costs accuracy at inference, most at 2 bits, above all while the learning rate is high. Re-
// estimation runs the final weights over a fixed set of training images, batch by batch at the
// training shard size, in training mode, and sets each statistic to the average of its batch
// means and batch (biased) variances: the moving average's quantity without its noise and lag,
// except that the images are not augmented (as the test images are not), where training saw
// augmented ones. Weights, scales and BN affine parameters are not touched.
import * as tf from '@tensorflow/tfjs';
import { makeBatch, NO_AUGMENT, type Dataset, type Split } from '../data/datasets.ts';
import { Rng, deriveRng } from '../math/rng.ts';
import type { BitChoice, BnUpdate, Network } from '../nn/network.ts';

/** Which training images re-estimation uses: the first `images` of a permutation fixed by the seed, whole batches only. */
export function reestimationImages(split: Split, images: number, batch: number, seed: number): Int32Array {
  const n = Math.floor(Math.min(images, split.count) / batch) * batch;
  return Int32Array.from(deriveRng(seed, 4, 0).permutation(split.count).subarray(0, n));
}

interface BnSums { name: string; key: string; mean: Float64Array; variance: Float64Array }

/**
 * The average batch mean and (biased) variance of every BatchNorm's input with the quantized
 * layers at `bits` (a uniform bit or one per layer), over the batches of `indices`, in training
 * mode; one entry per BatchNorm set used (float64 averages).
 */
async function measureBn(net: Network, ds: Dataset, split: Split, bits: BitChoice, indices: Int32Array, batch: number): Promise<BnSums[]> {
  const batches = indices.length / batch;
  if (!Number.isInteger(batches) || batches < 1) throw new RangeError(`reestimateBn: expected whole batches of ${batch} images, got ${indices.length}`);
  const sums = new Map<string, BnSums>();
  for (let i = 0; i < batches; i++) {
    const { x } = makeBatch(ds, split, indices.subarray(i * batch, (i + 1) * batch), NO_AUGMENT, new Rng(0));
    let sets: { name: string; key: string }[] = [];
    const kept = tf.tidy(() => {
      const updates = net.forward(tf.tensor4d(x, [batch, ds.height, ds.width, ds.channels]), bits, true).bnUpdates;
      sets = updates.map((u) => ({ name: u.name, key: u.key }));
      return updates.flatMap((u) => [u.mean, u.variance]);
    });
    // read asynchronously: a GPU backend has no synchronous read in Node
    const values = await Promise.all(kept.map((t) => t.data() as Promise<Float32Array>));
    tf.dispose(kept);
    for (const [j, { name, key }] of sets.entries()) {
      const mean = values[2 * j]!, variance = values[2 * j + 1]!;
      let s = sums.get(`${name}@${key}`);
      if (!s) sums.set(`${name}@${key}`, s = { name, key, mean: new Float64Array(mean.length), variance: new Float64Array(mean.length) });
      for (let c = 0; c < mean.length; c++) { s.mean[c] += mean[c]!; s.variance[c] += variance[c]!; }
    }
    // a CPU backend's reads resolve at once: yield to the event loop once a batch, so that a thread
    // measuring beside worker threads (bn-pool.ts) takes their replies and hands them more work
    await new Promise((resolve) => setImmediate(resolve));
  }
  for (const s of sums.values()) for (let c = 0; c < s.mean.length; c++) { s.mean[c] /= batches; s.variance[c] /= batches; }
  return [...sums.values()];
}

/**
 * Sets the moving mean and variance of every BatchNorm set that `net` uses at each of `bits` to
 * the average over the batches of `indices`. Returns the number of batches.
 */
export async function reestimateBn(net: Network, ds: Dataset, split: Split, bits: readonly number[], indices: Int32Array, batch: number): Promise<number> {
  for (const b of bits) {
    const measured = await measureBn(net, ds, split, b, indices, batch);
    // momentum 0: each statistic becomes the average
    const updates: BnUpdate[] = measured.map((s) => ({ name: s.name, key: s.key, mean: tf.tensor1d(Float32Array.from(s.mean)), variance: tf.tensor1d(Float32Array.from(s.variance)) }));
    net.applyBnUpdates(updates, 0);
    tf.dispose(updates.flatMap((u) => [u.mean, u.variance]));
  }
  return indices.length / batch;
}

/**
 * One SubNet's own BatchNorm statistics (format 1.3, SPEC §7.2): measured as reestimateBn does,
 * with every quantized layer at its SubNet bit; by BatchNorm layer name, the channels' means then
 * their variances. A TBN set is shared by every SubNet that runs its pair of bits, so its moving
 * averages fit none of them exactly; these fit this one. The network is not changed.
 */
export async function subnetBnStatistics(net: Network, ds: Dataset, split: Split, bits: readonly number[], indices: Int32Array, batch: number): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  for (const s of await measureBn(net, ds, split, [...bits], indices, batch)) {
    const C = s.mean.length;
    const stats = new Float32Array(2 * C);
    stats.set(s.mean);
    stats.set(s.variance, C);
    out[s.name] = stats;
  }
  return out;
}

/**
 * Runs `fn` with a SubNet's own BatchNorm statistics in the sets its bits select, then puts the
 * network's statistics back (also when `fn` throws).
 */
export async function withSubnetBn<T>(net: Network, bits: readonly number[], bn: Readonly<Record<string, Float32Array>> | undefined, fn: () => Promise<T>): Promise<T> {
  if (!bn || !Object.keys(bn).length) return fn();
  const saved: [tf.Variable, tf.Tensor][] = [];
  try {
    for (const [layer, stats] of Object.entries(bn)) {
      const node = net.spec.nodes.find((n) => n.name === layer);
      if (node?.op !== 'batchnorm') throw new RangeError(`bn: expected the names of batchnorm layers of ${net.spec.name}, got ${JSON.stringify(layer)}`);
      const key = net.bnKey(node, [...bits]);
      const C = stats.length / 2;
      for (const [part, values] of [['mean', stats.subarray(0, C)], ['var', stats.subarray(C)]] as const) {
        const v = net.vars.get(`${layer}/${part}@${key}`);
        if (!v || v.size !== C) throw new RangeError(`bn.${layer}: expected ${2 * (v?.size ?? 0)} values (means then variances), got ${stats.length}`);
        saved.push([v, v.clone()]);
        const t = tf.tensor1d(values);
        v.assign(t);
        t.dispose();
      }
    }
    return await fn();
  } finally {
    for (const [v, old] of saved) { v.assign(old); old.dispose(); }
  }
}
