// Hessian-vector products and Hutchinson traces on tiny nets, checked against explicit
// Hessians, finite differences of gradients (smooth nets) and closed forms.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tfjs/backend.ts';
import { explicitHessian, hessianVectorProduct, hutchinsonSamples, hutchinsonTrace, TraceStatistics, type LossFn } from '../src/sensitivity/hessian.ts';
import { Rng } from '../src/math/rng.ts';

function randn(rng: Rng, shape: number[], std = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal() * std), shape);
}

/** Mean softmax cross-entropy from logits, via logSumExp (differentiable twice). */
function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  const logp = tf.sub(logits, tf.logSumExp(logits, 1, true));
  return tf.neg(tf.mean(tf.sum(tf.mul(labels, logp), 1))) as tf.Scalar;
}

function oneHot(rng: Rng, n: number, classes: number): tf.Tensor2D {
  return tf.oneHot(tf.tensor1d(Array.from({ length: n }, () => rng.int(classes)), 'int32'), classes).toFloat() as tf.Tensor2D;
}

interface Problem { params: tf.Variable[]; loss: LossFn; x: tf.Tensor; y: tf.Tensor2D }

/** Dense net 4 → 5 → 3 with the given activation. */
function denseNet(act: (t: tf.Tensor) => tf.Tensor, seed: number): Problem {
  const rng = new Rng(seed);
  const x = randn(rng, [6, 4]);
  const y = oneHot(rng, 6, 3);
  const params = [tf.variable(randn(rng, [4, 5], 0.8)), tf.variable(randn(rng, [5]), true), tf.variable(randn(rng, [5, 3], 0.8))];
  const loss: LossFn = ([w1, b1, w2]) => crossEntropy(tf.matMul(act(tf.add(tf.matMul(x as tf.Tensor2D, w1 as tf.Tensor2D), b1!)) as tf.Tensor2D, w2 as tf.Tensor2D), y);
  return { params, loss, x, y };
}

/** Conv net: 5×5×2 input → 3×3 conv (2→3, stride 2 or 1) → act → avgpool → dense → 2 classes. */
function convNet(act: (t: tf.Tensor) => tf.Tensor, seed: number, stride: 1 | 2): Problem {
  const rng = new Rng(seed);
  const x = randn(rng, [3, 5, 5, 2]);
  const y = oneHot(rng, 3, 2);
  const params = [tf.variable(randn(rng, [3, 3, 2, 3], 0.5)), tf.variable(randn(rng, [3, 2], 0.8))];
  const loss: LossFn = ([k, w]) => {
    const h = act(tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, stride, 'same')) as tf.Tensor4D;
    const pooled = tf.mean(tf.avgPool(h, 2, 1, 'valid'), [1, 2]) as tf.Tensor2D;
    return crossEntropy(tf.matMul(pooled, w as tf.Tensor2D), y);
  };
  return { params, loss, x, y };
}

/** Central differences of the gradient: column j ≈ (∇L(θ + h e_j) − ∇L(θ − h e_j)) / 2h. */
function finiteDifferenceHessian(p: Problem, h: number): Float64Array {
  const flat = p.params.map((v) => Array.from(v.dataSync()));
  const n = flat.reduce((a, f) => a + f.length, 0);
  const H = new Float64Array(n * n);
  const gradAt = (j: number, delta: number): number[] => {
    let k = j;
    const i = flat.findIndex((f) => (k < f.length ? true : ((k -= f.length), false)));
    const shifted = flat[i]!.slice();
    shifted[k] += delta;
    p.params[i]!.assign(tf.tensor(shifted, p.params[i]!.shape));
    const g = tf.grads(() => p.loss(p.params))(p.params);
    p.params[i]!.assign(tf.tensor(flat[i]!, p.params[i]!.shape));
    const out = g.flatMap((t) => Array.from(t.dataSync()));
    tf.dispose(g);
    return out;
  };
  for (let j = 0; j < n; j++) {
    const gp = gradAt(j, h), gm = gradAt(j, -h);
    for (let r = 0; r < n; r++) H[r * n + j] = (gp[r]! - gm[r]!) / (2 * h);
  }
  return H;
}

function maxAbs(a: ArrayLike<number>): number { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!)); return m; }
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); return m; }

function asymmetry(H: Float64Array, n: number): number {
  let m = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) m = Math.max(m, Math.abs(H[i * n + j]! - H[j * n + i]!));
  return m;
}

