// `bitswitch train` and `bitswitch eval` (registered on the lead's program by register()), and
// runDemo() for `pnpm demo`. Standalone: node --import tsx trainer/src/cli.ts train …
import type { Command } from 'commander';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import cliProgress from 'cli-progress';
import * as tf from '@tensorflow/tfjs';
import { FormatError, readModel, writeModel, type Model } from '@bitswitch/format';
import { useBackend } from './device.ts';
import { inputDescriptor, loadDataset, makeBatch, splitName, stratifiedSubset, NO_AUGMENT, type Dataset, type Split } from './data.ts';
import { exportModel, networkFromModel } from './export.ts';
import { referencePredict } from './reference-eval.ts';
import { DEFAULT_RECIPE, loadRecipe, resolveRecipe, type Recipe } from './recipe.ts';
import { WorkerDiedError, workerCount } from './parallel.ts';
import { DivergenceError, InterruptedError, Trainer, evaluate, hasCheckpoint, precisionName, type EpochInfo, type TrainEvents } from './train.ts';
import { writeFileAtomic } from './checkpoint.ts';
import { fileDigest, fp32Card, fp32FromNetwork, initNetwork, loadInit, saveFp32 } from './fp32.ts';
import { Rng } from './rng.ts';

interface TrainOptions {
  recipe?: string; model?: string; data?: string; bits?: string; alrs?: string; algorithm?: string; quantizer?: string;
  epochs?: string; pretrainEpochs?: string; batchSize?: string; lr?: string; pretrainLr?: string; scaleLrFactor?: string;
  distill?: boolean; perChannel?: boolean; seed?: string; trainLimit?: string; testLimit?: string; checkpointEvery?: string;
  shards?: string; init?: string; out: string; resume?: boolean; backend?: string; progress?: boolean; logSteps?: boolean; workers?: string;
}


/** tfjs's production mode: no "install tfjs-node" banner from the cpu backend in the CLI's output. */
function quietTf(): void {
  tf.env().set('PROD', true);
}

/** Says which backends `auto` passed over and why (nothing when the first candidate was kept). */
function reportFallThrough(b: { name: string; tried: string }): void {
  if (b.tried !== b.name) console.log(`backend ${b.name}; passed over: ${b.tried.split('; ').slice(0, -1).join('; ')}`);
}

