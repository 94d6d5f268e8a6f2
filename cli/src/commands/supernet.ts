// `bitswitch supernet MODEL`: HASB (or uniform-sampling) SuperNet training from a multi-precision
// model, written as a 'mixed' model file with TBN.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { readModel, writeModel, type LayerSensitivity } from '@bitswitch/format';
import { sectionSensitivities } from '@bitswitch/search/sensitivity';
import {
  ALRS_MODES, DATASETS, InterruptedError, SAMPLINGS, SUPERNET_DEFAULTS, SuperNetwork, SupernetTrainer, inputDescriptor, loadDataset, loadMultiPrecision, networkToModel, passedOver,
  resolveSupernetRecipe, workerCount, writeFileAtomic, type Dataset, type SupernetEpoch, type SupernetRecipe,
} from '@bitswitch/trainer';
import { startBackend } from '../backend.ts';
import type { CommandLike } from '../options.ts';
import { stopOnCtrlC } from '../train-report.ts';

export interface SupernetCliOptions {
  data?: string;
  sampling?: string;
  alrs?: string;
  sigma?: string | number;
  epochs?: string | number;
  out?: string;
  recipe?: string;
  sensitivity?: string;
  batch?: string | number;
  lr?: string | number;
  trainLimit?: string | number;
  testLimit?: string | number;
  seed?: string | number;
  backend?: string;
  progress?: boolean;
  workers?: string | number;
  resume?: boolean;
  checkpoint?: string;
}

/** Recipe file (if any), then flags; every number is checked by resolveSupernetRecipe. */
export function supernetRecipeFromOptions(o: SupernetCliOptions): SupernetRecipe {
  let base: Partial<SupernetRecipe> = {};
  if (o.recipe) {
    try {
      base = JSON.parse(readFileSync(o.recipe, 'utf8')) as Partial<SupernetRecipe>;
    } catch (e) {
      throw new RangeError(`--recipe ${o.recipe}: expected a JSON recipe (${(e as Error).message})`);
    }
  }
  const num = (flag: string, v: string | number | undefined) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (String(v).trim() === '' || !Number.isFinite(n)) throw new RangeError(`--${flag}: expected a number, got ${JSON.stringify(v)}`);
    return n;
  };
  const flags: Partial<SupernetRecipe> = {};
  if (o.data !== undefined) {
    if (!(DATASETS as readonly string[]).includes(o.data)) throw new RangeError(`--data: expected one of ${DATASETS.join(', ')}, got ${JSON.stringify(o.data)}`);
    flags.data = o.data;
  }
  if (o.sampling !== undefined) {
    if (!(SAMPLINGS as readonly string[]).includes(o.sampling)) throw new RangeError(`--sampling: expected one of ${SAMPLINGS.join(', ')}, got ${JSON.stringify(o.sampling)}`);
    flags.sampling = o.sampling as SupernetRecipe['sampling'];
  }
  if (o.alrs !== undefined) {
    if (!(ALRS_MODES as readonly string[]).includes(o.alrs)) throw new RangeError(`--alrs: expected one of ${ALRS_MODES.join(', ')}, got ${JSON.stringify(o.alrs)}`);
    flags.alrs = o.alrs as SupernetRecipe['alrs'];
  }
  const pairs: [keyof SupernetRecipe, string, string | number | undefined][] = [
    ['sigma', 'sigma', o.sigma], ['epochs', 'epochs', o.epochs], ['batchSize', 'batch', o.batch], ['lr', 'lr', o.lr],
    ['trainLimit', 'train-limit', o.trainLimit], ['testLimit', 'test-limit', o.testLimit], ['seed', 'seed', o.seed],
  ];
  for (const [key, flag, v] of pairs) {
    const n = num(flag, v);
    if (n !== undefined) (flags as Record<string, number>)[key] = n;
  }
  return resolveSupernetRecipe({ ...base, ...flags }, o.recipe ? `${o.recipe} + flags` : 'supernet');
}

