// The sensitivity command's pipeline: MNIST batches → Hutchinson traces of a model's quantized
// layers → the model file's sensitivity section (params and MACs from the format's layerCosts).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModel, writeModel, layerCosts, type Model, type Conv2DLayer, type DenseLayer } from '@bitswitch/format';
import {
  Network, Rng, buildModel, computeSensitivity, explicitHessian, hessianVectorProduct, initBackend, progressLine, relativeErrors, sensitivityBatches,
  sensitivityTargetFromModel, softmaxCrossEntropy, targetFromNetwork, type Batch, type ProgressSink, type SensitivityTarget, type TargetLoader,
} from '@bitswitch/trainer';
import { describeLayer, register, runSensitivity } from '../src/commands/sensitivity.ts';
import type { CommandLike } from '../src/options.ts';

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
const quiet: ProgressSink = { update: () => {}, done: () => {} };

test('sensitivity of a model agrees with the exact traces of its quantized layers', async () => {
  const model = tinyModel();
  // a custom loader cannot be rebuilt in worker threads, so it runs on one whatever is asked
  const { model: out, result, backend, workers } = await computeSensitivity(model, tinyLoader, { ...OPTS, workers: 2 });
  assert.is(backend, 'cpu');
  assert.is(workers, 1);
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
    assert.is(s.hessianTraceStdErr, result.stderr[l]);
    assert.is(s.probes, result.iters);
    assert.ok(Math.abs(s.hessianTrace - exact[l]!) <= 4 * result.stderr[l]! + 1e-6, `${s.layer}: ${s.hessianTrace} vs exact ${exact[l]} (se ${result.stderr[l]})`);
    assert.ok(exact[l]! > 0, 'positive curvature at a random init with CE loss');
  });
  target.dispose();
});

test('probes on 1, 2 and 3 worker threads give the same estimate, stopping at the same probe', async () => {
  const run = async (workers: number, probeData: 'all' | 'one-batch') => {
    const r = await computeSensitivity(tinyModel(), sensitivityTargetFromModel, { ...OPTS, maxIters: 9, minIters: 2, tol: 0.2, probeData, workers });
    assert.is(r.workers, workers);
    return r.result;
  };
  for (const probeData of ['all', 'one-batch'] as const) {
    const one = await run(1, probeData);
    for (const workers of [2, 3]) {
      const many = await run(workers, probeData);
      assert.equal([many.iters, many.converged], [one.iters, one.converged], `${probeData}, ${workers} workers: stop`);
      assert.equal(many.trace, one.trace, `${probeData}, ${workers} workers: traces`);
      assert.equal(many.stderr, one.stderr, `${probeData}, ${workers} workers: standard errors`);
    }
  }
});

test('runSensitivity with the default loader (supernet-io) writes the section and matches the hand-built net', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-sens-'));
  const file = join(dir, 'm.bsw');
  writeFileSync(file, writeModel(tinyModel()));
  const before = readFileSync(file);
  const lines: string[] = [];
  const out = join(dir, 'out.bsw');
  const opts = { ...OPTS, maxIters: 6, minProbes: 2 };
  await runSensitivity(file, { ...opts, out, allowUnconverged: true }, undefined, (s) => lines.push(s), quiet);
  assert.equal(readFileSync(file), before, 'input untouched when --out is given');
  const m = readModel(readFileSync(out));
  assert.equal(m.sensitivity!.map((s) => s.layer), ['c2', 'd1']);
  assert.match(lines.join('\n'), /c2: tr\(H\)/);
  // Same weights, images and probes through the hand-built network: the same traces.
  const { model: hand } = await computeSensitivity(tinyModel(), tinyLoader, { ...opts, minIters: 2 });
  m.sensitivity!.forEach((s, l) => {
    const want = hand.sensitivity![l]!.hessianTrace;
    assert.ok(Math.abs(s.hessianTrace - want) <= 1e-4 * Math.abs(want), `${s.layer}: ${s.hessianTrace} vs ${want}`);
  });
});

test('an unconverged run is an error and writes nothing, unless --allow-unconverged; progress goes to the sink', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-sens-'));
  const file = join(dir, 'm.bsw');
  writeFileSync(file, writeModel(tinyModel()));
  const out = join(dir, 'out.bsw');
  const lines: string[] = [], progress: string[] = [];
  const sink: ProgressSink = { update: (l) => progress.push(l), done: () => progress.push('done') };
  const opts = { ...OPTS, tol: 1e-6, maxIters: 4, minProbes: 2, out };
  let msg = '';
  try { await runSensitivity(file, opts, tinyLoader, (l) => lines.push(l), sink); } catch (e) { msg = (e as Error).message; }
  assert.match(msg, /^sensitivity not converged: c2 \(rel\. [0-9.]+\), d1 \(rel\. [0-9.]+\) above --tol 0\.000001 after 4 probes; nothing written/);
  assert.match(msg, /--allow-unconverged/);
  assert.not.ok(existsSync(out), 'nothing written');
  assert.match(lines[0]!, /4 probes in .* NOT converged: 2 of 2 layers above --tol 0\.000001 after --max-iters 4/);
  assert.is(progress.length, 5, 'one progress line per probe, then done');
  assert.match(progress[3]!, /^sensitivity: probe 4\/4 \| rel\. std\. error c2 [0-9.]+, d1 [0-9.]+ \| 0\/2 layers ≤ 0\.000001 \| ETA/);
  await runSensitivity(file, { ...opts, allowUnconverged: true }, tinyLoader, (l) => lines.push(l), sink);
  const m = readModel(readFileSync(out));
  assert.ok(m.sensitivity!.every((s) => s.probes === 4 && s.hessianTraceStdErr! > 0));
  assert.match(lines[lines.length - 1]!, /wrote .*out\.bsw \(unconverged estimates, with their standard errors\)/);
});

