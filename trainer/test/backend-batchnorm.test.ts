// Closed-form batch-norm gradient against TensorFlow.js autodiff of the plain formula (cpu).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tfjs/backend.ts';
import { batchNormTrain, batchNormInfer } from '../src/nn/batch-norm.ts';
import { Rng } from '../src/math/rng.ts';

function uniformArray(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
}

const EPS = 1e-3;

function naiveBatchNorm(x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D): tf.Tensor {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.add(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, EPS))), g), b);
}

function close(a: tf.Tensor, b: tf.Tensor, tol: number, what: string): void {
  assert.equal(a.shape, b.shape, what);
  const d = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
  const scale = Math.max(1, tf.max(tf.abs(b)).dataSync()[0]!);
  assert.ok(d <= tol * scale, `${what}: max |diff| ${d} > ${tol * scale}`);
}

const SHAPES: [number, number, number, number][] = [[2, 3, 3, 4], [5, 1, 1, 3], [3, 4, 5, 1], [1, 7, 2, 6], [8, 2, 2, 2]];

test('forward, batch statistics and all three gradients match autodiff of the formula', async () => {
  await initBackend('cpu');
  const rng = new Rng(11);
  for (const shape of SHAPES) {
    const C = shape[3];
    const x = tf.tensor4d(uniformArray(rng, shape.reduce((a, b) => a * b)), shape).mul(3).add(0.5) as tf.Tensor4D;
    const g = tf.tensor1d(uniformArray(rng, C)).add(1.5) as tf.Tensor1D;
    const b = tf.tensor1d(uniformArray(rng, C));
    // A non-uniform upstream gradient, so every term of dx matters.
    const w = tf.tensor4d(uniformArray(rng, x.size), shape);
    const ours = (xs: tf.Tensor, gs: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(batchNormTrain(xs as tf.Tensor4D, gs as tf.Tensor1D, bs as tf.Tensor1D, EPS).y, w));
    const ref = (xs: tf.Tensor, gs: tf.Tensor, bs: tf.Tensor) => tf.sum(tf.mul(naiveBatchNorm(xs as tf.Tensor4D, gs as tf.Tensor1D, bs as tf.Tensor1D), w));
    const r = batchNormTrain(x, g, b, EPS);
    close(r.y, naiveBatchNorm(x, g, b), 1e-5, `y ${shape}`);
    const m = tf.moments(x, [0, 1, 2]);
    close(r.mean, m.mean, 1e-6, `mean ${shape}`);
    close(r.variance, m.variance, 1e-5, `variance ${shape}`);
    const got = tf.grads(ours)([x, g, b]);
    const want = tf.grads(ref)([x, g, b]);
    ['dx', 'dgamma', 'dbeta'].forEach((n, i) => close(got[i]!, want[i]!, 2e-5, `${n} ${shape}`));
  }
});

test('the gradient uses no Tile kernel', async () => {
  await initBackend('cpu');
  const x = tf.randomNormal([4, 3, 3, 5], 0, 1, 'float32', 1) as tf.Tensor4D;
  const g = tf.ones([5]) as tf.Tensor1D, b = tf.zeros([5]) as tf.Tensor1D;
  const info = await tf.profile(() => tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
    tf.sum(tf.square(batchNormTrain(a as tf.Tensor4D, c as tf.Tensor1D, d as tf.Tensor1D).y)))([x, g, b]));
  const names = info.kernels.map((k) => k.name);
  assert.ok(names.length > 5, 'profile recorded kernels');
  assert.not.ok(names.includes('Tile'), `kernels: ${names.join(',')}`);
  // tf.batchNorm's own gradient does tile, which is why this op exists.
  const fused = await tf.profile(() => tf.grads((a: tf.Tensor, c: tf.Tensor, d: tf.Tensor) => {
    const m = tf.moments(a, [0, 1, 2]);
    return tf.sum(tf.square(tf.batchNorm(a as tf.Tensor4D, m.mean, m.variance, d as tf.Tensor1D, c as tf.Tensor1D, EPS)));
  })([x, g, b]));
  assert.ok(fused.kernels.some((k) => k.name === 'Tile'));
});

test('no tensors leak inside a tidy; statistics are owned by the caller', async () => {
  await initBackend('cpu');
  const x = tf.randomNormal([2, 2, 2, 3], 0, 1, 'float32', 2) as tf.Tensor4D;
  const g = tf.ones([3]) as tf.Tensor1D, b = tf.zeros([3]) as tf.Tensor1D;
  const before = tf.memory().numTensors;
  tf.tidy(() => { tf.grads((a: tf.Tensor) => tf.sum(batchNormTrain(a as tf.Tensor4D, g, b).y))([x]); });
  assert.is(tf.memory().numTensors, before);
  const r = batchNormTrain(x, g, b);
  assert.is(tf.memory().numTensors, before + 3);
  tf.dispose([r.y, r.mean, r.variance]);
  assert.is(tf.memory().numTensors, before);
});

test('inference mode uses the moving statistics and matches tf.batchNorm', async () => {
  await initBackend('cpu');
  const rng = new Rng(5);
  const x = tf.tensor4d(uniformArray(rng, 2 * 3 * 3 * 4), [2, 3, 3, 4]);
  const mean = tf.tensor1d(uniformArray(rng, 4)), variance = tf.tensor1d(uniformArray(rng, 4)).abs().add(0.1) as tf.Tensor1D;
  const g = tf.tensor1d(uniformArray(rng, 4)), b = tf.tensor1d(uniformArray(rng, 4));
  close(batchNormInfer(x, mean, variance, g, b, EPS), tf.batchNorm(x, mean, variance, b, g, EPS), 1e-6, 'inference');
});

test('bad shapes are RangeErrors naming the argument', () => {
  const x = tf.zeros([1, 2, 2, 3]) as tf.Tensor4D;
  assert.throws(() => batchNormTrain(x, tf.ones([2]) as tf.Tensor1D, tf.zeros([3]) as tf.Tensor1D), /gamma must have shape \[3\]/);
  assert.throws(() => batchNormTrain(tf.zeros([2, 3]) as never, tf.ones([3]) as tf.Tensor1D, tf.zeros([3]) as tf.Tensor1D), /x must be rank 4/);
  assert.throws(() => batchNormInfer(x, tf.ones([3]) as tf.Tensor1D, tf.ones([4]) as tf.Tensor1D, tf.ones([3]) as tf.Tensor1D, tf.zeros([3]) as tf.Tensor1D), /movingVariance must have shape \[3\]/);
});

test.run();