function blockTrace(H: Float64Array, n: number, from: number, to: number): number {
  let t = 0;
  for (let i = from; i < to; i++) t += H[i * n + i]!;
  return t;
}

test('HVP of a quadratic ½θᵀAθ + bᵀθ is A·v exactly', async () => {
  await initBackend('cpu');
  const A = tf.tensor2d([[2, -1, 0], [-1, 3, 0.5], [0, 0.5, 1]]);
  const b = tf.tensor1d([1, -2, 0.5]);
  const theta = tf.variable(tf.tensor1d([0.3, -0.7, 1.1]));
  const loss: LossFn = ([t]) => tf.add(tf.mul(0.5, tf.sum(tf.mul(t!, tf.matMul(A, t!.reshape([3, 1])).reshape([3])))), tf.sum(tf.mul(b, t!))) as tf.Scalar;
  const v = tf.tensor1d([1, -1, 2]);
  const [hv] = hessianVectorProduct(loss, [theta], [v]);
  assert.equal(Array.from(hv!.dataSync()), Array.from(tf.matMul(A, v.reshape([3, 1])).dataSync()));
});

test('explicit Hessian of smooth (tanh) nets matches finite differences of gradients', async () => {
  await initBackend('cpu');
  for (const p of [denseNet(tf.tanh, 1), convNet(tf.tanh, 2, 2), convNet(tf.sigmoid, 3, 1)]) {
    const { n, H } = explicitHessian(p.loss, p.params);
    const fd = finiteDifferenceHessian(p, 1e-2);
    const scale = maxAbs(H);
    assert.ok(scale > 1e-3, 'non-trivial Hessian');
    // float32 central differences with h = 1e-2: truncation O(h²) and rounding O(ε/h).
    assert.ok(maxAbsDiff(H, fd) <= 2e-3 * scale + 1e-4, `|H − FD| = ${maxAbsDiff(H, fd)}, scale ${scale}`);
    assert.ok(asymmetry(H, n) <= 1e-5 * scale + 1e-6, `asymmetry ${asymmetry(H, n)}`);
  }
});

test('ReLU net: the last layer block equals the closed form Σ (h hᵀ) ⊗ (diag p − p pᵀ) / N', async () => {
  await initBackend('cpu');
  const p = denseNet(tf.relu, 4);
  const { n, H } = explicitHessian(p.loss, p.params);
  assert.ok(asymmetry(H, n) <= 1e-5 * maxAbs(H) + 1e-6);
  const [w1, b1, w2] = p.params as [tf.Variable, tf.Variable, tf.Variable];
  const hid = tf.relu(tf.add(tf.matMul(p.x as tf.Tensor2D, w1 as tf.Tensor2D), b1)) as tf.Tensor2D;
  const prob = tf.softmax(tf.matMul(hid, w2 as tf.Tensor2D));
  const hv = hid.arraySync(), pv = prob.arraySync() as number[][];
  const N = hv.length, D = 5, K = 3, off = n - D * K;
  for (let a = 0; a < D; a++) for (let c = 0; c < K; c++) for (let b = 0; b < D; b++) for (let d = 0; d < K; d++) {
    let want = 0;
    for (let s = 0; s < N; s++) want += hv[s]![a]! * hv[s]![b]! * ((c === d ? pv[s]![c]! : 0) - pv[s]![c]! * pv[s]![d]!);
    want /= N;
    const got = H[(off + a * K + c) * n + off + b * K + d]!;
    assert.ok(Math.abs(got - want) <= 1e-5 + 1e-4 * Math.abs(want), `H[${a},${c};${b},${d}] ${got} vs ${want}`);
  }
});

test('HVP on the wasm backend (Conv2DBackpropFilter and its gradient) matches cpu', async () => {
  const v = (p: Problem) => { const r = new Rng(9); return p.params.map((q) => randn(r, q.shape)); };
  await initBackend('cpu');
  const pc = convNet(tf.relu, 5, 2);
  const want = hessianVectorProduct(pc.loss, pc.params, v(pc)).map((t) => Array.from(t.dataSync()));
  await initBackend('wasm');
  const pw = convNet(tf.relu, 5, 2);
  const got = hessianVectorProduct(pw.loss, pw.params, v(pw)).map((t) => Array.from(t.dataSync()));
  want.forEach((w, i) => assert.ok(maxAbsDiff(got[i]!, w) <= 1e-4 * Math.max(1, maxAbs(w)), `param ${i}: ${maxAbsDiff(got[i]!, w)}`));
  await initBackend('cpu');
});

