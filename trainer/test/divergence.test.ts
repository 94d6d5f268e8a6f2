// NaN or Inf stops training with a clear message, and the last good checkpoint stays readable and finite.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { loadCheckpoint } from '../src/io/checkpoint.ts';
import { loadMnist } from '../src/data/datasets.ts';
import { initBackend } from '../src/tfjs/backend.ts';
import { DivergenceError } from '../src/loops/step.ts';
import { Trainer } from '../src/loops/train.ts';

await initBackend('wasm');
const ds = loadMnist();

function tiny(out: string, checkpointEvery: number): Trainer {
  return new Trainer({
    model: 'small-cnn', modelOptions: { channels: [2, 2, 2], hidden: 2 }, data: 'mnist', bits: [4, 2], pretrainEpochs: 1, epochs: 1,
    batchSize: 8, trainLimit: 80, testLimit: 10, checkpointEvery, augment: { pad: 0, flip: false },
  }, ds, out);
}

async function runExpectingDivergence(t: Trainer, poisonAtStep: number, value: number): Promise<string> {
  let err: unknown;
  try {
    await t.run({ onStep: (s) => { if (s.step === poisonAtStep) t.nets[0].v('l1_conv/kernel').assign(tf.fill(t.nets[0].v('l1_conv/kernel').shape, value)); } });
  } catch (e) { err = e; }
  assert.instance(err, DivergenceError);
  return (err as Error).message;
}

function assertFiniteCheckpoint(out: string, step: number) {
  const ck = loadCheckpoint<{ epoch: number; step: number; nets: Record<string, Float32Array>[] }>(join(out, 'checkpoint.json'));
  assert.is(ck.epoch, 0);
  assert.is(ck.step, step);
  for (const [name, v] of Object.entries(ck.nets[0])) for (const x of v) assert.ok(Number.isFinite(x), `${name} in the saved checkpoint`);
}

test('NaN in a weight makes the next loss NaN: training stops naming the step; the last good checkpoint stays', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bitswitch-nan-'));
  const msg = await runExpectingDivergence(tiny(out, 2), 3, NaN);
  assert.match(msg, /loss is NaN at epoch 0 step 3 \(fp32\); stopping/);
  assert.match(msg, /last good checkpoint is .*checkpoint\.json/);
  assertFiniteCheckpoint(out, 2);
});

test('Inf in a weight is never written to a checkpoint', async () => {
  const out = mkdtempSync(join(tmpdir(), 'bitswitch-inf-'));
  const msg = await runExpectingDivergence(tiny(out, 1), 3, Infinity);
  assert.match(msg, /weight l1_conv\/kernel holds NaN or Inf at epoch 0 step 3; not saving it/);
  assertFiniteCheckpoint(out, 2);
});

test.run();
