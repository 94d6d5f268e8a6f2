// bitswitch recalibrate: each SubNet of a SuperNet file gets BatchNorm statistics measured with its
// own bits (format 1.3); eval --subnets and the runtime then use them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModel, writeModel, type Model } from '@bitswitch/format';
import { referenceForward } from '@bitswitch/runtime';
import {
  Network, Rng, SuperNetwork, loadDataset, networkFromModel, networkToModel, reestimationImages, smallCnn, subnetBnStatistics, subnetBnStatisticsParallel, withSubnetBn,
} from '@bitswitch/trainer';
import { runRecalibrate } from '../src/commands/recalibrate.ts';
import { evalCommand } from '../src/commands/eval.ts';

await tf.setBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'bitswitch-recal-'));
const quiet = () => {};

/** A mixed-precision (TBN) small CNN for MNIST with two SubNets, written to a file. */
async function supernetFile(): Promise<{ path: string; model: Model }> {
  const net = new Network(smallCnn([28, 28, 1], 10, { channels: [4, 4, 4], hidden: 6 }), { bits: [8, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(3));
  net.copyFloatBnToBits();
  // weight scales that use the int8 range (so low-bit weights are not all zero), activation scales per bit
  for (const [n, v] of net.vars) {
    const w = net.vars.get(n.replace('/wscale', '/kernel'));
    if (n.endsWith('/wscale') && w) v.assign(tf.fill(v.shape, tf.max(tf.abs(w)).dataSync()[0]! / 127));
    else if (n.includes('/ascale@')) v.assign(tf.fill(v.shape, 2 / (2 ** Number(n.split('@')[1]) - 1)));
  }
  const sup = SuperNetwork.fromMulti(net);
  const model = await networkToModel(sup);
  model.input = { layout: 'NHWC', height: 28, width: 28, channels: 1, dtype: 'uint8', range: [0, 255], mean: [0.1307], std: [0.3081], dataset: 'mnist' };
  model.subnets = [
    { name: 'first-high', bits: [8, 2, 2], budget: { 'avg-bits': 4 }, accuracy: 0.5 },
    { name: 'last-high', bits: [2, 2, 8], budget: { 'avg-bits': 4 } },
  ];
  net.dispose();
  sup.dispose();
  const path = join(dir, 'super.bsw');
  writeFileSync(path, writeModel(model));
  return { path, model };
}

test('every SubNet gets the statistics the trainer measures with its bits; stale accuracies are dropped; weights and sets unchanged', async () => {
  const { path, model } = await supernetFile();
  const out = join(dir, 'recal.bsw');
  const lines: string[] = [];
  // two threads: one SubNet measured by a worker, one by the caller, each as the trainer measures it below
  await runRecalibrate(path, { data: 'mnist', images: '60', batch: '20', out, workers: '2' }, (l) => lines.push(l));
  const got = readModel(readFileSync(out));
  assert.match(lines.at(-1)!, /BatchNorm statistics of 2 SubNets from 60 mnist training images \(batches of 20\) in [\d.]+ s on 2 workers; wrote /);
  assert.equal(got.layers, model.layers, 'weights and BatchNorm sets as they were');
  const bnLayers = model.layers.filter((l) => l.op === 'batchnorm');
  const ds = loadDataset('mnist');
  const net = networkFromModel(model);
  for (const [i, s] of got.subnets!.entries()) {
    assert.is(s.accuracy, undefined, `${s.name}: accuracy measured with other statistics`);
    assert.equal(Object.keys(s.bn!).sort(), bnLayers.map((l) => l.name).sort(), `${s.name}: every BatchNorm`);
    const want = await subnetBnStatistics(net, ds, ds.train, model.subnets![i]!.bits, reestimationImages(ds.train, 60, 20, 1), 20);
    for (const [layer, stats] of Object.entries(want)) assert.equal(Array.from(s.bn![layer]!), Array.from(stats), `${s.name} ${layer}`);
  }
  // the two SubNets share no statistics: their bits differ at every TBN pair they run
  const [a, b] = got.subnets!;
  assert.not.equal(Array.from(a!.bn![bnLayers[1]!.name]!), Array.from(b!.bn![bnLayers[1]!.name]!));
  net.dispose();
});

test('any worker count writes the same file, byte for byte; more workers than SubNets start one a SubNet', async () => {
  const { path, model } = await supernetFile();
  const many = join(dir, 'many.bsw');
  writeFileSync(many, writeModel({ ...model, subnets: [...model.subnets!, { name: 'mid-high', bits: [2, 8, 2], budget: { 'avg-bits': 4 } }] }));
  const files: Buffer[] = [];
  for (const workers of ['1', '2', '8']) {
    const out = join(dir, `w${workers}.bsw`);
    const lines: string[] = [];
    await runRecalibrate(many, { data: 'mnist', images: '40', batch: '20', out, workers }, (l) => lines.push(l));
    assert.match(lines.at(-1)!, new RegExp(`of 3 SubNets .* on ${Math.min(3, Number(workers))} workers?; wrote`));
    assert.is(lines.filter((l) => /^ {2}\d\/3 /.test(l)).length, 3, 'a progress line per SubNet');
    files.push(readFileSync(out));
  }
  assert.ok(files[1]!.equals(files[0]!) && files[2]!.equals(files[0]!));
});

test('two threads share the SubNets: the worker takes more while the caller\'s thread measures (it yields between batches)', async () => {
  const { model } = await supernetFile();
  // 8 SubNets of 50 batches each: measuring one takes far longer than a message between threads or
  // the worker's warm-up; the worker runs the backend the tests before left active, as the caller
  const subnets = Array.from({ length: 8 }, (_, i) => [8, 4, 2].map((_, l) => [8, 4, 2][(i + l) % 3]!));
  const threads: number[] = [];
  const stats = await subnetBnStatisticsParallel({ backend: tf.getBackend(), model, data: 'mnist', images: 1000, batch: 20, seed: 1 }, subnets, {
    workers: 2, done: (_i, thread) => threads.push(thread),
  });
  assert.is(stats.length, 8);
  assert.is(threads.length, 8);
  const byWorker = threads.filter((t) => t === 1).length;
  // a caller that never yields keeps every SubNet after the worker's first to itself
  assert.ok(byWorker >= 2 && byWorker <= 6, `the worker measured ${byWorker} of 8 SubNets (threads in finishing order: ${threads.join(' ')})`);
});

test('withSubnetBn puts the statistics in for the call and the network\'s back after it; by name the reference uses them too', async () => {
  const { model } = await supernetFile();
  const out = join(dir, 'recal2.bsw');
  await runRecalibrate((await supernetFile()).path, { data: 'mnist', images: '40', batch: '20', out, subnets: '^last' }, quiet);
  const got = readModel(readFileSync(out));
  assert.is(got.subnets![0]!.bn, undefined, '--subnets leaves the others alone');
  assert.is(got.subnets![0]!.accuracy, 0.5);
  const s = got.subnets![1]!;
  const net = networkFromModel(got);
  const x = tf.randomNormal([3, 28, 28, 1], 0, 1, 'float32', 5) as tf.Tensor4D;
  const logits = () => tf.tidy(() => Array.from(net.forward(x, s.bits, false).logits.dataSync()));
  const before = logits();
  const tensors = tf.memory().numTensors;
  const inside = await withSubnetBn(net, s.bits, s.bn, async () => logits());
  assert.is(tf.memory().numTensors, tensors, 'no tensor left behind');
  assert.not.equal(inside, before, 'the statistics change the logits');
  assert.equal(logits(), before, 'restored');
  // the runtime's float reference by name agrees with the trainer using the statistics
  const ref = referenceForward(got, s.name, x.dataSync(), 3);
  inside.forEach((v, i) => assert.ok(Math.abs(v - ref[i]!) <= 1e-3 * Math.max(1, Math.abs(v)), `logit ${i}: trainer ${v}, reference ${ref[i]}`));
  x.dispose();
  net.dispose();
  void model;
});

test('eval --subnets reports accuracy with the SubNet statistics (trainer and --reference agree)', async () => {
  const out = join(dir, 'recal3.bsw');
  await runRecalibrate((await supernetFile()).path, { data: 'mnist', images: '40', batch: '20', out }, quiet);
  const log = console.log;
  console.log = () => {};
  try {
    const tfjs = await evalCommand(out, { subnets: true, limit: '50', backend: 'cpu' });
    const ref = await evalCommand(out, { subnets: true, limit: '50', reference: true });
    for (const name of ['first-high', 'last-high']) assert.ok(Math.abs(tfjs[name]! - ref[name]!) <= 0.02, `${name}: tfjs ${tfjs[name]}, reference ${ref[name]}`);
  } finally {
    console.log = log;
  }
});

test('bad input names the flag: --data, --out, --in-place with --out, --subnets, --workers, no SubNets', async () => {
  const { path, model } = await supernetFile();
  const bad = async (o: Parameters<typeof runRecalibrate>[1], re: RegExp, file = path) => {
    const e = await runRecalibrate(file, o, quiet).then(() => undefined, (err: Error) => err);
    assert.ok(e instanceof RangeError && re.test(e.message), `${JSON.stringify(o)}: ${e?.message}`);
  };
  await bad({ out: join(dir, 'x.bsw') }, /^--data: expected one of mnist, fashion-mnist/);
  await bad({ data: 'fashion-mnist', out: join(dir, 'x.bsw') }, /^--data: .* was trained on mnist, got fashion-mnist/);
  await bad({ data: 'mnist' }, /^--out: expected a file to write/);
  await bad({ data: 'mnist', out: path }, /^--out: .* is the input model; pass --in-place/);
  await bad({ data: 'mnist', out: join(dir, 'x.bsw'), inPlace: true }, /^--out: expected either --out or --in-place/);
  await bad({ data: 'mnist', out: join(dir, 'x.bsw'), subnets: '(' }, /^--subnets: expected a regular expression/);
  await bad({ data: 'mnist', out: join(dir, 'x.bsw'), subnets: '^none$' }, /holds no SubNets whose name matches/);
  await bad({ data: 'mnist', out: join(dir, 'x.bsw'), workers: '0' }, /^--workers: expected an integer in 1\.\.256, got "0"/);
  await bad({ data: 'mnist', out: join(dir, 'x.bsw'), images: '0' }, /^--images: expected an integer ≥ 1, got "0"/);
  await bad({ data: 'mnist', out: join(dir, 'x.bsw'), images: '10', batch: '64' }, /^--images: expected at least one batch of 64/);
  const plain = join(dir, 'plain.bsw');
  writeFileSync(plain, writeModel({ ...model, subnets: undefined }));
  await bad({ data: 'mnist', out: join(dir, 'x.bsw') }, /holds no SubNets \(bitswitch search writes them\)/, plain);
});

test.run();