test('Hutchinson per-layer traces agree with the exact traces within 4 standard errors', async () => {
  await initBackend('cpu');
  for (const p of [convNet(tf.relu, 6, 1), denseNet(tf.relu, 7)]) {
    const { n, H } = explicitHessian(p.loss, p.params);
    const sizes = p.params.map((q) => q.size);
    const bounds = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
    const iters = 200;
    const r = await hutchinsonTrace({ lossFn: (ps) => p.loss(ps), params: p.params, batches: [null], tol: 1e-9, maxIters: iters, seed: 11 });
    assert.is(r.iters, iters);
    assert.not.ok(r.converged);
    sizes.forEach((size, l) => {
      const lo = bounds[l]!, hi = lo + size;
      const exact = blockTrace(H, n, lo, hi);
      // Var of one sample v_lᵀ(Hv)_l: 4H_ij² per pair inside layer l, H_ij² per pair with one index outside.
      let variance = 0;
      for (let i = lo; i < hi; i++) for (let j = 0; j < n; j++) {
        if (j === i) continue;
        const h2 = H[i * n + j]! ** 2;
        variance += j >= lo && j < hi ? 2 * h2 : h2; // ordered pairs inside count twice: 2·2 = 4 per unordered pair
      }
      const se = Math.sqrt(variance / iters);
      assert.ok(Math.abs(r.trace[l]! - exact) <= 4 * se + 1e-6, `layer ${l}: ${r.trace[l]} vs exact ${exact} (se ${se})`);
      assert.ok(Math.abs(r.perParam[l]! - r.trace[l]! / size) < 1e-12);
      // The reported standard error estimates the true one.
      assert.ok(r.stderr[l]! < 2 * se + 1e-9 && r.stderr[l]! > 0.5 * se - 1e-9, `stderr ${r.stderr[l]} vs ${se}`);
    });
  }
});

test('Hutchinson stops once every layer is within tol and averages batches by size', async () => {
  await initBackend('cpu');
  const p = denseNet(tf.tanh, 8);
  // Two batches: the first three and the last three examples of the same data.
  const halves = [[0, 3], [3, 3]].map(([s, k]) => ({ x: p.x.slice([s!, 0], [k!, 4]), y: p.y.slice([s!, 0], [k!, 3]) }));
  const lossOn = (ps: tf.Variable[], b: { x: tf.Tensor; y: tf.Tensor }) => {
    const [w1, b1, w2] = ps as [tf.Variable, tf.Variable, tf.Variable];
    return crossEntropy(tf.matMul(tf.tanh(tf.add(tf.matMul(b.x as tf.Tensor2D, w1 as tf.Tensor2D), b1)) as tf.Tensor2D, w2 as tf.Tensor2D), b.y as tf.Tensor2D);
  };
  const tol = 0.05;
  const r = await hutchinsonTrace({ lossFn: lossOn, params: p.params, batches: halves, batchSizes: [3, 3], tol, maxIters: 2000, seed: 3 });
  assert.ok(r.converged, `not converged after ${r.iters}`);
  r.stderr.forEach((se, l) => assert.ok(se <= tol * Math.abs(r.trace[l]!)));
  const { n, H } = explicitHessian(p.loss, p.params);
  const exact = [blockTrace(H, n, 0, 20), blockTrace(H, n, 20, 25), blockTrace(H, n, 25, 40)];
  // Stopped at relative standard error ≤ tol: the exact value lies within a few of those.
  exact.forEach((t, l) => assert.ok(Math.abs(r.trace[l]! - t) <= 4 * tol * Math.abs(r.trace[l]!), `layer ${l}: ${r.trace[l]} vs ${t}`));
});

test('probes are seeded by index: splitting a run into parts gives the same samples and the same estimate', async () => {
  await initBackend('cpu');
  const p = convNet(tf.relu, 2, 1);
  const opts = { lossFn: (ps: tf.Variable[]) => p.loss(ps), params: p.params, batches: [null], tol: 1e-9, maxIters: 6, seed: 9 };
  const whole = await hutchinsonSamples(opts, 0, 6);
  const parts = [...await hutchinsonSamples(opts, 4, 2), ...await hutchinsonSamples(opts, 0, 1), ...await hutchinsonSamples(opts, 1, 3)];
  const reordered = [...parts.slice(2), ...parts.slice(0, 2)]; // probes 0..5
  assert.equal(reordered.map((x) => Array.from(x)), whole.map((x) => Array.from(x)));
  assert.ok(whole[0]!.some((x, l) => x !== whole[1]![l]), 'different probes give different samples');
  const stats = new TraceStatistics(p.params.length);
  whole.forEach((x) => stats.add(x));
  const r = await hutchinsonTrace(opts);
  assert.equal(r.trace, stats.trace());
  assert.equal(r.stderr, stats.stderr());
  assert.is(r.iters, 6);
});

