// A run killed with SIGKILL at several points and resumed ends bitwise equal to an
// uninterrupted run (weights, optimizer state, RNG state, data position all restored).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint } from '../src/io/checkpoint.ts';

const root = new URL('../..', import.meta.url).pathname;
const cli = join(root, 'cli/bin/bitswitch.mjs');
const dir = mkdtempSync(join(tmpdir(), 'bitswitch-resume-'));
const recipe = join(dir, 'recipe.json');
writeFileSync(recipe, JSON.stringify({
  model: 'small-cnn', modelOptions: { channels: [4, 8, 8], hidden: 8 }, data: 'mnist', bits: [8, 4, 2], alrs: 'paper',
  pretrainEpochs: 1, epochs: 1, batchSize: 16, trainLimit: 64, testLimit: 20, checkpointEvery: 2, lr: 5e-4, pretrainLr: 3e-3,
}));

/** Runs the CLI; with `killAt`, SIGKILLs it as soon as it reports that step. */
function run(out: string, resume: boolean, killAt?: string): Promise<{ code: number | null; signal: string | null; log: string }> {
  const args = ['--import', 'tsx', cli, 'train', '--recipe', recipe, '--out', out, '--backend', 'wasm', '--log-steps', '--no-progress', ...(resume ? ['--resume'] : [])];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    child.stdout.on('data', (d) => {
      log += d;
      if (killAt && log.includes(killAt)) child.kill('SIGKILL');
    });
    child.stderr.on('data', (d) => (log += d));
    child.on('close', (code, signal) => resolve({ code, signal, log }));
  });
}

interface Ck { epoch: number; step: number; augRng: number[]; nets: Record<string, Float32Array>[]; optimizers: unknown; alrsFloorHits: unknown }

function bytesOf(ck: Ck): string {
  return JSON.stringify({
    epoch: ck.epoch, step: ck.step, augRng: ck.augRng, alrs: ck.alrsFloorHits,
    nets: ck.nets.map((n) => Object.fromEntries(Object.entries(n).map(([k, v]) => [k, Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')]))),
    opt: JSON.stringify(ck.optimizers, (_k, v) => (v instanceof Float32Array ? Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') : v)),
  });
}

test('SIGKILL at several points, resume, and the end state is bitwise equal to an uninterrupted run', async () => {
  const a = join(dir, 'a');
  const full = await run(a, false);
  assert.is(full.code, 0, full.log);
  const b = join(dir, 'b');
  // 70 images (7 per class) → steps 1..4 per epoch; checkpoints every 2 steps and at each epoch end
  const kills = ['step epoch=0 step=3', 'step epoch=1 step=1', 'step epoch=1 step=3'];
  let resume = false;
  for (const k of kills) {
    const r = await run(b, resume, k);
    assert.is(r.signal, 'SIGKILL', `expected the run to be killed at "${k}":\n${r.log}`);
    resume = true;
  }
  const last = await run(b, true);
  assert.is(last.code, 0, last.log);
  assert.match(last.log, /resuming/);
  const ca = loadCheckpoint<Ck>(join(a, 'checkpoint.json'));
  const cb = loadCheckpoint<Ck>(join(b, 'checkpoint.json'));
  assert.is(ca.epoch, 2);
  assert.ok(bytesOf(ca) === bytesOf(cb), 'final checkpoints differ');
  assert.equal(readFileSync(join(a, 'model.bsw')), readFileSync(join(b, 'model.bsw')));
});

test.run();
