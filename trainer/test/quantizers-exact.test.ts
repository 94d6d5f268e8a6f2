// The fake quantizers and scale initialisation on small inputs worked by hand (power-of-two scales,
// so every float32 step is exact): eq. 1-3 and 4-5 forward values, their STE gradients per tensor,
// per channel and on the clip edges, DoReFa levels, the bit-range checks, and the initial scales
// (all-zero input, an exact grid, the strided sample of large activations).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { roundHalfEven } from '@bitswitch/format';
import {
  activationQuantize, doubleRoundingError, doubleRoundingQuantize, dorefaQuantize, initActivationScale, initWeightScale,
  lsqGradScale, roundSte,
} from '../src/index.ts';
import { thrownMessage as message } from '../../test/mutation-oracles.ts';

await tf.setBackend('cpu');
const list = (t: tf.Tensor) => Array.from(t.dataSync());
const close = (a: number[], b: number[], tol = 1e-6) => a.length === b.length && a.every((x, i) => Math.abs(x - b[i]) <= tol);


test('the LSQ factor', () => {
  assert.is(lsqGradScale(4, 16), 1 / 8);
  assert.is(lsqGradScale(2, 2), 1 / 2);
});

test('eq. 1-3 forward by hand, round and floor shifts, both clip edges', () => {
  // s = 1/64, h = 6 → W̃_6 = clip(round(64·w), −32, 31); l = 4 (÷4) → clip(·, −8, 7); Ŵ = W̃_4 · 4/64
  const w = tf.tensor([0.34375, -0.34375, 0.1171875, 5, -5, 0.09375]); // 64w = 22, −22, 7.5, 320, −320, 6
  const s = tf.tensor([1 / 64]);
  // W̃_6 = 22, −22, 8 (7.5 → even), 31, −32, 6; ÷4 = 5.5, −5.5, 2, 7.75, −8, 1.5 → round 6, −6, 2, 8→7, −8, 2
  assert.equal(list(doubleRoundingQuantize(w, s, 6, 4, 1)), [6, -6, 2, 7, -8, 2].map((q) => q / 16));
  // floor: 5, −6, 2, 7, −8, 1
  assert.equal(list(doubleRoundingQuantize(w, s, 6, 4, 1, 'floor')), [5, -6, 2, 7, -8, 1].map((q) => q / 16));
  // l = h: one rounding, W̃_6 · s
  assert.equal(list(doubleRoundingQuantize(w, s, 6, 6, 1)), [22, -22, 8, 31, -32, 6].map((q) => q / 64));
  assert.is(message(() => doubleRoundingQuantize(w, s, 9, 4, 1)), 'h: expected an integer in 2..8, got 9');
  assert.is(message(() => doubleRoundingQuantize(w, s, 1, 1, 1)), 'h: expected an integer in 2..8, got 1');
  assert.is(message(() => doubleRoundingQuantize(w, s, 6, 7, 1)), 'l: expected an integer in 2..6, got 7');
  assert.is(message(() => doubleRoundingQuantize(w, s, 6, 1, 1)), 'l: expected an integer in 2..6, got 1');
});

