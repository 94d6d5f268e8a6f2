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
import type { BnUpdate, Network } from '../nn/network.ts';

/** Which training images re-estimation uses: the first `images` of a permutation fixed by the seed, whole batches only. */
export function reestimationImages(split: Split, images: number, batch: number, seed: number): Int32Array {
  const n = Math.floor(Math.min(images, split.count) / batch) * batch;
  return Int32Array.from(deriveRng(seed, 4, 0).permutation(split.count).subarray(0, n));
}

/**
 * Sets the moving mean and variance of every BatchNorm set that `net` uses at each of `bits` to
 * the average over the batches of `indices` (float64 sums). Returns the number of batches.
 */
export async function reestimateBn(net: Network, ds: Dataset, split: Split, bits: readonly number[], indices: Int32Array, batch: number): Promise<number> {
  const batches = indices.length / batch;
  if (!Number.isInteger(batches) || batches < 1) throw new RangeError(`reestimateBn: expected whole batches of ${batch} images, got ${indices.length}`);
  for (const b of bits) {
    const sums = new Map<string, { name: string; key: string; mean: Float64Array; variance: Float64Array }>();
    for (let i = 0; i < batches; i++) {
      const { x } = makeBatch(ds, split, indices.subarray(i * batch, (i + 1) * batch), NO_AUGMENT, new Rng(0));
      let sets: { name: string; key: string }[] = [];
      const kept = tf.tidy(() => {
        const updates = net.forward(tf.tensor4d(x, [batch, ds.height, ds.width, ds.channels]), b, true).bnUpdates;
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
    }
    // momentum 0: each statistic becomes the average
    const updates: BnUpdate[] = [...sums.values()].map((s) => ({
      name: s.name, key: s.key, mean: tf.tensor1d(Float32Array.from(s.mean, (v) => v / batches)), variance: tf.tensor1d(Float32Array.from(s.variance, (v) => v / batches)),
    }));
    net.applyBnUpdates(updates, 0);
    tf.dispose(updates.flatMap((u) => [u.mean, u.variance]));
  }
  return batches;
}
