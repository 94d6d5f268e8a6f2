// The sensitivity command's pipeline: MNIST batches → Hutchinson traces of a model's quantized
// layers → the model file's sensitivity section (params and MACs from the format's layerCosts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModel, writeModel, layerCosts, type Model, type Conv2DLayer, type DenseLayer } from '@bitswitch/format';
import { computeSensitivity, register, targetFromNetwork, runSensitivity, sensitivityBatches, softmaxCrossEntropy, type Batch, type CommandLike, type SensitivityTarget, type TargetLoader } from '../src/hessian-cli.ts';
import { explicitHessian, hessianVectorProduct } from '../src/hessian.ts';
import { initBackend } from '../src/backend/index.ts';
import { buildModel } from '../src/models.ts';
import { Network } from '../src/network.ts';
import { Rng } from '../src/rng.ts';

function randInt8(rng: Rng, n: number): Int8Array { return Int8Array.from({ length: n }, () => rng.int(255) - 127); }
function randF32(rng: Rng, n: number, std: number): Float32Array { return Float32Array.from({ length: n }, () => rng.normal() * std); }

/** conv(float) → relu → conv(int8) → relu → gap → dense(int8) → relu → dense(float); tiny, so the exact Hessian is cheap. */
function tinyModel(): Model {
  const rng = new Rng(1);
  const bits = [8, 4];
  const int = (n: number, scale: number) => ({ kind: 'int' as const, bits: 8, values: randInt8(rng, n), scale: Float32Array.of(scale), actScales: Float32Array.of(0.05, 0.2) });
  return {
    bits, mode: 'multi', inputShape: [28, 28, 1],
    layers: [
      { name: 'c1', op: 'conv2d', inputs: ['input'], kernel: [3, 3], strides: [2, 2], padding: 'same', inChannels: 1, outChannels: 4, weights: { kind: 'float', values: randF32(rng, 36, 0.5) } },
      { name: 'r1', op: 'relu', inputs: ['c1'] },
      { name: 'c2', op: 'conv2d', inputs: ['r1'], kernel: [3, 3], strides: [2, 2], padding: 'same', inChannels: 4, outChannels: 2, weights: int(72, 0.004) },
      { name: 'r2', op: 'relu', inputs: ['c2'] },
      { name: 'g', op: 'globalavgpool', inputs: ['r2'] },
      { name: 'd1', op: 'dense', inputs: ['g'], inFeatures: 2, outFeatures: 4, weights: int(8, 0.05) },
      { name: 'r3', op: 'relu', inputs: ['d1'] },
      { name: 'd2', op: 'dense', inputs: ['r3'], inFeatures: 4, outFeatures: 10, weights: { kind: 'float', values: randF32(rng, 40, 0.5) } },
    ],
  };
}

/** Float weights of a layer as a tf kernel: conv OHWI → HWIO, dense [out][in] → [in, out]. */
function kernelOf(l: Conv2DLayer | DenseLayer): tf.Tensor {
  const w = l.weights;
  const values = w.kind === 'float' ? w.values : Float32Array.from(w.values, (q) => q * w.scale[0]!);
  return l.op === 'conv2d'
    ? tf.transpose(tf.tensor4d(values, [l.outChannels, l.kernel[0], l.kernel[1], l.inChannels]), [1, 2, 3, 0])
    : tf.transpose(tf.tensor2d(values, [l.outFeatures, l.inFeatures]));
}

/** A hand-built network for tinyModel (the test's stand-in for the trainer's model loader). */
const tinyLoader: TargetLoader = (model) => {
  const byName = new Map(model.layers.map((l) => [l.name, l]));
  const k = (n: string) => kernelOf(byName.get(n) as Conv2DLayer | DenseLayer);
  const c1 = k('c1'), d2 = k('d2');
  const params = [tf.variable(k('c2')), tf.variable(k('d1'))];
  return {
    layers: ['c2', 'd1'], params,
    loss: ([c2, d1], b: Batch) => {
      const h1 = tf.relu(tf.conv2d(b.x, c1 as tf.Tensor4D, 2, 'same'));
      const h2 = tf.mean(tf.relu(tf.conv2d(h1, c2 as tf.Tensor4D, 2, 'same')), [1, 2]) as tf.Tensor2D;
      return softmaxCrossEntropy(tf.matMul(tf.relu(tf.matMul(h2, d1 as tf.Tensor2D)), d2 as tf.Tensor2D), b.y);
    },
    dispose: () => tf.dispose([c1, d2, ...params]),
  } satisfies SensitivityTarget;
};

const OPTS = { data: 'mnist', images: 20, batch: 10, tol: 0.1, maxIters: 60, seed: 3, backend: 'cpu' as const };