test('eq. 13-14 gradients by hand: inside, below, above and on the edges; per tensor, per channel, rank 3', () => {
  // h = 4, l = 2: step 4, [n, p] = [−2, 1]; s = 1/4 so S = s·4 = 1 and v = W
  const s = tf.tensor([0.25]);
  const w = tf.tensor([0.3, -0.6, 1.7, -3, 1, -2]); // v: inside, inside, above, below, on p, on n
  const g = 0.5;
  const [dW, dS] = tf.grads((wt, st) => doubleRoundingQuantize(wt, st, 4, 2, g).sum())([w, s]);
  assert.equal(list(dW), [1, 1, 0, 0, 0, 0]);
  // W̃_4 = round(4W) clipped to [−8, 7] = 1, −2, 7, −8, 4, −8 → ÷4 round → 0, 0 (−0.5 → even), 2→1, −2, 1, −2
  // dS = step·g·Σ(W̃_l − v·inside) = 4·0.5·((0 − 0.3) + (0 + 0.6) + 1 + (−2) + 1 + (−2))
  assert.ok(close(list(dS), [2 * (-0.3 + 0.6 + 1 - 2 + 1 - 2)], 1e-6), `dS ${list(dS)}`);
  // per output channel (last axis) on a rank-3 tensor: one sum per channel
  const w3 = tf.tensor([0.3, 1.7, -0.6, -3, 0.2, 0.4, 1, -2], [2, 2, 2]);
  const s2 = tf.tensor([0.25, 0.25]);
  const [dW3, dS3] = tf.grads((wt, st) => doubleRoundingQuantize(wt, st, 4, 2, 1).sum())([w3, s2]);
  assert.equal(list(dW3), [1, 0, 1, 0, 1, 1, 0, 0]);
  // channel 0: v = 0.3, −0.6, 0.2, 1 → 4·((0−0.3) + (0+0.6) + (0−0.2) + 1); channel 1: 1.7, −3, 0.4, −2 → 4·(1 − 2 + (0 − 0.4) − 2)
  assert.ok(close(list(dS3), [4 * (-0.3 + 0.6 - 0.2 + 1), 4 * (1 - 2 - 0.4 - 2)], 1e-5), `dS ${list(dS3)}`);
  assert.equal(dS3.shape, [2]);
  assert.equal(dS.shape, [1]);
  // the upstream gradient multiplies both
  const dy = tf.tensor([2, 3, 1, 1, 1, 1]);
  const [dW2, dS2] = tf.grads((wt, st) => doubleRoundingQuantize(wt, st, 4, 2, 1).mul(dy).sum())([w, s]);
  assert.equal(list(dW2), [2, 3, 0, 0, 0, 0]);
  assert.ok(close(list(dS2), [4 * (2 * -0.3 + 3 * 0.6 + 1 - 2 + 1 - 2)], 1e-5));
});

test('eq. 4-5 forward and gradients by hand, edges 0 and Q excluded from the inside', () => {
  // s = 1/4, b = 2 (Q = 3): v = −4, 0.5, 1.5, 2.5, 40, 0, 3
  const x = tf.tensor([-1, 0.125, 0.375, 0.625, 10, 0, 0.75]);
  const s = tf.tensor([0.25]);
  assert.equal(list(activationQuantize(x, s, 2, 1)), [0, 0, 0.5, 0.5, 0.75, 0, 0.75]);
  const [dX, dS] = tf.grads((xt, st) => activationQuantize(xt, st, 2, 0.5).sum())([x, s]);
  assert.equal(list(dX), [0, 1, 1, 1, 0, 0, 0]);
  // g·Σ(X̃ − v·inside): 0 + (0 − 0.5) + (2 − 1.5) + (2 − 2.5) + 3 + 0 + 3 = 5.5
  assert.equal(list(dS), [0.5 * 5.5]);
  assert.equal(dS.shape, [1]);
  assert.equal(list(activationQuantize(tf.tensor([0.3, 0.5]), tf.tensor([0.25]), 1, 1)), [0.25, 0.25]);
  assert.is(message(() => activationQuantize(x, s, 0, 1)), 'bits: expected an integer in 1..8, got 0');
  assert.is(message(() => activationQuantize(x, s, 9, 1)), 'bits: expected an integer in 1..8, got 9');
});

test('DoReFa levels by hand, straight-through round, bit checks', () => {
  // tanh(0) = 0, ±tanh(1) = ±max: w_t = 0.5, 1, 0 → 3·w_t = 1.5, 3, 0 → 2, 3, 0 → 2·code/3 − 1
  assert.ok(close(list(dorefaQuantize(tf.tensor([0, 1, -1]), 2)), [1 / 3, 1, -1]));
  // 4 bits: 15·w_t with w_t = tanh(0.5)/(2·tanh(1)) + 0.5 = 0.80344… → 12.05 → 12 → 2·12/15 − 1 = 0.6
  assert.ok(close(list(dorefaQuantize(tf.tensor([0.5, 1, -1]), 4)), [0.6, 1, -1]));
  assert.equal(list(roundSte(tf.tensor([0.5, 1.5, -2.5, 0.4]))), [0, 2, -2, 0]);
  assert.equal(list(tf.grad((t) => roundSte(t).mul(tf.tensor([1, 2, 3, 4])).sum())(tf.tensor([0.5, 1.5, -2.5, 0.4]))), [1, 2, 3, 4]);
  assert.is(message(() => dorefaQuantize(tf.tensor([1]), 1)), 'bits: expected an integer in 2..8, got 1');
  assert.is(message(() => dorefaQuantize(tf.tensor([1]), 9)), 'bits: expected an integer in 2..8, got 9');
});

