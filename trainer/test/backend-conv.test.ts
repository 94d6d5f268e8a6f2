// The wasm backend's Conv2DBackpropFilter (missing upstream: a direct SIMD kernel, and the
// Conv2D-based one it falls back to) and Conv2DBackpropInput (replaced: a direct SIMD kernel for
// strided convolutions, else a Conv2D) against the cpu backend's kernels, on many shapes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend, builtinWasmConv2DBackpropInput } from '../src/tfjs/backend.ts';
import { Rng } from '../src/math/rng.ts';

function uniformArray(rng: Rng, n: number): Float32Array {
  return Float32Array.from({ length: n }, () => 2 * rng.uniform() - 1);
}

type Pad = 'same' | 'valid' | number;
interface Case { B: number; H: number; W: number; Cin: number; Cout: number; fh: number; fw: number; s: [number, number]; pad: Pad }

function cases(): Case[] {
  const out: Case[] = [];
  // The grid the issue names: stride 1/2, same/valid, 1×1/3×3, odd and even sizes.
  for (const s of [1, 2]) for (const pad of ['same', 'valid'] as const) for (const k of [1, 3]) for (const H of [5, 8]) {
    out.push({ B: 3, H, W: H + 2, Cin: 3, Cout: 4, fh: k, fw: k, s: [s, s], pad });
  }
  // Random shapes: non-square filters and strides, numeric padding, single channels.
  const rng = new Rng(7);
  const pick = (lo: number, hi: number) => lo + rng.int(hi - lo + 1);
  // tfjs sizes the output of a numeric pad from the filter height and stride height only
  // (conv_util getPadAndOutInfo), so numeric pads get square filters and strides.
  for (let i = 0; i < 60; i++) {
    const numeric = i % 3 === 2;
    const fh = pick(1, 4), fw = numeric ? fh : pick(1, 4);
    const sh = pick(1, 3), sw = numeric ? sh : pick(1, 3);
    const pad: Pad = numeric ? pick(0, fh - 1) : i % 3 === 0 ? 'same' : 'valid';
    out.push({ B: pick(1, 4), H: pick(fh, 11), W: pick(fw, 11), Cin: pick(1, 6), Cout: pick(1, 6), fh, fw, s: [sh, sw], pad });
  }
  // Channel counts of the direct filter gradient's 4×8 blocks and their tails, and more output
  // pixels than one of its 128-pixel chunks (not a multiple of it).
  for (const [Cin, Cout] of [[4, 8], [16, 16], [13, 21], [8, 12], [5, 32], [1, 16]]) {
    out.push({ B: 3, H: 9, W: 7, Cin, Cout, fh: 3, fw: 3, s: [1, 1], pad: 'same' });
    out.push({ B: 5, H: 10, W: 10, Cin, Cout, fh: 3, fw: 3, s: [2, 2], pad: 'same' });
  }
  out.push({ B: 4, H: 8, W: 8, Cin: 16, Cout: 32, fh: 1, fw: 1, s: [2, 2], pad: 'valid' });
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.is(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]!));
  return m;
}

// float32 sums of ≤ a few hundred terms of O(1) values: errors of order 1e-6 relative.
const REL_TOL = 2e-6;

interface Grads { dw: Float32Array; dx: Float32Array }

function gradsOn(c: Case, xv: Float32Array, wv: Float32Array, dyv: Float32Array, yShape: number[]): Grads {
  const x = tf.tensor4d(xv, [c.B, c.H, c.W, c.Cin]);
  const dy = tf.tensor4d(dyv, yShape as [number, number, number, number]);
  const w = tf.tensor4d(wv, [c.fh, c.fw, c.Cin, c.Cout]);
  const dw = tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
    { strides: c.s, pad: c.pad, dataFormat: 'NHWC', filterShape: [c.fh, c.fw, c.Cin, c.Cout] }) as tf.Tensor;
  const dx = tf.conv2dTranspose(dy, w, [c.B, c.H, c.W, c.Cin], c.s, c.pad);
  const out = { dw: dw.dataSync() as Float32Array, dx: dx.dataSync() as Float32Array };
  tf.dispose([x, dy, w, dw, dx]);
  return out;
}

async function matchesCpu(): Promise<void> {
  await initBackend('wasm');
  const rng = new Rng(42);
  for (const c of cases()) {
    const label = JSON.stringify(c);
    const xv = uniformArray(rng, c.B * c.H * c.W * c.Cin);
    const wv = uniformArray(rng, c.fh * c.fw * c.Cin * c.Cout);
    await tf.setBackend('cpu');
    const yShape = tf.conv2d(tf.zeros([c.B, c.H, c.W, c.Cin]) as tf.Tensor4D, tf.tensor4d(wv, [c.fh, c.fw, c.Cin, c.Cout]), c.s, c.pad).shape;
    const dyv = uniformArray(rng, yShape.reduce((a, b) => a * b, 1));
    const ref = gradsOn(c, xv, wv, dyv, yShape);
    await tf.setBackend('wasm');
    const got = gradsOn(c, xv, wv, dyv, yShape);
    assert.ok(maxAbsDiff(got.dw, ref.dw) <= REL_TOL * Math.max(1, maxAbs(ref.dw)), `dW ${label}: ${maxAbsDiff(got.dw, ref.dw)}`);
    assert.ok(maxAbsDiff(got.dx, ref.dx) <= REL_TOL * Math.max(1, maxAbs(ref.dx)), `dx ${label}: ${maxAbsDiff(got.dx, ref.dx)}`);
  }
}