test("'one-batch' probes (one batch each, cycling) estimate the whole set's traces and end on whole cycles", async () => {
  await initBackend('cpu');
  const p = denseNet(tf.tanh, 8);
  const thirds = [[0, 2], [2, 3], [5, 1]].map(([s, k]) => ({ x: p.x.slice([s!, 0], [k!, 4]), y: p.y.slice([s!, 0], [k!, 3]) }));
  const lossOn = (ps: tf.Variable[], b: { x: tf.Tensor; y: tf.Tensor }) => {
    const [w1, b1, w2] = ps as [tf.Variable, tf.Variable, tf.Variable];
    return crossEntropy(tf.matMul(tf.tanh(tf.add(tf.matMul(b.x as tf.Tensor2D, w1 as tf.Tensor2D), b1)) as tf.Tensor2D, w2 as tf.Tensor2D), b.y as tf.Tensor2D);
  };
  const r = await hutchinsonTrace({ lossFn: lossOn, params: p.params, batches: thirds, batchSizes: [2, 3, 1], tol: 1e-9, maxIters: 301, seed: 5, probeData: 'one-batch' });
  assert.is(r.iters, 300, 'rounded down to whole cycles of 3');
  const { n, H } = explicitHessian(p.loss, p.params);
  const exact = [blockTrace(H, n, 0, 20), blockTrace(H, n, 20, 25), blockTrace(H, n, 25, 40)];
  exact.forEach((t, l) => assert.ok(Math.abs(r.trace[l]! - t) <= 4 * r.stderr[l]! + 1e-6, `layer ${l}: ${r.trace[l]} vs exact ${t} (se ${r.stderr[l]})`));
  const stopped = await hutchinsonTrace({ lossFn: lossOn, params: p.params, batches: thirds, batchSizes: [2, 3, 1], tol: 0.2, maxIters: 3000, seed: 5, probeData: 'one-batch' });
  assert.ok(stopped.converged);
  assert.is(stopped.iters % 3, 0);
});

test('bad arguments name the field', async () => {
  await initBackend('cpu');
  const p = denseNet(tf.tanh, 1);
  assert.throws(() => hessianVectorProduct(p.loss, p.params, [tf.zeros([4, 5])]), /v: expected 3 tensors/);
  assert.throws(() => hessianVectorProduct(p.loss, p.params, [tf.zeros([4, 5]), tf.zeros([4]), tf.zeros([5, 3])]), /v\[1\]: expected shape \[5\]/);
  const base = { lossFn: (ps: tf.Variable[]) => p.loss(ps), params: p.params, batches: [0], tol: 0.1, maxIters: 10, seed: 1 };
  assert.throws(() => hutchinsonTrace({ ...base, batches: [] }), /batches: expected at least one/);
  assert.throws(() => hutchinsonTrace({ ...base, tol: 0 }), /tol: expected a positive/);
  assert.throws(() => hutchinsonTrace({ ...base, maxIters: 1 }), /maxIters/);
  assert.throws(() => hutchinsonTrace({ ...base, batchSizes: [1, 2] }), /batchSizes: expected 1 positive/);
  assert.throws(() => hutchinsonTrace({ ...base, minIters: 1 }), /minIters: expected an integer ≥ 2, got 1/);
  assert.throws(() => hutchinsonTrace({ ...base, seed: 0.5 }), /seed: expected an integer, got 0.5/);
  assert.throws(() => hutchinsonTrace({ ...base, probeData: 'some' as never }), /probeData: expected one of all, one-batch, got some/);
});

test('no tensors leak', async () => {
  await initBackend('cpu');
  const p = convNet(tf.relu, 1, 2);
  const v = p.params.map((q) => tf.onesLike(q));
  const before = tf.memory().numTensors;
  tf.dispose(hessianVectorProduct(p.loss, p.params, v));
  await hutchinsonTrace({ lossFn: (ps) => p.loss(ps), params: p.params, batches: [0], tol: 0.5, maxIters: 3, seed: 2 });
  assert.is(tf.memory().numTensors, before);
});

test.run();