function progressBar(): InstanceType<typeof cliProgress.SingleBar> {
  return new cliProgress.SingleBar({
    format: 'supernet {sampling} epoch {epoch} |{bar}| {value}/{total} batches | loss {loss} | σ_e {sigma} | {eta_formatted} left',
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
}

export interface SupernetResult { out: string; history: SupernetEpoch[]; accuracy: Record<string, number>; backend: string }

/** Trains the SuperNet from MODEL and writes it to --out (sensitivity section carried over). */
export async function runSupernet(modelPath: string, o: SupernetCliOptions, log: (line: string) => void = console.log): Promise<SupernetResult> {
  if (!o.out) throw new RangeError('--out: expected an output .bsw path');
  const recipe = supernetRecipeFromOptions(o);
  const backend = await startBackend(o.backend);
  let loaded: Dataset | undefined;
  const dataset = () => (loaded ??= loadDataset(recipe.data));
  const src = loadMultiPrecision(modelPath, dataset);
  let sensitivity: LayerSensitivity[] | undefined = src.sensitivity;
  if (o.sensitivity) {
    if (!existsSync(o.sensitivity)) throw new RangeError(`--sensitivity ${o.sensitivity}: no such file`);
    sensitivity = readModel(readFileSync(o.sensitivity)).sensitivity;
    if (!sensitivity) throw new RangeError(`--sensitivity ${o.sensitivity}: expected a model file with a sensitivity section (bitswitch sensitivity), got none`);
  }
  const layers = src.net.quantized.map((q) => q.name);
  if (recipe.sampling === 'hasb' && !sensitivity) {
    throw new RangeError(`${modelPath}: HASB sampling needs a sensitivity section (run bitswitch sensitivity on it, or pass --sensitivity FILE)`);
  }
  const traces = sensitivity ? sectionSensitivities(sensitivity, layers) : undefined;
  const net = SuperNetwork.fromMulti(src.net);
  src.net.dispose();
  const trainer = new SupernetTrainer(net, dataset(), recipe, traces, { workers: workerCount(o.workers === undefined ? undefined : String(o.workers)), backend: backend.name });
  const checkpoint = o.checkpoint ?? `${o.out}.checkpoint.json`;
  if (existsSync(checkpoint)) {
    if (!o.resume) throw new RangeError(`--checkpoint: ${checkpoint} holds an unfinished SuperNet run; pass --resume to continue it, or delete it to start over`);
    trainer.resume(checkpoint);
    log(`resuming ${checkpoint}`);
  }
  const bar = o.progress === false ? undefined : progressBar();
  // Ctrl-C: stop after the step in progress with the position saved at --checkpoint; a second one quits at once
  const removeSigint = stopOnCtrlC(() => trainer.requestStop(), {
    before: () => bar?.stop(),
    quitMessage: `interrupted; the last checkpoint is ${checkpoint}; continue with the same command and --resume`,
  });
  log(`backend ${backend.name}${passedOver(backend) ? ` (passed over: ${passedOver(backend)})` : ''}; ${trainer.workers} worker${trainer.workers === 1 ? '' : 's'}; ${layers.length} quantized layers, B = [${net.quant.bits}], ${trainer.train.count} training images, ${trainer.stepsPerEpoch} batches/epoch`);
  if (traces) log(`sensitive layers (t_l ≥ mean): ${layers.filter((_, i) => trainer.sensitive[i]).join(', ') || '(none)'}`);
  let history: SupernetEpoch[];
  try {
    history = await trainer.run({
    onStep: (s) => {
      if (s.step === 1) bar?.start(s.steps, 0, { sampling: recipe.sampling, epoch: `${s.epoch + 1}/${s.epochs}`, loss: '-', sigma: s.sigmaE.toFixed(3) });
      bar?.update(s.step, { sampling: recipe.sampling, epoch: `${s.epoch + 1}/${s.epochs}`, loss: s.loss.toFixed(3), sigma: s.sigmaE.toFixed(3) });
    },
    onEpoch: (e) => {
      bar?.stop();
      log(`epoch ${e.epoch + 1}: loss ${e.loss.toFixed(4)}, σ_e ${e.sigmaE.toFixed(3)}, ${e.seconds.toFixed(1)} s`);
    },
    }, checkpoint);
  } finally {
    removeSigint();
    await trainer.close();
  }
  const accuracy = await trainer.evaluateUniform();
  log(`test accuracy (${trainer.test.count} images): ${Object.entries(accuracy).map(([k, v]) => `${k} ${(v * 100).toFixed(2)}%`).join(', ')}`);
  const model = await networkToModel(net, {
    sensitivity,
    input: inputDescriptor(dataset()),
    metadata: { dataset: recipe.data, supernet: recipe, source: modelPath, history, accuracy, bitCounts: trainer.counts, ...(src.metadata ? { sourceMetadata: src.metadata } : {}) },
  });
  writeFileAtomic(o.out, writeModel(model));
  if (recipe.alrs === 'paper') log(`ALRS eq. 6 floor hits (rate clipped to 0) per bit: ${JSON.stringify(trainer.alrs.floorHits)} of ${JSON.stringify(trainer.alrs.steps)} steps`);
  rmSync(checkpoint, { force: true }); // the run is finished: its file is what stays
  log(`wrote ${o.out} (mode mixed, TBN)`);
  trainer.dispose();
  net.dispose();
  return { out: o.out, history, accuracy, backend: backend.name };
}

/** Adds `supernet` to the bitswitch program. */
export function register(program: CommandLike): void {
  const d = SUPERNET_DEFAULTS;
  program.command('supernet')
    .description('HASB SuperNet training (Algorithm A.3) from a multi-precision model: per-layer bit switching, transitional BatchNorm; writes a mixed-precision model file')
    .argument('<model>', "multi-precision model: a trainer run folder / checkpoint.json, or a 'multi' .bsw (with a sensitivity section for --sampling hasb)")
    .requiredOption('--data <name>', `training data: ${DATASETS.join(' | ')}`)
    .requiredOption('--out <file>', 'the SuperNet .bsw to write')
    .option('--sampling <kind>', `${SAMPLINGS.join(' | ')} (uniform: Bit-Mixer-style baseline, every layer uniform), default ${d.sampling}`)
    .option('--alrs <mode>', `${ALRS_MODES.join(' | ')}: the scales' learning rate per bit (as in train), default ${d.alrs}`)
    .option('--sigma <σ>', `final switching probability σ (σ_e = σ·(e+1)/E), default ${d.sigma}`)
    .option('--epochs <n>', `default ${d.epochs}`)
    .option('--recipe <file>', 'JSON SuperNet recipe (trainer/recipes/hasb-*.json); flags override it')
    .option('--sensitivity <file>', "take the per-layer Hessian traces from this .bsw's sensitivity section")
    .option('--batch <n>', `batch size, default ${d.batchSize}`)
    .option('--lr <λ>', `Adam learning rate (cosine), default ${d.lr}`)
    .option('--train-limit <n>', 'train on a class-balanced subset of n images (default: all of them)')
    .option('--test-limit <n>', 'evaluate on a class-balanced subset of n images (default: all of them)')
    .option('--seed <n>', `default ${d.seed}`)
    .option('--backend <name>', 'auto | tensorflow-gpu | tensorflow | webgpu | wasm | cpu', 'auto')
    .option('--workers <n>', 'threads computing gradients on shards of each batch (default: every core)')
    .option('--checkpoint <file>', 'where the run state is saved every 50 steps and each epoch (default: OUT.checkpoint.json); removed when the run finishes')
    .option('--resume', 'continue the unfinished run saved at --checkpoint (same options); without one, start')
    .option('--no-progress', 'no progress bar')
    // errors reach the program's handler, which prints them in the bitswitch style
    .action(async (model: string, opts: SupernetCliOptions) => {
      try {
        await runSupernet(model, opts);
      } catch (e) {
        if (!(e instanceof InterruptedError)) throw e;
        console.error(`${e.message}; continue with the same command and --resume`);
        process.exitCode = 130;
      }
    });
}