test('doubleRoundingError and initial scales by hand', () => {
  // s = 1/4, h = 4: W̃_4 = round(5.2) = 5, round(−2.4) = −2 → errors 0.05, −0.1;
  // l = 2 (step 4): round(1.25) = 1, round(−0.5) = 0 → Ŵ = 1, 0 → errors 0.3, −0.6
  const e = doubleRoundingError([1.3, -0.6], 0.25, 4, [4, 2]);
  assert.ok(Math.abs(e - (0.05 ** 2 + 0.1 ** 2 + 0.3 ** 2 + 0.6 ** 2)) < 1e-12, `${e}`);
  assert.ok(Math.abs(doubleRoundingError([1.3, -0.6], 0.25, 4, [4]) - (0.05 ** 2 + 0.1 ** 2)) < 1e-12);
  // clipping at both ends: W̃_4 = 7 for 3, −8 for −3 (s = 1/4) → errors 1.25, 1
  assert.ok(Math.abs(doubleRoundingError([3, -3], 0.25, 4, [4]) - (1.25 ** 2 + 1)) < 1e-12);
  assert.is(doubleRoundingError([], 0.25, 4, [4, 2]), 0);
  // all zero: the documented fallback
  assert.is(initWeightScale([0, 0, 0], 8, [8, 4]), 1e-3);
  assert.is(initActivationScale([0, 0], 4), 1e-3);
  // an exact grid: −1 and 0.5 are −2 and 1 at s = 0.5 = 1·max/2^(h−1), h = 2 (no other candidate is exact)
  assert.is(initWeightScale([-1, 0.5], 2, [2]), 0.5);
  // activations 0 and 3 at b = 2: s = max/Q = 1 is exact
  assert.is(initActivationScale([0, 3, 1, 2], 2), 1);
  // otherwise the first of the candidates c·max/Q, c = 1/40 … 1, with the least squared error
  const xs = [4, 1, 2, 3, 1, 2, 3, 1, 2, 3.5];
  const sqErr = (sc: number) => xs.reduce((acc, v) => acc + (v - Math.min(3, Math.max(0, roundHalfEven(v / sc))) * sc) ** 2, 0);
  let [best, bestErr] = [0, Infinity];
  for (let i = 1; i <= 40; i++) {
    const err = sqErr((i / 40) * 4 / 3);
    if (err < bestErr) [best, bestErr] = [i, err];
  }
  assert.is(initActivationScale(xs, 2), (best / 40) * 4 / 3);
  assert.ok(best < 40, 'a candidate below c = 1 wins here');
  // exact ties between candidates go to the smaller scale: c = 37/40 and 38/40 give the same error here
  assert.is(initActivationScale([8, 7, 0], 2), (37 / 40) * 8 / 3);
  assert.is(initWeightScale([-8, -7], 3, [3, 2]), (37 / 40) * 8 / 4);
  assert.is(doubleRoundingError([-8, -7], (37 / 40) * 2, 3, [3, 2]), doubleRoundingError([-8, -7], (38 / 40) * 2, 3, [3, 2]));
});

test('large activation batches are read through an evenly strided sample', () => {
  // 65536 values: all read; the 6 at index 1 makes s = 1.5 (codes 2 and 3·1.5 for 6) better than s = 1 (6 → 3)
  const n = 65536;
  const x = new Float32Array(n).fill(3);
  x[1] = 6;
  assert.is(initActivationScale(x, 2), 1.5);
  // two more: every second value is read, the 6 is not, and s = 1 is exact for the 3s
  const y = new Float32Array(n + 2).fill(3);
  y[1] = 6;
  assert.is(initActivationScale(y, 2), 1);
});

test.run();
