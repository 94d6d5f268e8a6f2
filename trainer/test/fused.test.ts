// The fused wasm training kernels (src/tfjs/kernels/fused.ts) against the composite tfjs ops
// they replace, on the same wasm backend: forward values bit for bit, input gradients bit for
// bit (fake quantizer) or to float32 rounding (BatchNorm), sums to float32 rounding.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { signedRange } from '@bitswitch/format';
import { initBackend } from '../src/tfjs/backend.ts';
import { fusedKernelsActive } from '../src/tfjs/kernels/fused.ts';
import { activationQuantize, doubleRoundingQuantize, lsqGradScale } from '../src/quant/quantizers.ts';
import { batchNormTrain } from '../src/nn/batch-norm.ts';
import { Network } from '../src/nn/network.ts';
import { buildModel } from '../src/nn/models.ts';
import { Rng } from '../src/math/rng.ts';
import { Adam } from '../src/math/adam.ts';
import { relu } from '../src/nn/relu.ts';

await initBackend('wasm');

function values(rng: Rng, n: number, spread: number): Float32Array {
  // Some exact ties (k + 0.5)·s and values outside the clip range, besides uniform ones.
  return Float32Array.from({ length: n }, (_, i) => (i % 7 === 3 ? (rng.int(40) - 20 + 0.5) * 0.05 : (2 * rng.uniform() - 1) * spread));
}

function bits(a: Float32Array): Uint32Array { return new Uint32Array(a.buffer, a.byteOffset, a.length); }

