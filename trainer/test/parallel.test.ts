// Data-parallel training: N worker threads train the same model as one thread on the same
// global batch and shard count, a fixed N is deterministic, a resumed run may change N, and a
// worker that dies stops the run with a message naming it while the last checkpoint stays intact.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { loadMnist } from '../src/data/datasets.ts';
import { initBackend } from '../src/tfjs/backend.ts';
import { WorkerDiedError } from '../src/parallel/threads.ts';
import { rankShards, shardRange } from '../src/parallel/shards.ts';
import { Trainer, type TrainerOptions } from '../src/loops/train.ts';
import { evaluate, precisionName } from '../src/loops/evaluate.ts';
import type { Recipe } from '../src/loops/recipe.ts';
import { SupernetTrainer } from '../src/loops/supernet.ts';
import { buildModel } from '../src/nn/models.ts';
import { Network } from '../src/nn/network.ts';
import { Rng } from '../src/math/rng.ts';
import { SuperNetwork } from '../src/nn/supernet.ts';

await initBackend('wasm');
const ds = loadMnist();

function tiny(extra: Partial<Recipe>, out?: string, options?: TrainerOptions): Trainer {
  return new Trainer({
    model: 'small-cnn', modelOptions: { channels: [4, 6, 8], hidden: 8 }, data: 'mnist', bits: [8, 4, 2], pretrainEpochs: 1, epochs: 1,
    batchSize: 12, shards: 3, trainLimit: 48, testLimit: 20, checkpointEvery: 0, augment: { pad: 1, flip: false }, ...extra,
  }, ds, out, options);
}

const weights = (t: Trainer) => Promise.all(t.nets.map((n) => n.snapshot()));

async function trained(extra: Partial<Recipe>, workers: number): Promise<Record<string, Float32Array>[]> {
  const t = tiny(extra, undefined, { workers });
  try {
    await t.run();
    return await weights(t);
  } finally {
    await t.close();
  }
}

function assertSameWeights(a: Record<string, Float32Array>[], b: Record<string, Float32Array>[], what: string) {
  assert.is(a.length, b.length);
  a.forEach((net, i) => {
    for (const [name, v] of Object.entries(net)) assert.ok(Buffer.from(v.buffer).equals(Buffer.from(b[i][name].buffer)), `${what}: ${name} differs`);
  });
}

test('training steps leave no tensors behind (rank 0, and a worker replica loading weights)', async () => {
  const t = tiny({ distill: true }, undefined, { workers: 2 });
  const x = new Float32Array(12 * 784).map((_, i) => Math.cos(i));
  const y = Int32Array.from({ length: 12 }, (_, i) => i % 10);
  try {
    await t.calibrate();
    await t.trainBatch('quant', x, y, 0);
    const before = tf.memory().numTensors;
    for (let i = 1; i <= 3; i++) await t.trainBatch('quant', x, y, i);
    assert.is(tf.memory().numTensors, before, 'rank 0');
  } finally {
    await t.close();
  }
  // a replica as a worker holds it: loading weights again and again keeps the tensor count
  const { ShardComputer } = await import('../src/parallel/shards.ts');
  const c = ShardComputer.forNets(t.nets, [28, 28, 1], 10);
  const w = new Float32Array(1e6);
  await c.writeWeights(0, w);
  c.readWeights(0, w);
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) { c.readWeights(0, w); c.loadStats(0, await c.stats(0)); }
  assert.is(tf.memory().numTensors, before, 'replica');
});

test('shards cover the batch once, in rank order', () => {
  for (const [count, shards, ranks] of [[12, 3, 2], [13, 4, 3], [64, 2, 2], [7, 7, 3]]) {
    const rows = Array.from({ length: ranks }, (_, k) => rankShards(k, ranks, shards)).flat().map((j) => shardRange(j, shards, count));
    assert.equal(rows.map((r) => r[0]), [0, ...rows.slice(0, -1).map((r) => r[1])]);
    assert.is(rows[rows.length - 1][1], count);
  }
});

