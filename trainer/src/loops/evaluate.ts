// Evaluation of a trainer Network (BatchNorm in inference mode): accuracy, predictions and logits.
import * as tf from '@tensorflow/tfjs';
import { makeBatch, NO_AUGMENT, type Dataset, type Split } from '../data/datasets.ts';
import { Rng } from '../math/rng.ts';
import type { BitChoice, Network } from '../nn/network.ts';

/** The name of a precision: 'fp32' for float32, 'w8a8' for 8 bits, … */
export const precisionName = (b: number | null) => (b === null ? 'fp32' : `w${b}a${b}`);

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
    const classes = tf.tidy(() => net.forward(tf.tensor4d(x, [idx.length, ds.height, ds.width, ds.channels]), bits, false, undefined, { fused: true }).logits.argMax(1));
    const pred = await classes.data();
    classes.dispose();
    for (let j = 0; j < idx.length; j++) {
      predictions[i + j] = pred[j];
      if (pred[j] === y[j]) correct++;
    }
  }
  return { correct, predictions };
}

/** Logits [batch][classes] of NHWC float images at `bits`, BN in inference mode (for parity checks with the runtime). */
export async function logitsOf(net: Network, x: Float32Array, batch: number, bits: BitChoice): Promise<Float32Array> {
  const [H, W, C] = net.spec.inputShape;
  if (x.length !== batch * H * W * C) throw new RangeError(`x: expected ${batch}·${H}·${W}·${C} = ${batch * H * W * C} values, got ${x.length}`);
  const logits = tf.tidy(() => net.forward(tf.tensor4d(x, [batch, H, W, C]), bits, false).logits);
  try { return (await logits.data()) as Float32Array; } finally { logits.dispose(); }
}