function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  const g = bits(got), w = bits(want);
  for (let i = 0; i < g.length; i++) {
    // -0 and +0 are both the composite's result for a zero level times a scale: compare values there.
    if (g[i] !== w[i] && !(got[i] === 0 && want[i] === 0)) assert.unreachable(`${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

function close(got: Float32Array, want: Float32Array, rel: number, what: string): void {
  assert.is(got.length, want.length, `${what}: length`);
  let scale = 0;
  for (const v of want) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i]! - want[i]!) <= rel * Math.max(scale, 1e-30))) assert.unreachable(`${what}[${i}]: ${got[i]} vs ${want[i]} (scale ${scale})`);
  }
}

/** Value and gradients (x, scale) of f(x, s) weighted by a fixed random dy. */
function valueAndGrads(f: (x: tf.Tensor, s: tf.Tensor) => tf.Tensor, x: tf.Tensor, s: tf.Tensor, dy: tf.Tensor) {
  return tf.tidy(() => {
    const value = f(x, s).dataSync() as Float32Array;
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => f(a, b));
    const [dx, ds] = g([x, s], dy);
    return { value: Float32Array.from(value), dx: dx!.dataSync() as Float32Array, ds: ds!.dataSync() as Float32Array };
  });
}

test('the fused kernels are active on the wasm backend', () => {
  assert.ok(fusedKernelsActive());
});

test('weight fake quantizer: fused = composite on random shapes, bits, per-tensor and per-channel scales, round and floor', () => {
  const rng = new Rng(11);
  let cases = 0;
  for (let i = 0; i < 40; i++) {
    const h = 4 + rng.int(5); // 4..8
    const l = 2 + rng.int(h - 1); // 2..h
    const shape = i % 3 === 0 ? [1 + rng.int(7), 1 + rng.int(9)] : [1 + rng.int(3), 1 + rng.int(3), 1 + rng.int(6), 1 + rng.int(11)];
    const size = shape.reduce((a, b) => a * b, 1);
    const cout = shape[shape.length - 1]!;
    const perChannel = i % 2 === 1;
    const shift = i % 5 === 4 ? 'floor' as const : 'round' as const;
    const x = tf.tensor(values(rng, size, 1.5), shape);
    const s = tf.tensor(Float32Array.from({ length: perChannel ? cout : 1 }, () => 0.02 + 0.1 * rng.uniform()), [perChannel ? cout : 1]);
    const dy = tf.tensor(values(rng, size, 1), shape);
    const g = lsqGradScale(size / (perChannel ? cout : 1), signedRange(l)[1]);
    const fused = valueAndGrads((a, b) => doubleRoundingQuantize(a, b, h, l, g, shift, true), x, s, dy);
    const comp = valueAndGrads((a, b) => doubleRoundingQuantize(a, b, h, l, g, shift, false), x, s, dy);
    const what = `h${h} l${l} [${shape}] ${perChannel ? 'per-channel' : 'per-tensor'} ${shift}`;
    sameBits(fused.value, comp.value, `${what} value`);
    sameBits(fused.dx, comp.dx, `${what} dx`);
    close(fused.ds, comp.ds, 1e-5, `${what} ds`);
    tf.dispose([x, s, dy]);
    cases++;
  }
  assert.is(cases, 40);
});

test('activation fake quantizer: fused = composite on tensors of every length mod 4, every bit', () => {
  const rng = new Rng(12);
  for (let i = 0; i < 32; i++) {
    const b = 1 + (i % 8);
    const shape = [1 + rng.int(3), 1 + rng.int(9), 1 + rng.int(9), 1 + rng.int(17)];
    const size = shape.reduce((a, c) => a * c, 1);
    const x = tf.tensor(values(rng, size, 2), shape);
    const s = tf.tensor([0.01 + 0.2 * rng.uniform()], [1]);
    const dy = tf.tensor(values(rng, size, 1), shape);
    const g = lsqGradScale(size / shape[0]!, 2 ** b - 1);
    const fused = valueAndGrads((a, c) => activationQuantize(a, c, b, g, true), x, s, dy);
    const comp = valueAndGrads((a, c) => activationQuantize(a, c, b, g, false), x, s, dy);
    const what = `a${b} [${shape}]`;
    sameBits(fused.value, comp.value, `${what} value`);
    sameBits(fused.dx, comp.dx, `${what} dx`);
    close(fused.ds, comp.ds, 1e-5, `${what} ds`);
    tf.dispose([x, s, dy]);
  }
});

test('fake quantizer: a zero upstream gradient outside the range stays the composite ±0, NaN stays NaN', () => {
  const x = tf.tensor([-5, 0.3, 5, 0.2], [4]);
  const s = tf.tensor([0.1], [1]);
  const dy = tf.tensor([NaN, 1, -1, NaN], [4]);
  const fused = valueAndGrads((a, b) => activationQuantize(a, b, 2, 0.5, true), x, s, dy);
  const comp = valueAndGrads((a, b) => activationQuantize(a, b, 2, 0.5, false), x, s, dy);
  assert.equal([...fused.dx].map(String), [...comp.dx].map(String));
  assert.ok(Number.isNaN(fused.ds[0]) && Number.isNaN(comp.ds[0]));
});

function bnRun(fused: boolean, x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, dy: tf.Tensor) {
  return tf.tidy(() => {
    const r = batchNormTrain(x, gamma, beta, 1e-3, fused);
    const y = Float32Array.from(r.y.dataSync() as Float32Array);
    const stats = { mean: Float32Array.from(r.mean.dataSync() as Float32Array), variance: Float32Array.from(r.variance.dataSync() as Float32Array) };
    const g = tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) => batchNormTrain(a as tf.Tensor4D, b as tf.Tensor1D, c as tf.Tensor1D, 1e-3, fused).y);
    const [dx, dg, db] = g([x, gamma, beta], dy);
    return { y, ...stats, dx: dx!.dataSync() as Float32Array, dg: dg!.dataSync() as Float32Array, db: db!.dataSync() as Float32Array };
  });
}

test('training BatchNorm: fused = composite (to float32 rounding) on channel counts with and without a multiple of 4', () => {
  const rng = new Rng(13);
  for (const C of [1, 3, 4, 10, 16, 17, 64]) {
    const shape: [number, number, number, number] = [1 + rng.int(5), 1 + rng.int(9), 1 + rng.int(9), C];
    const size = shape.reduce((a, c) => a * c, 1);
    const x = tf.tensor4d(Float32Array.from({ length: size }, () => 3 + 2 * rng.normal()), shape);
    const gamma = tf.tensor1d(Float32Array.from({ length: C }, () => 0.5 + rng.uniform()));
    const beta = tf.tensor1d(Float32Array.from({ length: C }, () => rng.normal()));
    const dy = tf.tensor(Float32Array.from({ length: size }, () => rng.normal()), shape);
    const f = bnRun(true, x, gamma, beta, dy);
    const c = bnRun(false, x, gamma, beta, dy);
    const what = `C=${C} [${shape}]`;
    close(f.mean, c.mean, 1e-6, `${what} mean`);
    close(f.variance, c.variance, 1e-5, `${what} variance`);
    close(f.y, c.y, 1e-5, `${what} y`);
    close(f.db, c.db, 1e-5, `${what} dbeta`);
    close(f.dg, c.dg, 1e-4, `${what} dgamma`);
    close(f.dx, c.dx, 1e-4, `${what} dx`);
    tf.dispose([x, gamma, beta, dy]);
  }
});

test('training BatchNorm: a channel constant over the batch normalises to exactly β (float64 mean), variance 0', () => {
  const x = tf.tensor4d([0.35, 1, 0.35, 2, 0.35, 3, 0.35, 4, 0.35, 5, 0.35, 6], [3, 1, 2, 2]);
  const r = batchNormTrain(x, tf.tensor1d([2, 1]), tf.tensor1d([0.25, 0]), 1e-3, true);
  const y = r.y.dataSync();
  assert.equal([y[0], y[2], y[4], y[6]], [0.25, 0.25, 0.25, 0.25]);
  assert.is(r.variance.dataSync()[0], 0);
  assert.ok(Math.abs(r.variance.dataSync()[1]! - 35 / 12) < 1e-6);
});

test('a training forward pass on wasm runs the fused kernels, and its loss and gradients match the composite ops', async () => {
  const spec = buildModel('resnet8', [12, 12, 1]);
  const net = new Network(spec, { bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(3));
  const rng = new Rng(4);
  const x = tf.tensor4d(Float32Array.from({ length: 6 * 144 }, () => rng.normal()), [6, 12, 12, 1]);
  const y = tf.oneHot(tf.tensor1d([0, 1, 2, 3, 4, 5], 'int32'), 10);
  const lossAndGrads = () => tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.forward(x, 4, true).logits) as tf.Scalar, net.trainable());
    return { loss: value.dataSync()[0]!, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, Float32Array.from(g.dataSync() as Float32Array)])) };
  });
  const prof = await tf.profile(() => { lossAndGrads(); });
  const names = new Set(prof.kernels.map((k) => k.name));
  for (const k of ['BitswitchFakeQuant', 'BitswitchFakeQuantGrad', 'BitswitchBatchNormTrain', 'BitswitchBatchNormTrainGrad', 'BitswitchReluGrad']) assert.ok(names.has(k), `${k} ran`);
  assert.not.ok(names.has('Step'), 'the ReLU gradient runs no Step kernel');
  const fused = lossAndGrads();
  process.env.BITSWITCH_FUSED = 'off';
  let comp: ReturnType<typeof lossAndGrads>;
  try {
    comp = lossAndGrads();
  } finally {
    delete process.env.BITSWITCH_FUSED;
  }
  assert.ok(Math.abs(fused.loss - comp.loss) <= 1e-5 * Math.abs(comp.loss), `loss ${fused.loss} vs ${comp.loss}`);
  for (const [name, g] of Object.entries(comp.grads)) close(fused.grads[name]!, g, 2e-3, `grad ${name}`);
  tf.dispose([x, y]);
  net.dispose();
});

test('evaluation passes with the fused kernels give the composite logits bit for bit at every precision', async () => {
  const spec = buildModel('resnet8', [10, 10, 1]);
  const net = new Network(spec, { bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(5));
  const rng = new Rng(6);
  // moving statistics and scales away from their initial values, as after training
  for (const [name, v] of net.vars) {
    const r = () => Float32Array.from({ length: v.size }, () => rng.uniform());
    if (name.includes('/mean@')) v.assign(tf.tensor(r().map((a) => a - 0.5), v.shape));
    if (name.includes('/var@')) v.assign(tf.tensor(r().map((a) => 0.2 + a), v.shape));
    if (name.includes('scale')) v.assign(tf.tensor(r().map((a) => 0.02 + 0.05 * a), v.shape));
  }
  const x = tf.tensor4d(Float32Array.from({ length: 5 * 100 }, () => rng.normal()), [5, 10, 10, 1]);
  for (const bits of [null, 8, 6, 4, 2]) {
    const run = (fused: boolean) => tf.tidy(() => Float32Array.from(net.forward(x, bits, false, undefined, { fused }).logits.dataSync() as Float32Array));
    sameBits(run(true), run(false), `logits at ${bits ?? 'fp32'}`);
  }
  const names = new Set((await tf.profile(() => { tf.tidy(() => net.forward(x, 4, false, undefined, { fused: true }).logits.dataSync()); })).kernels.map((k) => k.name));
  assert.ok(names.has('BitswitchBatchNormInfer') && names.has('BitswitchFakeQuant'), [...names].join(' '));
  x.dispose();
  net.dispose();
});

test('Adam: one fused pass per variable gives the composite ops\' bits over several steps (sizes not a multiple of 4, with and without weight decay)', async () => {
  const shapes = [[1], [3], [5, 7], [3, 3, 4, 6], [37]];
  for (const weightDecay of [0, 5e-5]) {
    const run = async (fused: boolean) => {
      if (!fused) process.env.BITSWITCH_FUSED = 'off';
      try {
        const r = new Rng(3);
        const vars = new Map(shapes.map((sh, i) => [`v${i}`, tf.variable(tf.tensor(values(r, sh.reduce((a, b) => a * b, 1), 2), sh), true, `adam-test-${fused}-${weightDecay}-${i}`)] as const));
        const opt = new Adam({ beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay });
        for (let step = 0; step < 4; step++) {
          // gradients of very different sizes, some exact zeros; the last variable has none at step 2
          const grads = Object.fromEntries([...vars.keys()].filter((k, i) => !(step === 2 && i === shapes.length - 1))
            .map((k) => [k, tf.tensor(values(r, vars.get(k)!.size, step === 1 ? 1e-6 : 3).map((x, j) => (j % 5 === 0 ? 0 : x)), vars.get(k)!.shape)]));
          opt.apply(vars, grads, 5e-4 * (1 + step));
          Object.values(grads).forEach((g) => g.dispose());
        }
        const state = await opt.getState();
        const out = { p: [...vars.values()].map((v) => Float32Array.from(v.dataSync() as Float32Array)), m: Object.values(state.m), v: Object.values(state.v) };
        vars.forEach((v) => v.dispose());
        opt.dispose();
        return out;
      } finally {
        delete process.env.BITSWITCH_FUSED;
      }
    };
    const names = new Set((await tf.profile(async () => { await run(true); })).kernels.map((k) => k.name));
    assert.ok(names.has('BitswitchAdam') && !names.has('RealDiv'), [...names].join(' '));
    const a = await run(true), b = await run(false);
    for (let i = 0; i < shapes.length; i++) {
      sameBits(a.p[i]!, b.p[i]!, `p${i} (wd ${weightDecay})`);
      sameBits(a.m[i]!, b.m[i]!, `m${i} (wd ${weightDecay})`);
      sameBits(a.v[i]!, b.v[i]!, `v${i} (wd ${weightDecay})`);
    }
  }
});

test('ReLU: the fused gradient is tf.relu\'s bit for bit on every length mod 4 (zeros, negatives, ±0 upstream)', () => {
  const rng = new Rng(23);
  for (const n of [1, 2, 3, 4, 5, 8, 13, 64, 101]) {
    const xs = Float32Array.from({ length: n }, (_, i) => (i % 4 === 0 ? 0 : i % 4 === 1 ? -0 : rng.normal()));
    const dys = Float32Array.from({ length: n }, (_, i) => (i % 6 === 5 ? -0 : rng.normal()));
    const grad = (fused: boolean) => tf.tidy(() => {
      const x = tf.tensor1d(xs);
      const dy = tf.tensor1d(dys);
      const [value, dx] = [relu(x, fused), tf.grad((t: tf.Tensor) => relu(t, fused))(x, dy)];
      return { value: Float32Array.from(value.dataSync() as Float32Array), dx: Float32Array.from(dx.dataSync() as Float32Array) };
    });
    const f = grad(true), c = grad(false);
    sameBits(f.value, c.value, `relu(x), n ${n}`);
    sameBits(f.dx, c.dx, `dx, n ${n}`);
  }
});

test('Identity on wasm shares data: a clone outlives its disposed source with the same values', () => {
  const a = tf.tensor([1, 2, 3]);
  const b = tf.clone(a);
  a.dispose();
  assert.equal([...b.dataSync()], [1, 2, 3]);
  b.dispose();
});

test.run();
