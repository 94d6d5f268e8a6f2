// Training speed: images/s of a float32 step and of one joint {8,6,4,2} step (Algorithm A.2: four
// forward/backward passes and steps) per model, backend and data-parallel worker count; the
// speed-up over one worker; the fake-quantization overhead = joint step / (4 × float32 step); and
// the cost of joint training against the four bits trained as separate networks (one step each on
// the same batch) = joint step / separate step; the ratios in wall time and in CPU time of the
// whole process (all threads).
// Usage: pnpm bench:train [--backends wasm] [--workers 1,2] [--batch 128] [--steps 3]
//                         [--models small-cnn,mnist-cnn,resnet8,resnet20] [--json FILE]
import * as tf from '@tensorflow/tfjs';
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Rng, Trainer, initBackend, type BackendPref, type Dataset } from '@bitswitch/trainer';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : def;
}

const backends = arg('backends', 'tensorflow,webgpu,wasm,cpu').split(',') as BackendPref[];
const workerCounts = arg('workers', '1,2').split(',').map(Number);
const batch = Number(arg('batch', '128'));
const steps = Number(arg('steps', '3'));
const models = arg('models', 'small-cnn,mnist-cnn,resnet8,resnet20').split(',');
const jsonOut = process.argv.includes('--json') ? arg('json', '') : '';
const BITS = [8, 6, 4, 2];
for (const n of workerCounts) if (!Number.isInteger(n) || n < 1) throw new RangeError(`--workers: expected a list of integers >= 1, got ${arg('workers', '')}`);

/** Random uint8 images (the speed does not depend on the pixels). */
function syntheticDataset(h: number, w: number, c: number, count: number): Dataset {
  const rng = new Rng(1);
  const split = () => ({ images: Uint8Array.from({ length: count * h * w * c }, () => rng.int(256)), labels: Uint8Array.from({ length: count }, () => rng.int(10)), count });
  return { name: 'mnist', height: h, width: w, channels: c, classes: 10, mean: [0.5, 0.5, 0.5].slice(0, c), std: [0.5, 0.5, 0.5].slice(0, c), train: split(), test: split() };
}

function median(xs: number[]): number { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; }

/** CPU time of the process, every thread (the workers' too). */
const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

/**
 * Median ms (and CPU ms) of a float32 step and a joint step of `t`, and of a step of `sep` (the
 * same bits trained as separate networks, one step each on the batch): the three alternated so
 * that load from other jobs hits them alike.
 */
async function timeSteps(t: Trainer, sep: Trainer, b: number, n: number) {
  const x = new Float32Array(b * 28 * 28).map((_, i) => ((i * 7919) % 255) / 255);
  const y = Int32Array.from({ length: b }, (_, i) => i % 10);
  const variants = [
    { t, phase: 'pretrain' as const, ms: [] as number[], cpu: [] as number[] },
    { t, phase: 'quant' as const, ms: [] as number[], cpu: [] as number[] },
    { t: sep, phase: 'quant' as const, ms: [] as number[], cpu: [] as number[] },
  ];
  await t.calibrate();
  await sep.calibrate();
  // warm-up (kernel set-up, allocation, worker start)
  for (const v of variants) await v.t.trainBatch(v.phase, x, y, 0);
  for (let i = 0; i < n; i++) {
    for (const v of variants) {
      const t0 = performance.now();
      const c0 = cpuMs();
      await v.t.trainBatch(v.phase, x, y, i + 1);
      v.ms.push(performance.now() - t0);
      v.cpu.push(cpuMs() - c0);
    }
  }
  const [fp, joint, separate] = variants.map((v) => ({ ms: median(v.ms), cpu: median(v.cpu) }));
  return { fp: fp!.ms, joint: joint!.ms, separate: separate!.ms, fpCpu: fp!.cpu, jointCpu: joint!.cpu, separateCpu: separate!.cpu };
}

interface Row {
  backend: string; model: string; batch: number; workers: number;
  fp32ImgPerSec: number; jointImgPerSec: number; fp32MsPerStep: number; jointMsPerStep: number;
  /** One step of the four separately trained networks (algorithm 'separate') on the same batch. */
  separateMsPerStep: number;
  /** Joint step / separate step, in wall time and in CPU time of the process. */
  jointVsSeparateWall: number; jointVsSeparateCpu: number;
  overheadWall: number; overheadCpu: number; fp32SpeedupVs1: number | null; jointSpeedupVs1: number | null; loadavg: number[];
}

const load = () => loadavg().map((v) => Number(v.toFixed(2)));
console.log(`bench:train ${new Date().toISOString()} — ${cpus().length}× ${cpus()[0]?.model ?? '?'}, node ${process.version}, load ${load().join(' ')}`);
const rows: Row[] = [];
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
    let one: Row | undefined;
    for (const workers of workerCounts) {
      const ds = syntheticDataset(28, 28, 1, b);
      // the same shard count for every worker count, so every row computes the same thing
      const recipe = { model, data: 'mnist', bits: BITS, alrs: 'code', batchSize: b, shards: Math.max(...workerCounts), pretrainEpochs: 0, epochs: 1, checkpointEvery: 0 } as const;
      const t = new Trainer({ ...recipe, algorithm: 'a2' }, ds, undefined, { workers, backend: name });
      const sep = new Trainer({ ...recipe, algorithm: 'separate' }, ds, undefined, { workers, backend: name });
      const r = await timeSteps(t, sep, b, steps);
      for (const x of [t, sep]) {
        await x.close();
        x.nets.forEach((n) => n.dispose());
      }
      tf.disposeVariables();
      const row: Row = {
        backend: name, model, batch: b, workers, fp32ImgPerSec: (1000 * b) / r.fp, jointImgPerSec: (1000 * b) / r.joint, fp32MsPerStep: r.fp, jointMsPerStep: r.joint,
        separateMsPerStep: r.separate, jointVsSeparateWall: r.joint / r.separate, jointVsSeparateCpu: r.jointCpu / r.separateCpu,
        overheadWall: r.joint / (BITS.length * r.fp), overheadCpu: r.jointCpu / (BITS.length * r.fpCpu),
        fp32SpeedupVs1: one ? one.fp32MsPerStep / r.fp : null, jointSpeedupVs1: one ? one.jointMsPerStep / r.joint : null, loadavg: load(),
      };
      if (workers === 1) one = row;
      rows.push(row);
      const speed = row.fp32SpeedupVs1 === null ? '' : `  ×${row.fp32SpeedupVs1.toFixed(2)} / ×${row.jointSpeedupVs1!.toFixed(2)} vs 1 worker`;
      console.log(`${name.padEnd(6)} ${model.padEnd(10)} batch ${String(b).padStart(3)} workers ${workers}  fp32 ${row.fp32ImgPerSec.toFixed(1).padStart(7)} img/s  joint{8,6,4,2} ${row.jointImgPerSec.toFixed(1).padStart(6)} img/s (${r.joint.toFixed(0)} ms/step; separate ${r.separate.toFixed(0)} ms/step, joint/separate ${row.jointVsSeparateWall.toFixed(3)} wall, ${row.jointVsSeparateCpu.toFixed(3)} cpu)${speed}  overhead wall ${row.overheadWall.toFixed(2)}, cpu ${row.overheadCpu.toFixed(2)}  load ${row.loadavg.join(' ')}`);
    }
  }
}
if (jsonOut) {
  writeFileSync(jsonOut, JSON.stringify({ date: new Date().toISOString(), cpu: cpus()[0]?.model, cores: cpus().length, node: process.version, steps, rows }, null, 2) + '\n');
  console.log(`wrote ${jsonOut}`);
}
