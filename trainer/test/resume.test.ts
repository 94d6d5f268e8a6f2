// A run killed with SIGKILL at several points and resumed ends bitwise equal to an
// uninterrupted run (weights, optimizer state, RNG state, data position all restored).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../src/io/checkpoint.ts';

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

test('a resumed epoch is timed whole, in wall and CPU time: its steps before the stop count (the checkpoint keeps their time); BN re-estimation is in the summary', async () => {
  const c = join(dir, 'c');
  const r = await run(c, false, 'step epoch=1 step=3');
  assert.is(r.signal, 'SIGKILL', r.log);
  const path = join(c, 'checkpoint.json');
  const ck = loadCheckpoint<{ epoch: number; step: number; epochSeconds: number; epochCpuSeconds: number }>(path);
  assert.equal([ck.epoch, ck.step], [1, 2]);
  assert.ok(ck.epochSeconds > 0, `the mid-epoch checkpoint holds the epoch's time so far (${ck.epochSeconds})`);
  assert.ok(ck.epochCpuSeconds > 0, `and its CPU time (${ck.epochCpuSeconds})`);
  // as if the steps before the stop had taken 1000 s, 500 s of CPU time
  saveCheckpoint(path, { ...ck, epochSeconds: 1000, epochCpuSeconds: 500 });
  const last = await run(c, true);
  assert.is(last.code, 0, last.log);
  const epochs = readFileSync(join(c, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seconds: number; cpuSeconds: number; imagesPerSec: number });
  assert.ok(epochs[1]!.seconds >= 1000 && epochs[1]!.seconds < 1100, `epoch 2 took ${epochs[1]!.seconds} s`);
  assert.ok(epochs[1]!.cpuSeconds >= 500 && epochs[1]!.cpuSeconds < 600, `epoch 2 took ${epochs[1]!.cpuSeconds} s of CPU time`);
  assert.ok(epochs[0]!.cpuSeconds > 0 && epochs[0]!.cpuSeconds < 100, `epoch 1, not stopped: ${epochs[0]!.cpuSeconds} s of CPU time`);
  assert.ok(epochs[1]!.imagesPerSec < 1, `images/s over the whole epoch (${epochs[1]!.imagesPerSec})`);
  const summary = JSON.parse(readFileSync(join(c, 'summary.json'), 'utf8')) as { seconds: number; cpuSeconds: number; bnReestimate: { images: number; movingAverages: Record<string, number> }; accuracy: Record<string, number> };
  assert.ok(summary.seconds >= 1000, `training time sums the epochs (${summary.seconds})`);
  assert.ok(Math.abs(summary.cpuSeconds - epochs[0]!.cpuSeconds - epochs[1]!.cpuSeconds) < 0.01, `CPU time sums the epochs (${summary.cpuSeconds})`);
  assert.ok(summary.bnReestimate.images > 0 && summary.bnReestimate.images % 16 === 0, JSON.stringify(summary.bnReestimate));
  assert.equal(Object.keys(summary.bnReestimate.movingAverages), Object.keys(summary.accuracy));
  assert.match(last.log, /BatchNorm statistics re-estimated over \d+ training images/);
});

test('a checkpoint that did not time its epoch (written before epochSeconds existed): images/s counts the steps after the resume only, and no CPU time is claimed for that epoch', async () => {
  const d = join(dir, 'd');
  const r = await run(d, false, 'step epoch=1 step=3');
  assert.is(r.signal, 'SIGKILL', r.log);
  const path = join(d, 'checkpoint.json');
  const { epochSeconds: _timed, epochCpuSeconds: _cpu, ...ck } = loadCheckpoint<{ epoch: number; step: number; epochSeconds?: number; epochCpuSeconds?: number }>(path);
  assert.equal([ck.epoch, ck.step], [1, 2]);
  saveCheckpoint(path, ck);
  const last = await run(d, true);
  assert.is(last.code, 0, last.log);
  const epochs = readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { seconds: number; cpuSeconds?: number; imagesPerSec: number });
  // 4 steps of 16 images per epoch; the 2 before the stop were not timed, so 32 images over the time after the resume
  const images = epochs[1]!.imagesPerSec * epochs[1]!.seconds;
  assert.ok(Math.abs(images - 32) < 0.5, `images/s × seconds = ${images}`);
  assert.ok(epochs[1]!.seconds < 100, `the epoch's time is the time after the resume (${epochs[1]!.seconds} s)`);
  // CPU time is not given for part of an epoch, nor summed in the summary then
  assert.ok(epochs[0]!.cpuSeconds! > 0);
  assert.is(epochs[1]!.cpuSeconds, undefined);
  assert.is((JSON.parse(readFileSync(join(d, 'summary.json'), 'utf8')) as { cpuSeconds?: number }).cpuSeconds, undefined);
});

test.run();