// Each shard is computed by the same code on the same backend and the ranks' sums are added in
// shard order, so the arithmetic is the same operation for operation: equal to the bit.
for (const algorithm of ['a2', 'a1', 'separate'] as const) {
  test(`${algorithm}: 1, 2 and 3 workers on the same batches and shards give identical weights`, async () => {
    const extra: Partial<Recipe> = { algorithm, alrs: algorithm === 'a1' ? 'off' : 'paper', distill: algorithm === 'a2' };
    const one = await trained(extra, 1);
    assertSameWeights(await trained(extra, 2), one, '2 workers vs 1');
    assertSameWeights(await trained(extra, 3), one, '3 workers vs 1');
  });
}

test('SuperNet (HASB, TBN): 1 and 2 workers on the same shards give identical weights', async () => {
  const runOnce = async (workers: number) => {
    const multi = new Network(buildModel('small-cnn', [28, 28, 1], 10, { channels: [4, 6, 8], hidden: 8 }), { bits: [8, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(2));
    multi.copyFloatBnToBits();
    const sup = SuperNetwork.fromMulti(multi);
    multi.dispose();
    const t = new SupernetTrainer(sup, ds, { data: 'mnist', sampling: 'hasb', sigma: 1, epochs: 1, batchSize: 12, shards: 3, trainLimit: 48, testLimit: 10 }, [2, 0.1, 0.5], { workers });
    try {
      await t.run();
      return [await sup.snapshot()];
    } finally {
      await t.close();
      t.dispose();
      sup.dispose();
    }
  };
  assertSameWeights(await runOnce(2), await runOnce(1), 'SuperNet, 2 workers vs 1');
});

test('the shard count, not the worker count, sets BatchNorm grouping: 1 shard differs from 3', async () => {
  const a = await trained({ shards: 1 }, 1);
  const b = await trained({ shards: 3 }, 1);
  assert.not.ok(Buffer.from(a[0]['l1_conv/kernel'].buffer).equals(Buffer.from(b[0]['l1_conv/kernel'].buffer)));
});

test('a run checkpointed with 2 workers and resumed with 1 ends equal to an uninterrupted run', async () => {
  const full = await trained({}, 2);
  const out = mkdtempSync(join(tmpdir(), 'bitswitch-dp-resume-'));
  const first = tiny({ checkpointEvery: 2 }, out, { workers: 2 });
  let stopAt = 0;
  try {
    await first.run({ onCheckpoint: (_p, epoch, step) => { if (epoch === 1 && step === 2) { stopAt = step; throw new Error('stop here'); } } });
  } catch (e) {
    assert.is((e as Error).message, 'stop here');
  } finally {
    await first.close();
  }
  assert.is(stopAt, 2);
  const resumed = Trainer.resume(out, ds, { workers: 1 });
  assert.is(resumed.recipe.shards, 3);
  try {
    await resumed.run();
    assertSameWeights(await weights(resumed), full, 'resumed with 1 worker vs uninterrupted with 2');
  } finally {
    await resumed.close();
  }
});

test('test accuracy split across 2 workers equals one thread evaluating every image', async () => {
  const t = tiny({ testLimit: 1200 }, undefined, { workers: 2 });
  try {
    await t.run();
    const acc = await t.evaluateAll('quant');
    for (const b of [8, 4, 2]) assert.is(acc[precisionName(b)], await evaluate(t.nets[0], ds, t.test, b), `w${b}`);
  } finally {
    await t.close();
  }
});

test('a worker that dies stops the run naming it; the last checkpoint stays intact', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bitswitch-dp-kill-'));
  const t = tiny({ checkpointEvery: 2 }, out, { workers: 2 });
  let err: unknown;
  try {
    await t.run({ onStep: (s) => { if (s.step === 3) void t.parallel().then((dp) => dp.threads[0].terminate()); } });
  } catch (e) {
    err = e;
  } finally {
    await t.close();
  }
  assert.instance(err, WorkerDiedError);
  assert.match((err as Error).message, /^worker 1 \(thread \d+\) exited with code 1/, (err as Error).message);
  const ck = loadCheckpoint<{ epoch: number; step: number; nets: Record<string, Float32Array>[] }>(join(out, 'checkpoint.json'));
  assert.equal([ck.epoch, ck.step], [0, 2]);
  const back = Trainer.resume(out, ds, { workers: 1 });
  assert.equal([back.epoch, back.step], [0, 2]);
  await back.close();
});

test.run();