test('sensitivity of a model agrees with the exact traces of its quantized layers', async () => {
  const model = tinyModel();
  const { model: out, result, backend } = await computeSensitivity(model, tinyLoader, OPTS);
  assert.is(backend, 'cpu');
  const costs = layerCosts(model).filter((c) => c.quantized);
  assert.equal(out.sensitivity!.map((s) => [s.layer, s.params, s.macs]), costs.map((c) => [c.layer, c.params, c.macs]));
  // Exact traces on the same 20 images: the mean loss over the two batches of 10.
  const { batches } = sensitivityBatches('mnist', 20, 10);
  const target = tinyLoader(model);
  const mean = (ps: tf.Variable[]) => tf.mul(0.5, tf.add(target.loss(ps, batches[0]!), target.loss(ps, batches[1]!))) as tf.Scalar;
  const { n, H } = explicitHessian(mean, target.params);
  const exact = [0, 0];
  for (let i = 0; i < n; i++) exact[i < 72 ? 0 : 1] += H[i * n + i]!;
  out.sensitivity!.forEach((s, l) => {
    assert.ok(Math.abs(s.hessianTrace - exact[l]!) <= 4 * result.stderr[l]! + 1e-6, `${s.layer}: ${s.hessianTrace} vs exact ${exact[l]} (se ${result.stderr[l]})`);
    assert.ok(exact[l]! > 0, 'positive curvature at a random init with CE loss');
  });
  target.dispose();
});

test('runSensitivity with the default loader (supernet-io) writes the section and matches the hand-built net', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-sens-'));
  const file = join(dir, 'm.bsw');
  writeFileSync(file, writeModel(tinyModel()));
  const before = readFileSync(file);
  const lines: string[] = [];
  const out = join(dir, 'out.bsw');
  const opts = { ...OPTS, maxIters: 6 };
  await runSensitivity(file, { ...opts, out }, undefined, (s) => lines.push(s));
  assert.equal(readFileSync(file), before, 'input untouched when --out is given');
  const m = readModel(readFileSync(out));
  assert.equal(m.sensitivity!.map((s) => s.layer), ['c2', 'd1']);
  assert.match(lines.join('\n'), /c2: tr\(H\)/);
  // Same weights, images and probes through the hand-built network: the same traces.
  const { model: hand } = await computeSensitivity(tinyModel(), tinyLoader, opts);
  m.sensitivity!.forEach((s, l) => {
    const want = hand.sensitivity![l]!.hessianTrace;
    assert.ok(Math.abs(s.hessianTrace - want) <= 1e-4 * Math.abs(want), `${s.layer}: ${s.hessianTrace} vs ${want}`);
  });
});

test('bad options name the flag and the expected value', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ data: 'cifar' }, /--data: expected one of mnist, fashion-mnist/],
    [{ data: 'mnist', tol: '0' }, /--tol: expected a number in \(0, 1\)/],
    [{ data: 'mnist', images: '-5' }, /--images: expected a positive integer/],
    [{ data: 'mnist', maxIters: '1' }, /--max-iters: expected an integer ≥ 2/],
    [{ data: 'mnist', backend: 'cuda' }, /--backend: expected one of/],
  ];
  for (const [raw, re] of bad) {
    let msg = '';
    try { await runSensitivity('/nonexistent.bsw', raw, tinyLoader); } catch (e) { msg = (e as Error).message; }
    assert.match(msg, re);
  }
});

test('register adds the sensitivity command with its options', () => {
  const calls: string[] = [];
  const fake: CommandLike = new Proxy({} as CommandLike, {
    get: (_t, prop: string) => (...args: unknown[]) => { calls.push(`${prop} ${typeof args[0] === 'string' ? args[0] : ''}`); return fake; },
  });
  register(fake);
  for (const c of ['command sensitivity', 'argument <model>', 'requiredOption --data <name>', 'option --images <n>', 'option --tol <r>', 'option --backend <name>']) {
    assert.ok(calls.includes(c), `${c} in ${calls.join(', ')}`);
  }
});

test('targetFromNetwork: HVPs through the trainer network are symmetric (uᵀHv = vᵀHu)', async () => {
  await initBackend('wasm');
  const net = new Network(buildModel('small-cnn', [28, 28, 1], 10, { channels: [4, 4, 4], hidden: 4 }),
    { bits: [8, 4], quantizer: 'double-rounding', perChannel: false }, new Rng(5));
  const target = targetFromNetwork(net);
  assert.equal(target.layers, net.quantized.map((n) => n.name));
  const { batches } = sensitivityBatches('mnist', 20, 20);
  const rng = new Rng(6);
  const rand = () => target.params.map((p) => tf.tensor(Float32Array.from({ length: p.size }, () => rng.normal()), p.shape));
  const u = rand(), v = rand();
  const loss = (ps: tf.Variable[]) => target.loss(ps, batches[0]!);
  const dot = (a: tf.Tensor[], b: tf.Tensor[]) => a.reduce((s, t, i) => s + tf.sum(tf.mul(t, b[i]!)).dataSync()[0]!, 0);
  const uHv = dot(u, hessianVectorProduct(loss, target.params, v));
  const vHu = dot(v, hessianVectorProduct(loss, target.params, u));
  assert.ok(Math.abs(uHv) > 1e-3, `non-trivial: ${uHv}`);
  assert.ok(Math.abs(uHv - vHu) <= 1e-3 * Math.abs(uHv), `${uHv} vs ${vHu}`);
  net.dispose();
  await initBackend('cpu');
});

test.run();
