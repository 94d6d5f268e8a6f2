// Training speed (issue 4): images/s of a float32 step and of one joint {8,6,4,2} step (Algorithm
// A.2: four forward/backward passes and steps) per model on each backend that loads here, and the
// fake-quantization overhead = joint step time / (4 × float32 step time), goal ≤ 1.3.
// Usage: pnpm bench:train [--backends wasm,cpu] [--batch 128] [--steps 3] [--models small-cnn,resnet8,resnet20]
import * as tf from '@tensorflow/tfjs';
import { cpus } from 'node:os';
import { initBackend, type BackendPref } from '../../trainer/src/backend/index.ts';
import { Trainer } from '../../trainer/src/train.ts';
import type { Dataset } from '../../trainer/src/data.ts';
import { Rng } from '../../trainer/src/rng.ts';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

const backends = arg('backends', 'tensorflow,webgpu,wasm,cpu').split(',') as BackendPref[];
const batch = Number(arg('batch', '128'));
const steps = Number(arg('steps', '3'));
const models = arg('models', 'small-cnn,resnet8,resnet20').split(',');
const BITS = [8, 6, 4, 2];

/** Random uint8 images (the speed does not depend on the pixels). */
function syntheticDataset(h: number, w: number, c: number, count: number): Dataset {
  const rng = new Rng(1);
  const split = () => ({ images: Uint8Array.from({ length: count * h * w * c }, () => rng.int(256)), labels: Uint8Array.from({ length: count }, () => rng.int(10)), count });
  return { name: 'mnist', height: h, width: w, channels: c, classes: 10, mean: [0.5, 0.5, 0.5].slice(0, c), std: [0.5, 0.5, 0.5].slice(0, c), train: split(), test: split() };
}

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/**
 * Median ms of float32 and joint steps, alternated so that load from other jobs hits both alike;
 * wall time and this process's CPU time (less sensitive to other jobs on a shared machine:
 * tfjs-wasm runs on this thread).
 */
async function timeSteps(t: Trainer, b: number, n: number): Promise<{ fp: number; joint: number; fpCpu: number; jointCpu: number }> {
  const x = new Float32Array(b * 28 * 28).map((_, i) => ((i * 7919) % 255) / 255);
  const y = Int32Array.from({ length: b }, (_, i) => i % 10);
  t.calibrate();
  await t.trainBatch('pretrain', x, y, 0); // warm-up (kernel set-up, allocation)
  await t.trainBatch('quant', x, y, 0);
  const fp: number[] = [];
  const joint: number[] = [];
  const fpCpu: number[] = [];
  const jointCpu: number[] = [];
  for (let i = 0; i < n; i++) {
    let t0 = performance.now();
    let c0 = cpuMs();
    await t.trainBatch('pretrain', x, y, i + 1);
    fp.push(performance.now() - t0);
    fpCpu.push(cpuMs() - c0);
    t0 = performance.now();
    c0 = cpuMs();
    await t.trainBatch('quant', x, y, i + 1);
    joint.push(performance.now() - t0);
    jointCpu.push(cpuMs() - c0);
  }
  return { fp: median(fp), joint: median(joint), fpCpu: median(fpCpu), jointCpu: median(jointCpu) };
}

console.log(`bench:train ${new Date().toISOString()} — ${cpus().length}× ${cpus()[0]?.model ?? '?'}, node ${process.version}; figures measured while other jobs may run (noisy)`);
const rows: string[] = [];
for (const be of backends) {
  let name: string;
  try {
    name = (await initBackend(be)).name;
  } catch (e) {
    console.log(`${be}: not available (${(e as Error).message.split('\n')[0]})`);
    continue;
  }
  // the cpu backend is ~300× slower at conv training: a small batch and the small CNN only
  const b = name === 'cpu' ? Math.min(batch, 16) : batch;
  const ms = name === 'cpu' ? ['small-cnn'] : models;
  for (const model of ms) {
    const ds = syntheticDataset(28, 28, 1, b);
    const t = new Trainer({ model, data: 'mnist', bits: BITS, algorithm: 'a2', alrs: 'code', batchSize: b, pretrainEpochs: 0, epochs: 1, checkpointEvery: 0 }, ds);
    const { fp, joint, fpCpu, jointCpu } = await timeSteps(t, b, steps);
    const ratio = joint / (BITS.length * fp);
    const ratioCpu = jointCpu / (BITS.length * fpCpu);
    rows.push(`${name.padEnd(6)} ${model.padEnd(10)} batch ${String(b).padStart(3)}  fp32 ${(1000 * b / fp).toFixed(1).padStart(7)} img/s  joint{8,6,4,2} ${(1000 * b / joint).toFixed(1).padStart(7)} img/s (${joint.toFixed(0)} ms/step)  overhead wall ${ratio.toFixed(2)}, cpu-time ${ratioCpu.toFixed(2)} (goal ≤ 1.3)`);
    console.log(rows[rows.length - 1]);
    t.nets.forEach((n) => n.dispose());
    tf.disposeVariables();
  }
}
