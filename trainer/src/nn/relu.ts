// ReLU for training passes on the wasm backend: tfjs's forward, and the gradient dy·step(x) as one
// fused kernel instead of Step, Cast and Multiply (three passes and two tensors). The same values
// as tf.relu's gradient; no second-order gradient, so passes that need one use tf.relu.
import * as tf from '@tensorflow/tfjs';
import { RELU_GRAD } from '../tfjs/kernels/fused.ts';

const reluFused = tf.customGrad(((x: tf.Tensor, save: (t: tf.Tensor[]) => void) => {
  save([x]);
  return { value: tf.relu(x), gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.engine().runKernel(RELU_GRAD, { dy, x: saved[0]! }) as tf.Tensor };
}) as unknown as Parameters<typeof tf.customGrad>[0]);

/** max(x, 0); with `fused` (wasm backend, fused kernels active) its gradient is one fused pass. */
export function relu<T extends tf.Tensor>(x: T, fused: boolean): T {
  return (fused ? reluFused(x) : tf.relu(x)) as T;
}