test('wasm Conv2DBackpropFilter and Conv2DBackpropInput (direct kernels where they apply) match the cpu backend', matchesCpu);

test('wasm Conv2DBackpropFilter and Conv2DBackpropInput via Conv2D (BITSWITCH_CONV_FILTER/INPUT=conv2d) match the cpu backend', async () => {
  process.env.BITSWITCH_CONV_FILTER = 'conv2d';
  process.env.BITSWITCH_CONV_INPUT = 'conv2d';
  try {
    await matchesCpu();
  } finally {
    delete process.env.BITSWITCH_CONV_FILTER;
    delete process.env.BITSWITCH_CONV_INPUT;
  }
});

test('the replacement Conv2DBackpropInput agrees with the builtin wasm kernel', async () => {
  await initBackend('wasm');
  const builtin = builtinWasmConv2DBackpropInput();
  assert.ok(builtin, 'the builtin kernel was kept');
  const rng = new Rng(3);
  for (const c of cases()) {
    const dyShape = tf.tidy(() => tf.conv2d(tf.zeros([c.B, c.H, c.W, c.Cin]) as tf.Tensor4D, tf.zeros([c.fh, c.fw, c.Cin, c.Cout]) as tf.Tensor4D, c.s, c.pad).shape);
    const dy = tf.tensor4d(uniformArray(rng, dyShape.reduce((a, b) => a * b, 1)), dyShape);
    const w = tf.tensor4d(uniformArray(rng, c.fh * c.fw * c.Cin * c.Cout), [c.fh, c.fw, c.Cin, c.Cout]);
    const inputs = { dy, filter: w };
    const attrs = { strides: c.s, pad: c.pad, dataFormat: 'NHWC', inputShape: [c.B, c.H, c.W, c.Cin] };
    const ours = tf.engine().runKernel('Conv2DBackpropInput', inputs, attrs) as tf.Tensor;
    const theirs = tf.engine().makeTensorFromTensorInfo(
      builtin!.kernelFunc({ inputs, backend: tf.backend(), attrs }) as tf.TensorInfo);
    const a = ours.dataSync(), b = theirs.dataSync();
    assert.ok(maxAbsDiff(a, b) <= REL_TOL * Math.max(1, maxAbs(b)), JSON.stringify(c) + ' ' + maxAbsDiff(a, b) + ' ' + maxAbs(b) + ' ' + a.length + ' ' + b.length);
    tf.dispose([dy, w, ours, theirs]);
  }
});

test('NCHW: Conv2DBackpropFilter names the unsupported format, Conv2DBackpropInput falls back to the builtin', async () => {
  await initBackend('wasm');
  const x = tf.zeros([1, 4, 4, 2]), dy = tf.zeros([1, 4, 4, 3]);
  assert.throws(() => tf.engine().runKernel('Conv2DBackpropFilter', { x, dy },
    { strides: 1, pad: 'same', dataFormat: 'NCHW', filterShape: [1, 1, 2, 3] }), /dataFormat must be 'NHWC'/);
  const rng = new Rng(4);
  const dyv = uniformArray(rng, 2 * 3 * 5 * 5), wv = uniformArray(rng, 3 * 3 * 4 * 3);
  const viaNhwc = () => Array.from(tf.transpose(tf.conv2dTranspose(tf.transpose(tf.tensor4d(dyv, [2, 3, 5, 5]), [0, 2, 3, 1]) as tf.Tensor4D,
    tf.tensor4d(wv, [3, 3, 4, 3]), [2, 5, 5, 4], 1, 'same'), [0, 3, 1, 2]).dataSync());
  // tf.conv2dTranspose has no dataFormat argument; run the kernel directly in NCHW.
  const got = tf.engine().runKernel('Conv2DBackpropInput', { dy: tf.tensor4d(dyv, [2, 3, 5, 5]), filter: tf.tensor4d(wv, [3, 3, 4, 3]) },
    { strides: 1, pad: 'same', dataFormat: 'NCHW', inputShape: [2, 4, 5, 5] }) as tf.Tensor;
  const want = viaNhwc();
  assert.ok(maxAbsDiff(got.dataSync(), want) <= REL_TOL * Math.max(1, maxAbs(want)));
});

test('no tensors leak from the composite kernels', async () => {
  await initBackend('wasm');
  const x = tf.ones([2, 7, 7, 3]) as tf.Tensor4D, w = tf.ones([3, 3, 3, 4]) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const bytes = (tf.backend() as unknown as { numDataIds(): number }).numDataIds();
  const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 'valid').sum());
  tf.dispose(g([x, w]));
  assert.is(tf.memory().numTensors, before);
  assert.is((tf.backend() as unknown as { numDataIds(): number }).numDataIds(), bytes);
});

test.run();