function parseNumber(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new RangeError(`${flag}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

/** The recipe fields the flags set, each with the flag as the user typed it. */
function flagFields(o: Omit<TrainOptions, 'out'>): [flag: string, field: keyof Recipe, value: unknown][] {
  const out: [string, keyof Recipe, unknown][] = [];
  if (o.model) out.push(['--model', 'model', o.model]);
  if (o.data) out.push(['--data', 'data', o.data]);
  if (o.bits) out.push(['--bits', 'bits', o.bits.split(',').map((b) => parseNumber(b, '--bits'))]);
  if (o.alrs) out.push(['--alrs', 'alrs', o.alrs]);
  if (o.algorithm) out.push(['--algorithm', 'algorithm', o.algorithm]);
  if (o.quantizer) out.push(['--quantizer', 'quantizer', o.quantizer]);
  const nums: [keyof Omit<TrainOptions, 'out'>, keyof Recipe, string][] = [
    ['epochs', 'epochs', '--epochs'], ['pretrainEpochs', 'pretrainEpochs', '--pretrain-epochs'], ['batchSize', 'batchSize', '--batch-size'],
    ['lr', 'lr', '--lr'], ['pretrainLr', 'pretrainLr', '--pretrain-lr'], ['scaleLrFactor', 'scaleLrFactor', '--scale-lr-factor'],
    ['seed', 'seed', '--seed'], ['trainLimit', 'trainLimit', '--train-limit'], ['testLimit', 'testLimit', '--test-limit'],
    ['checkpointEvery', 'checkpointEvery', '--checkpoint-every'], ['shards', 'shards', '--shards'],
  ];
  for (const [opt, field, flag] of nums) if (o[opt] !== undefined) out.push([flag, field, parseNumber(o[opt] as string, flag)]);
  if (o.distill) out.push(['--distill', 'distill', true]);
  if (o.perChannel) out.push(['--per-channel', 'perChannel', true]);
  return out;
}

/** Recipe from --recipe FILE (if any) with the flags on top; an invalid value is named by its flag (or the file and field). */
export function recipeFromOptions(o: Omit<TrainOptions, 'out'>): Recipe {
  const r: Partial<Recipe> = o.recipe ? loadRecipe(o.recipe) : {};
  const flags = flagFields(o);
  for (const [, field, value] of flags) (r as Record<string, unknown>)[field] = value;
  // a run that starts from an FP32 model does not pre-train again unless asked to
  if (o.init && o.pretrainEpochs === undefined) r.pretrainEpochs = 0;
  const flagOf = new Map<string, string>(flags.map(([flag, field]) => [field, flag]));
  return resolveRecipe(r, o.recipe ?? 'recipe', (field) => flagOf.get(field) ?? (o.recipe ? `${o.recipe}: ${field}` : `recipe default ${field}`));
}

/** Refuses flags that would change a resumed run's recipe (they used to be ignored silently). */
export function checkResumeFlags(o: Omit<TrainOptions, 'out'>, recipe: Recipe): void {
  const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));
  const given: [string, keyof Recipe, unknown][] = [...flagFields(o)];
  if (o.recipe) for (const [k, v] of Object.entries(loadRecipe(o.recipe))) given.push(['--recipe', k as keyof Recipe, v]);
  for (const [flag, field, value] of given) {
    if (JSON.stringify(value) !== JSON.stringify(recipe[field])) {
      throw new RangeError(`${flag}: a resumed run keeps its recipe (${field} ${show(recipe[field])}); drop ${flag} or start a new --out`);
    }
  }
}

/** Seconds as "1h02m", "3m05s" or "42s". */
export function formatDuration(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

const pct = (v: number | undefined) => (v === undefined ? '   -  ' : `${(100 * v).toFixed(2).padStart(6)}`);

/** One row of the per-epoch table: accuracy per precision. */
export function epochRow(e: EpochInfo, columns: string[]): string {
  return [String(e.epoch + 1).padStart(5), e.phase.padEnd(8), e.loss.toFixed(4).padStart(7), ...columns.map((c) => pct(e.accuracy[c]).padStart(Math.max(6, c.length))),
    e.imagesPerSec.toFixed(0).padStart(6), `${e.seconds.toFixed(0)}s`.padStart(6)].join('  ');
}

export function tableHeader(columns: string[]): string {
  return ['epoch', 'phase   ', '   loss', ...columns.map((c) => c.padStart(6)), ' img/s', '  time'].join('  ');
}

/** Runs (or resumes) a training run into `out`, exports the model, returns the final per-bit accuracy. */
export async function trainCommand(o: TrainOptions): Promise<Record<string, number>> {
  quietTf();
  if (existsSync(o.out) && !statSync(o.out).isDirectory()) throw new RangeError(`--out: ${o.out} is a file — expected a folder for the run (new, or one to --resume)`);
  // flags are checked before the backend starts, so a typo answers at once
  const fresh = o.resume && hasCheckpoint(o.out) ? undefined : recipeFromOptions(o);
  const workers = workerCount(o.workers);
  const backend = await useBackend(o.backend ?? 'auto');
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
  const r = trainer.recipe;
  const columns = ['fp32', ...(r.epochs > 0 ? r.bits.map(precisionName) : [])];
  const showBar = o.progress !== false && process.stdout.isTTY;
  const bar = showBar ? new cliProgress.SingleBar({
    format: '{phase} epoch {ep}/{eps} |{bar}| {value}/{total} loss {loss} | {ips} img/s | ETA {eta_formatted}',
    etaBuffer: 20, hideCursor: true, clearOnComplete: true,
  }, cliProgress.Presets.shades_classic) : undefined;
  let barEpoch = -1;
  let lastLine = Date.now();
  let ipsAvg = 0;
  const t0 = Date.now();
  console.log(tableHeader(columns));
  for (const h of trainer.history) console.log(epochRow(h, columns));
  const events: TrainEvents = {
    onStep: (s) => {
      const ips = (1000 * s.images) / Math.max(s.ms, 1);
      ipsAvg = ipsAvg ? 0.9 * ipsAvg + 0.1 * ips : ips;
      if (o.logSteps) console.log(`step epoch=${s.epoch} step=${s.step} loss=${s.loss.toFixed(6)}`);
      // without a bar (a log file, a pipe): one line a minute with the whole run's ETA
      if (!bar && !o.logSteps && Date.now() - lastLine >= 60_000) {
        lastLine = Date.now();
        const left = (s.epochs - s.epoch - 1) * s.steps + (s.steps - s.step);
        console.log(`  epoch ${s.epoch + 1}/${s.epochs} step ${s.step}/${s.steps}  loss ${s.loss.toFixed(4)}  ${ipsAvg.toFixed(0)} img/s  run ETA ${formatDuration((left * s.images) / Math.max(ipsAvg, 1e-9))}`);
      }
      if (!bar) return;
      if (barEpoch !== s.epoch) {
        if (barEpoch >= 0) bar.stop();
        bar.start(s.steps, s.step - 1, { phase: s.phase, ep: s.epoch + 1, eps: s.epochs, loss: '-', ips: '-' });
        barEpoch = s.epoch;
      }
      bar.update(s.step, { loss: s.loss.toFixed(4), ips: ipsAvg.toFixed(0) });
    },
    onEpoch: (e) => {
      if (bar) { bar.stop(); barEpoch = -1; }
      console.log(epochRow(e, columns));
    },
  };
  // Ctrl-C: stop after the step in progress and keep the checkpoint; a second Ctrl-C quits at once
  const showCursor = () => { if (process.stdout.isTTY) process.stdout.write('\x1b[?25h'); };
  const resumeHint = `continue with: bitswitch ${process.argv[2] === 'pretrain' ? 'pretrain' : 'train'} --out ${o.out} --resume`;
  let stopping = false;
  const onSigint = () => {
    bar?.stop();
    showCursor();
    if (stopping) { console.error(`interrupted; ${resumeHint}`); process.exit(130); }
    stopping = true;
    console.error('stopping after the current step (Ctrl-C again to quit now)…');
    trainer.requestStop();
  };
  process.on('SIGINT', onSigint);
  try {
    await trainer.run(events);
  } catch (e) {
    bar?.stop();
    showCursor();
    if (e instanceof InterruptedError) { console.error(`interrupted; ${resumeHint}`); process.exitCode = 130; return {}; }
    if (e instanceof WorkerDiedError) throw new WorkerDiedError(`${e.message}; stopping. The last good checkpoint is ${trainer.checkpointPath} — ${resumeHint}`);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    await trainer.close();
  }
  const final = trainer.history[trainer.history.length - 1]?.accuracy ?? {};
  const exported: Record<string, number> = {};
  if (r.epochs > 0 && (r.algorithm === 'separate' || r.quantizer === 'double-rounding')) {
    for (const net of trainer.nets) {
      const file = join(o.out, trainer.nets.length > 1 ? `model-w${net.quant.bits[0]}.bsw` : 'model.bsw');
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
    const file = join(o.out, 'model-fp32.json');
    const m = await fp32FromNetwork(trainer.nets[0], { data: r.data, split: splitName(trainer.ds, r), accuracy: final.fp32, testImages: trainer.test.count, recipe: r });
    saveFp32(file, m);
    const seconds = trainer.history.reduce((a, h) => a + h.seconds, 0);
    writeFileAtomic(join(o.out, 'model-fp32.md'), fp32Card(m, 'model-fp32.json', `bitswitch ${process.argv.slice(2).join(' ')}`, seconds, trainer.workers, backend.name));
    console.log(`wrote ${file} (FP32 ${(100 * final.fp32).toFixed(2)}%); start joint training from it with: bitswitch train --init ${file} …`);
  }
  const summary = {
    recipe: r, backend: backend.name, workers: trainer.workers, ...(init ? { init } : {}), seconds: (Date.now() - t0) / 1000, accuracy: final, exportedAccuracy: exported,
    alrsFloorHits: trainer.alrsFloorHits, alrsSteps: trainer.alrsSteps,
  };
  writeFileAtomic(join(o.out, 'summary.json'), JSON.stringify(summary, null, 2) + '\n');
  if (r.alrs === 'paper') console.log(`ALRS eq. 6 floor hits (rate clipped to 0) per bit: ${JSON.stringify(trainer.alrsFloorHits)} of ${JSON.stringify(trainer.alrsSteps)} steps`);
  return final;
}

interface EvalOptions { data?: string; limit?: string; bits?: string; reference?: boolean; backend?: string }

/** Accuracy per bit of a model file on a dataset's test split (tfjs, or the plain-TS reference with `reference`). */
export async function evalCommand(file: string, o: EvalOptions): Promise<Record<string, number>> {
  quietTf();
  if (!existsSync(file)) throw new RangeError(`${file}: no such file — expected a .bsw model file`);
  if (statSync(file).isDirectory()) {
    const hint = existsSync(join(file, 'model.bsw')) ? ` (e.g. ${join(file, 'model.bsw')})` : '';
    throw new RangeError(`${file}: is a folder — expected a .bsw model file${hint}`);
  }
  const limit = o.limit === undefined ? undefined : parseNumber(o.limit, '--limit');
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`--limit: expected an integer ≥ 1, got ${JSON.stringify(o.limit)}`);
  let model: Model;
  try {
    model = readModel(readFileSync(file));
  } catch (e) {
    if (e instanceof FormatError) throw new RangeError(`${file}: ${e.message}`);
    throw e;
  }
  const bits = o.bits === undefined ? model.bits : o.bits.split(',').map((b) => parseNumber(b, '--bits'));
  const missing = bits.filter((b) => !model.bits.includes(b));
  if (missing.length) throw new RangeError(`--bits: expected some of the model's bits ${model.bits.join(',')}, got ${missing.join(',')}`);
  const recorded = model.input?.dataset ?? (model.metadata?.dataset as string | undefined);
  const dataName = o.data ?? recorded;
  if (!dataName) throw new RangeError(`--data: expected mnist or fashion-mnist (the file names no dataset)`);
  if (recorded && o.data && o.data !== recorded) console.error(`bitswitch eval: warning: ${file} was trained on ${recorded}, evaluating on --data ${o.data}; expect chance-level accuracy`);
  const ds = loadDataset(dataName);
  const [H, W, C] = model.inputShape;
  if (H !== ds.height || W !== ds.width || C !== ds.channels) throw new RangeError(`--data: ${dataName} images are [${ds.height}, ${ds.width}, ${ds.channels}], the model expects [${model.inputShape}]`);
  const test: Split = limit && limit < ds.test.count ? stratifiedSubset(ds.test, Math.ceil(limit / ds.classes), ds.classes, H * W * C) : ds.test;
  const out: Record<string, number> = {};
  if (o.reference) {
    const { x, y } = makeBatch(ds, test, Int32Array.from({ length: test.count }, (_, i) => i), NO_AUGMENT, new Rng(0));
    for (const b of bits) {
      const pred = referencePredict(model, b, x, test.count);
      out[precisionName(b)] = pred.reduce((a, p, i) => a + (p === y[i] ? 1 : 0), 0) / test.count;
    }
  } else {
    reportFallThrough(await useBackend(o.backend ?? 'auto'));
    const net = networkFromModel(model);
    for (const b of bits) out[precisionName(b)] = await evaluate(net, ds, test, b);
    net.dispose();
  }
  console.log(`${file} on ${dataName} (${test.count} test images, ${o.reference ? 'reference math' : 'tfjs'}):`);
  for (const [k, v] of Object.entries(out)) console.log(`  ${k}  ${pct(v)}%`);
  return out;
}

/** The FP32 starting point the demo's joint training starts from (committed under models/). */
export const DEMO_INIT = new URL('../../models/mnist-cnn-fp32.json', import.meta.url);

/**
 * `pnpm demo`: joint {8,6,4,2} training of the MNIST CNN from its committed FP32 model on every
 * core, export one file; returns the trainer's accuracy per precision.
 */
export async function runDemo(outDir = join(tmpdir(), `bitswitch-demo-${Date.now()}`), workers?: string): Promise<Record<string, number>> {
  const recipe = JSON.parse(readFileSync(new URL('../recipes/demo.json', import.meta.url), 'utf8')) as Partial<Recipe>;
  return trainCommand({ ...toOptions(recipe), init: fileURLToPath(DEMO_INIT), out: outDir, workers });
}

function toOptions(r: Partial<Recipe>): Omit<TrainOptions, 'out'> {
  const tmp = join(tmpdir(), `bitswitch-recipe-${process.pid}.json`);
  writeFileSync(tmp, JSON.stringify(r));
  return { recipe: tmp };
}

/** "(default: X)" for a recipe field in --help; the default is applied by resolveRecipe, a --recipe file can change it. */
function dflt(field: keyof Recipe): string {
  const v = DEFAULT_RECIPE[field];
  return `(default: ${Array.isArray(v) ? v.join(',') : String(v)}, or the --recipe file's)`;
}

/** The options `train` and `pretrain` share: data limits, checkpoints, resume, backend, workers. */
function runOptions(cmd: Command): Command {
  return cmd
    .option('--seed <n>', `seed of initialisation, data order and augmentation ${dflt('seed')}`)
    .option('--train-limit <n>', 'use a stratified subset of N training images (default: all of them)')
    .option('--test-limit <n>', 'use a stratified subset of N test images (default: all of them)')
    .option('--checkpoint-every <n>', `checkpoint every N batches (and every epoch) ${dflt('checkpointEvery')}`)
    .option('--resume', 'continue the checkpoint in --out')
    .option('--backend <name>', 'auto | tensorflow | webgpu | wasm | cpu', 'auto')
    .option('--workers <n>', `threads computing gradients on shards of each batch (default: every core, ${availableParallelism()} here)`)
    .option('--shards <n>', 'BatchNorm shards per batch (default: one per worker; fix it to make any worker count train the same model)')
    .option('--no-progress', 'no progress bar');
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
    .option('--log-steps', 'print one line per step');
  runOptions(train).action(async (opts: TrainOptions) => { await trainCommand(opts); });
  const pretrain = program.command('pretrain')
    .description('train a float32 model (the starting point of joint training), write DIR/model-fp32.json with its accuracy')
    .requiredOption('--out <dir>', 'output folder (checkpoint.json, metrics.jsonl, model-fp32.json)')
    .option('--recipe <file>', 'recipe JSON; its pretrain fields are used')
    .option('--model <name>', `small-cnn | mnist-cnn | resnet8 | resnet20 ${dflt('model')}`)
    .option('--data <name>', `mnist | fashion-mnist ${dflt('data')}`)
    .option('--epochs <n>', `float32 epochs ${dflt('pretrainEpochs')}`)
    .option('--batch-size <n>', `images per batch ${dflt('batchSize')}`)
    .option('--lr <rate>', `float32 learning rate (cosine schedule) ${dflt('pretrainLr')}`);
  runOptions(pretrain).action(async (opts: TrainOptions) => {
    const { epochs, lr, ...rest } = opts;
    await trainCommand({ ...rest, ...(epochs !== undefined ? { pretrainEpochs: epochs } : {}), ...(lr !== undefined ? { pretrainLr: lr } : {}), epochs: '0' });
  });
  program.command('eval <file>')
    .description('accuracy per bit-width of a model file on a test split')
    .option('--data <name>', 'mnist | fashion-mnist (default: the dataset named in the file)')
    .option('--limit <n>', 'a stratified subset of N test images (default: all of them)')
    .option('--bits <list>', "evaluate only these bit-widths, e.g. 8,4 (default: every bit-width in the file)")
    .option('--reference', 'evaluate with the plain-TS reference math instead of tfjs (slow)')
    .option('--backend <name>', 'auto | tensorflow | webgpu | wasm | cpu', 'auto')
    .action(async (file: string, opts: EvalOptions) => { await evalCommand(file, opts); });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { Command } = await import('commander');
  const program = new Command('bitswitch');
  register(program);
  // `demo` belongs to the lead's program (cli/src/demo.ts); standalone it is just runDemo().
  program.command('demo').description('train a small CNN on {8,6,4,2} for a few minutes, export, evaluate').action(async () => { await runDemo(); });
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof RangeError || e instanceof DivergenceError || e instanceof WorkerDiedError) { console.error(`bitswitch ${process.argv[2]}: ${e.message}`); process.exit(1); }
    throw e;
  }
}
export type { Dataset };