test('--out or --in-place: the input is never overwritten silently', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-sens-'));
  const file = join(dir, 'm.bsw');
  writeFileSync(file, writeModel(tinyModel()));
  const before = readFileSync(file);
  const fail = async (raw: Record<string, unknown>) => {
    try { await runSensitivity(file, { ...OPTS, ...raw }, tinyLoader, () => {}, quiet); } catch (e) { return (e as Error).message; }
    return '';
  };
  assert.match(await fail({}), /^--out: expected an output \.bsw path \(or --in-place to overwrite the input model\)$/);
  assert.match(await fail({ out: file }), /^--out: .*m\.bsw is the input model; pass --in-place to overwrite it$/);
  assert.match(await fail({ out: join(dir, 'x.bsw'), inPlace: true }), /^--out: expected either --out FILE or --in-place, got both$/);
  assert.equal(readFileSync(file), before);
  // 'one-batch' probes over 2 batches end on whole cycles: at most 3 → 2 probes. The default
  // --min-probes (10) gives way to a smaller --max-iters.
  await runSensitivity(file, { ...OPTS, maxIters: 3, inPlace: true, allowUnconverged: true }, tinyLoader, () => {}, quiet);
  assert.equal(readModel(readFileSync(file)).sensitivity!.map((s) => s.probes), [2, 2]);
});

test('progress line: per-layer relative errors, layers within tol, ETA from the 1/√n rule', () => {
  // Worst layer at rel. 0.2 after 10 probes in 5 s needs 10·(0.2/0.1)² = 40 probes: 30 more at 0.5 s.
  assert.is(progressLine(10, 200, ['a', 'b'], [2, -4], [0.4, 0.2], 0.1, 5000),
    'sensitivity: probe 10/200 | rel. std. error a 0.200, b 0.050 | 1/2 layers ≤ 0.1 | ETA 15s');
  // Capped at the probe limit; more than 6 layers: the worst 6 only.
  const names = ['l0', 'l1', 'l2', 'l3', 'l4', 'l5', 'l6', 'l7'];
  const line = progressLine(10, 20, names, names.map(() => 1), names.map((_, i) => 0.01 * (i + 1)), 0.05, 1000);
  assert.is(line, 'sensitivity: probe 10/20 | rel. std. error worst l7 0.080, l6 0.070, l5 0.060, l4 0.050, l3 0.040, l2 0.030 | 5/8 layers ≤ 0.05 | ETA 1s');
  assert.equal(relativeErrors([0, 2], [1, Infinity]), [Infinity, Infinity]);
});

test('a layer whose interval t ± 2·se includes zero is reported as such', () => {
  const noisy = describeLayer({ layer: 's3b1_proj_conv', hessianTrace: -2.25, hessianTraceStdErr: 1.23, probes: 8, params: 2048, macs: 1 }, 1.23 / 2.25);
  assert.match(noisy, /s3b1_proj_conv: tr\(H\) -2\.2500e\+0 ± 1\.23e\+0 \(rel\. 0\.547, 8 probes\).*interval ±2 std\. errors includes 0: not distinguishable from zero$/);
  const sure = describeLayer({ layer: 'c', hessianTrace: 3, hessianTraceStdErr: 0.1, probes: 40, params: 10, macs: 1 }, 0.1 / 3);
  assert.not.match(sure, /includes 0/);
});

test('bad options name the flag and the expected value', async () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ data: 'cifar' }, /--data: expected one of mnist, fashion-mnist/],
    [{ data: 'mnist', tol: '0' }, /--tol: expected a number in \(0, 1\)/],
    [{ data: 'mnist', images: '-5' }, /--images: expected a positive integer/],
    [{ data: 'mnist', maxIters: '1' }, /--max-iters: expected an integer ≥ 2/],
    [{ data: 'mnist', backend: 'cuda' }, /--backend: expected one of/],
    [{ data: 'mnist', probeData: 'half' }, /--probe-data: expected one of all, one-batch, got "half"/],
    [{ data: 'mnist', maxIters: '20', minProbes: '30' }, /--min-probes: expected an integer in 2\.\.20 \(--max-iters\), got "30"/],
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
  for (const c of ['command sensitivity', 'argument <model>', 'requiredOption --data <name>', 'option --images <n>', 'option --tol <r>', 'option --backend <name>',
    'option --min-probes <n>', 'option --probe-data <mode>', 'option --out <file>', 'option --in-place', 'option --allow-unconverged']) {
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
