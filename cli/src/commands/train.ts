// `bitswitch train`: one network accurate at every bit-width of a list (multi-precision training
// with Double Rounding and ALRS), exported as one packed model file read back and evaluated.
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModel, writeModel } from '@bitswitch/format';
import {
  Trainer, evaluate, exportModel, fileDigest, fp32Card, fp32FromNetwork, hasCheckpoint, initNetwork, inputDescriptor, loadDataset, loadInit,
  networkFromModel, precisionName, saveFp32, splitName, workerCount, writeFileAtomic, type BackendChoice, type EpochInfo,
} from '@bitswitch/trainer';
import type { Command } from 'commander';
import { reportFallThrough, startBackend } from '../backend.ts';
import { checkResumeFlags, dflt, recipeFromOptions, runOptions, type TrainOptions } from '../recipe-options.ts';
import { pct, runWithProgress } from '../train-report.ts';

/** Runs (or resumes) a training run into `out`, exports the model, returns the final per-bit accuracy. */
export async function trainCommand(o: TrainOptions): Promise<Record<string, number>> {
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new RangeError(`--out: ${o.out} is a file — expected a folder for the run (new, or one to --resume)`);
  // flags are checked before the backend starts, so a typo answers at once
  const fresh = o.resume && hasCheckpoint(o.out) ? undefined : recipeFromOptions(o);
  const workers = workerCount(o.workers);
  const backend = await startBackend(o.backend);
  reportFallThrough(backend);
  let trainer: Trainer;
  let init: Record<string, unknown> | undefined = existsSync(join(o.out, 'init.json')) && o.resume ? JSON.parse(readFileSync(join(o.out, 'init.json'), 'utf8')) : undefined;
  const resume = o.resume && hasCheckpoint(o.out);
  if (hasCheckpoint(o.out) && !o.resume) throw new RangeError(`--out: ${o.out} already holds a checkpoint; pass --resume to continue it or choose another folder`);
  const options = { workers, backend: backend.name };
  if (resume) {
    trainer = Trainer.resume(o.out, undefined, options);
    checkResumeFlags(o, trainer.recipe);
    console.log(`resuming ${o.out} at epoch ${trainer.epoch + 1}, step ${trainer.step} (backend ${backend.name}, ${trainer.workers} worker${trainer.workers > 1 ? 's' : ''}, ${trainer.recipe.shards} BN shards)`);
  } else {
    const recipe = fresh!;
    mkdirSync(o.out, { recursive: true });
    const ds = loadDataset(recipe.data);
    trainer = new Trainer(recipe, ds, o.out, options);
    if (o.init) {
      const start = await loadInit(o.init, trainer.nets[0].spec, trainer.recipe);
      for (const net of trainer.nets) initNetwork(net, start, trainer.recipe, o.init);
      init = { file: o.init, sha256: fileDigest(o.init), accuracy: start.accuracy, split: start.split, commit: start.commit };
      writeFileAtomic(join(o.out, 'init.json'), JSON.stringify(init, null, 2) + '\n');
      console.log(`starting from ${o.init} (${start.testImages ? `FP32 ${(100 * start.accuracy).toFixed(2)}% on ${start.testImages} ${start.data} test images` : 'FP32 accuracy not recorded'})`);
    }
    writeFileSync(join(o.out, 'recipe.json'), JSON.stringify(trainer.recipe, null, 2) + '\n');
    console.log(`training ${recipe.model} on ${recipe.data} (${trainer.train.count} train / ${trainer.test.count} test images), bits {${recipe.bits}}, ${recipe.algorithm}, ALRS ${recipe.alrs}, backend ${backend.name}, ${trainer.workers} worker${trainer.workers > 1 ? 's' : ''}, ${trainer.recipe.shards} BN shards`);
  }
  const t0 = Date.now();
  const r = trainer.recipe;
  if (!(await runWithProgress(trainer, o))) return {};
  // its evaluation starts the ranks again (runWithProgress closed them): close them after
  let bn: Awaited<ReturnType<Trainer['reestimateBn']>>;
  try {
    bn = await trainer.reestimateBn();
  } finally {
    await trainer.close();
  }
  if (bn) {
    const show = (k: string) => `${k} ${pct(bn.before[k]!).trim()} → ${pct(bn.after[k]!).trim()}%`;
    console.log(`BatchNorm statistics re-estimated over ${bn.images} training images (test accuracy, moving averages → re-estimated): ${Object.keys(bn.after).map(show).join(', ')}`);
  }
  const final = bn?.after ?? trainer.history[trainer.history.length - 1]?.accuracy ?? {};
  const exported = await exportRun(trainer, backend, init, final);
  const summary = {
    recipe: r, backend: backend.name, workers: trainer.workers, ...(init ? { init } : {}), seconds: Number(trainer.history.reduce((a, h) => a + h.seconds, 0).toFixed(3)), ...cpuSecondsOf(trainer.history), processSeconds: (Date.now() - t0) / 1000, accuracy: final, exportedAccuracy: exported,
    ...(bn ? { bnReestimate: { images: bn.images, movingAverages: bn.before } } : {}),
    alrsFloorHits: trainer.alrsFloorHits, alrsSteps: trainer.alrsSteps,
  };
  writeFileAtomic(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  if (r.alrs === 'paper') console.log(`ALRS eq. 6 floor hits (rate clipped to 0) per bit: ${JSON.stringify(trainer.alrsFloorHits)} of ${JSON.stringify(trainer.alrsSteps)} steps`);
  return final;
}

/** Summed CPU seconds of the epochs' steps, when every epoch recorded them (a run resumed from an older checkpoint may not have). */
function cpuSecondsOf(history: readonly EpochInfo[]): { cpuSeconds?: number } {
  return history.length && history.every((h) => h.cpuSeconds !== undefined) ? { cpuSeconds: Number(history.reduce((a, h) => a + h.cpuSeconds!, 0).toFixed(3)) } : {};
}

/**
 * The run's model files: after quantized training one .bsw per network (read back and evaluated:
 * it must give the trainer's accuracy), after float pre-training only model-fp32.json and its card.
 * Returns the read-back accuracy per precision.
 */
async function exportRun(trainer: Trainer, backend: BackendChoice, init: Record<string, unknown> | undefined, final: Record<string, number>): Promise<Record<string, number>> {
  const r = trainer.recipe;
  const out = trainer.outDir!;
  const exported: Record<string, number> = {};
  if (r.epochs > 0 && (r.algorithm === 'separate' || r.quantizer === 'double-rounding')) {
    for (const net of trainer.nets) {
      const file = join(out, trainer.nets.length > 1 ? `model-w${net.quant.bits[0]}.bsw` : 'model.bsw');
      const model = await exportModel(net, { dataset: r.data, split: splitName(trainer.ds, r), recipe: r, accuracy: final, backend: backend.name, ...(init ? { init } : {}) }, inputDescriptor(trainer.ds));
      writeFileAtomic(file, writeModel(model));
      // read the file back and evaluate it: the exported model must give the trainer's accuracy
      const back = networkFromModel(readModel(readFileSync(file)));
      for (const b of net.quant.bits) exported[precisionName(b)] = await evaluate(back, trainer.ds, trainer.test, b);
      back.dispose();
      console.log(`wrote ${file}`);
    }
    console.log(`exported file, read back: ${Object.entries(exported).map(([k, v]) => `${k} ${pct(v).trim()}%`).join(', ')}`);
  }
  if (r.epochs === 0 && r.pretrainEpochs > 0 && final.fp32 !== undefined) {
    const file = join(out, 'model-fp32.json');
    const m = await fp32FromNetwork(trainer.nets[0], { data: r.data, split: splitName(trainer.ds, r), accuracy: final.fp32, testImages: trainer.test.count, recipe: r });
    saveFp32(file, m);
    const seconds = trainer.history.reduce((a, h) => a + h.seconds, 0);
    writeFileAtomic(join(out, 'model-fp32.md'), fp32Card(m, 'model-fp32.json', `bitswitch ${process.argv.slice(2).join(' ')}`, seconds, trainer.workers, backend.name));
    console.log(`wrote ${file} (FP32 ${(100 * final.fp32).toFixed(2)}%); start joint training from it with: bitswitch train --init ${file} …`);
  }
  return exported;
}

export function register(program: Command): void {
  const train = program.command('train')
    .description('train one network accurate at every bit-width of a list, export the packed model')
    .requiredOption('--out <dir>', 'output folder (checkpoint.json, metrics.jsonl, model.bsw, summary.json)')
    .option('--recipe <file>', 'recipe JSON (trainer/recipes/); flags override its fields')
    .option('--model <name>', `small-cnn | mnist-cnn | resnet8 | resnet20 ${dflt('model')}`)
    .option('--data <name>', `mnist | fashion-mnist ${dflt('data')}`)
    .option('--bits <list>', `bit list, descending, e.g. 8,6,4,2 ${dflt('bits')}`)
    .option('--alrs <mode>', `paper (eq. 6–7, floored at 0) | code (λ·0.1^rank) | off ${dflt('alrs')}`)
    .option('--algorithm <name>', `a2 (step per bit) | a1 (accumulate, one step) | separate (one network per bit) ${dflt('algorithm')}`)
    .option('--quantizer <name>', `double-rounding | separate | floor | dorefa ${dflt('quantizer')}`)
    .option('--epochs <n>', `quantized-training epochs ${dflt('epochs')}`)
    .option('--pretrain-epochs <n>', `float32 pre-training epochs before the quantized ones ${dflt('pretrainEpochs')}; 0 with --init`)
    .option('--batch-size <n>', `images per batch ${dflt('batchSize')}`)
    .option('--lr <rate>', `quantized-training learning rate (cosine schedule) ${dflt('lr')}`)
    .option('--pretrain-lr <rate>', `float32 learning rate (cosine schedule) ${dflt('pretrainLr')}`)
    .option('--scale-lr-factor <x>', `multiplies the scales' rate (1 = paper) ${dflt('scaleLrFactor')}`)
    .option('--distill', 'self-distillation from the highest bit')
    .option('--per-channel', 'one weight scale per output channel')
    .option('--init <file>', 'start from an FP32 model (model-fp32.json from `bitswitch pretrain`, e.g. models/*.json, or a float .onnx of the same architecture); skips pre-training')
    .option('--bn-reestimate <images>', `after training, re-estimate each bit's BatchNorm statistics over this many training images; 0 keeps the moving averages ${dflt('bnReestimate')}`)
    .option('--log-steps', 'print one line per step');
  runOptions(train).action(async (opts: TrainOptions) => { await trainCommand(opts); });
}
