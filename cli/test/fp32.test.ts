// FP32 starting points: pretrain writes model-fp32.json (+ card) with its accuracy and split;
// train --init starts joint training from exactly those weights without pre-training again;
// a file for another model or data set is refused naming the field.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trainCommand } from '../src/commands/train.ts';
import { loadCheckpoint, loadFp32, FP32_FORMAT } from '@bitswitch/trainer';

const dir = mkdtempSync(join(tmpdir(), 'bitswitch-fp32-'));
const recipe = join(dir, 'recipe.json');
writeFileSync(recipe, JSON.stringify({
  model: 'small-cnn', modelOptions: { channels: [4, 6, 8], hidden: 8 }, data: 'mnist', bits: [8, 4], pretrainEpochs: 1, epochs: 1,
  batchSize: 16, trainLimit: 64, testLimit: 40, checkpointEvery: 0, pretrainLr: 3e-3,
}));
async function rejects(fn: () => Promise<unknown>, re: RegExp): Promise<void> {
  try { await fn(); } catch (e) { assert.match((e as Error).message, re); return; }
  assert.unreachable(`expected a rejection matching ${re}`);
}

const quiet = { progress: false, backend: 'wasm', workers: '2' } as const;

test('pretrain writes an FP32 model with its accuracy, split and card; train --init starts from it', async () => {
  const pre = join(dir, 'pre');
  const acc = await trainCommand({ ...quiet, recipe, out: pre, epochs: '0' });
  const file = join(pre, 'model-fp32.json');
  const m = loadFp32(file);
  assert.is(m.format, FP32_FORMAT);
  assert.is(m.accuracy, acc.fp32);
  assert.is(m.testImages, 40);
  assert.match(m.split, /^mnist: the official 60,000 training \/ 10,000 test images; training: the first 7 per class; test: the first 4 per class$/);
  assert.match(readFileSync(join(pre, 'model-fp32.md'), 'utf8'), new RegExp(`test accuracy \\| \\*\\*${(100 * m.accuracy).toFixed(2)} %\\*\\*`));
  const ck = loadCheckpoint<{ nets: Record<string, Float32Array>[] }>(join(pre, 'checkpoint.json'));
  for (const [name, v] of Object.entries(m.weights)) assert.equal(Array.from(v), Array.from(ck.nets[0][name]), name);

  const joint = join(dir, 'joint');
  const logged: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => { logged.push(a.join(' ')); };
  try {
    await trainCommand({ ...quiet, recipe, out: joint, init: file, checkpointEvery: '1', trainLimit: '16' });
  } finally {
    console.log = log;
  }
  const r = JSON.parse(readFileSync(join(joint, 'recipe.json'), 'utf8'));
  assert.is(r.pretrainEpochs, 0, 'no pre-training after --init');
  assert.ok(logged.some((l) => l.includes(`starting from ${file}`)), logged.join('\n'));
  assert.ok(!logged.some((l) => /pretrain/.test(l)), 'no pretrain epoch row');
  const init = JSON.parse(readFileSync(join(joint, 'init.json'), 'utf8'));
  assert.is(init.accuracy, m.accuracy);
  assert.match(init.sha256, /^[0-9a-f]{64}$/);
  assert.ok(existsSync(join(joint, 'model.bsw')));
});

test('--init refuses a file for another model, options or data set, naming the field', async () => {
  const file = join(dir, 'pre', 'model-fp32.json');
  await rejects(() => trainCommand({ ...quiet, recipe, out: join(dir, 'x1'), init: file, model: 'resnet8' }), /--init: .* holds model small-cnn, the recipe trains resnet8/);
  const other = join(dir, 'other.json');
  writeFileSync(other, readFileSync(file, 'utf8').replace('"data":"mnist"', '"data":"fashion-mnist"'));
  await rejects(() => trainCommand({ ...quiet, recipe, out: join(dir, 'x2'), init: other }), /--init: .* was trained on fashion-mnist, the recipe trains on mnist/);
  writeFileSync(join(dir, 'bad.json'), '{"format":"something-else"}');
  await rejects(() => trainCommand({ ...quiet, recipe, out: join(dir, 'x3'), init: join(dir, 'bad.json') }), /format: expected "bitswitch-fp32\/1"/);
});

test.run();
