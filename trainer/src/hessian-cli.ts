// `bitswitch sensitivity MODEL`: per quantized layer Hessian traces (Hutchinson) of a trained
// model on ~1000 training images, written into the model file's `sensitivity` section.
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { layerCosts, quantizedLayers, readModel, writeModel, type LayerSensitivity, type Model } from '@bitswitch/format';
import { hutchinsonTrace, type HutchinsonResult } from './hessian.ts';
import { initBackend, BACKEND_PREFS, type BackendPref } from './backend/index.ts';
import { loadDataset, makeBatch, stratifiedSubset, NO_AUGMENT, DATASETS, type Dataset } from './data.ts';
import { writeFileAtomic } from './checkpoint.ts';
import { Rng } from './rng.ts';
import type { BitChoice, Network } from './network.ts';

/** One batch of normalised images (NHWC) and one-hot labels. */
export interface Batch { x: tf.Tensor4D; y: tf.Tensor2D }

/**
 * What the sensitivity estimate needs from a model: one weight variable per quantized layer
 * (graph order) and the mean training loss of a batch as a function of them.
 */
export interface SensitivityTarget {
  layers: string[];
  params: tf.Variable[];
  loss: (params: tf.Variable[], batch: Batch) => tf.Scalar;
  dispose(): void;
}

/** Rebuilds a differentiable float network from a model file (supernet-io's sensitivityTargetFromModel). */
export type TargetLoader = (model: Model) => SensitivityTarget;

export interface SensitivityOptions {
  data: string;
  images: number;
  tol: number;
  maxIters: number;
  batch: number;
  seed: number;
  backend: BackendPref;
  out?: string;
}

export const SENSITIVITY_DEFAULTS = { images: 1000, tol: 0.05, maxIters: 200, batch: 250, seed: 1, backend: 'auto' as BackendPref };

/** Mean softmax cross-entropy from logits through logSumExp, so it can be differentiated twice. */
export function softmaxCrossEntropy(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1)))) as tf.Scalar;
}

/**
 * The quantized layers' kernels of a trainer Network, with the eval-mode forward (moving BN
 * statistics) at full precision by default: the Hessian of the trained float model.
 */
export function targetFromNetwork(net: Network, bits: BitChoice = null): SensitivityTarget {
  const layers = net.quantized.map((n) => n.name);
  return {
    layers,
    params: layers.map((n) => net.v(`${n}/kernel`)),
    // The variables are the network's own, so the forward reads them directly.
    loss: (_params, b) => softmaxCrossEntropy(net.forward(b.x, bits, false).logits, b.y),
    dispose: () => {},
  };
}

/** A class-balanced set of ~`images` training images, cut into batches. */
const loaded = new Map<string, Dataset>();

export function sensitivityBatches(data: string, images: number, batch: number): { batches: Batch[]; sizes: number[] } {
  // Decoding a dataset takes seconds (Fashion-MNIST's JSON ~13 s): once per process.
  const ds = loaded.get(data) ?? loadDataset(data);
  loaded.set(data, ds);
  const perClass = Math.max(1, Math.floor(images / ds.classes));
  const split = stratifiedSubset(ds.train, perClass, ds.classes, ds.height * ds.width * ds.channels);
  const batches: Batch[] = [];
  const sizes: number[] = [];
  for (let s = 0; s < split.count; s += batch) {
    const idx = Array.from({ length: Math.min(batch, split.count - s) }, (_, i) => s + i);
    const { x, y } = makeBatch(ds, split, idx, NO_AUGMENT, new Rng(0));
    batches.push({
      x: tf.tensor4d(x, [idx.length, ds.height, ds.width, ds.channels]),
      y: tf.oneHot(tf.tensor1d(y, 'int32'), ds.classes).toFloat() as tf.Tensor2D,
    });
    sizes.push(idx.length);
  }
  return { batches, sizes };
}

/** The model's sensitivity section: trace, parameter count and MACs per quantized layer. */
export function sensitivitySection(model: Model, layers: string[], result: HutchinsonResult): LayerSensitivity[] {
  const costs = new Map(layerCosts(model).map((c) => [c.layer, c]));
  const quantized = quantizedLayers(model).map((l) => l.name);
  if (layers.length !== quantized.length || layers.some((n, i) => n !== quantized[i])) {
    throw new RangeError(`sensitivity layers: expected the quantized layers [${quantized}], got [${layers}]`);
  }
  return layers.map((layer, i) => {
    const c = costs.get(layer)!;
    return { layer, hessianTrace: result.trace[i]!, params: c.params, macs: c.macs };
  });
}

interface ProgressBar { start(total: number, value: number, payload?: object): void; update(value: number, payload?: object): void; stop(): void }

function progressBar(): ProgressBar {
  const req = createRequire(import.meta.url);
  const cliProgress = req('cli-progress') as {
    SingleBar: new (opts: object, preset: object) => ProgressBar; Presets: { shades_classic: object };
  };
  return new cliProgress.SingleBar({
    format: 'sensitivity |{bar}| {value}/{total} probes | worst rel. std. error {rse} (tol {tol})',
    hideCursor: true,
  }, cliProgress.Presets.shades_classic);
}

/** Estimates the traces of `model` and returns it with its sensitivity section filled in. */
export async function computeSensitivity(
  model: Model, loadTarget: TargetLoader, opts: SensitivityOptions, bar?: ProgressBar,
): Promise<{ model: Model; result: HutchinsonResult; backend: string }> {
  const backend = await initBackend(opts.backend);
  const target = loadTarget(model);
  const { batches, sizes } = sensitivityBatches(opts.data, opts.images, opts.batch);
  try {
    bar?.start(opts.maxIters, 0, { rse: '-', tol: opts.tol });
    const result = hutchinsonTrace({
      lossFn: target.loss, params: target.params, batches, batchSizes: sizes,
      tol: opts.tol, maxIters: opts.maxIters, rng: new Rng(opts.seed),
      onIter: (i, trace, se) => bar?.update(i, { rse: Math.max(...se.map((s, l) => s / Math.abs(trace[l]!))).toFixed(3), tol: opts.tol }),
    });
    bar?.stop();
    const sensitivity = sensitivitySection(model, target.layers, result);
    return { model: { ...model, sensitivity }, result, backend: backend.name };
  } finally {
    target.dispose();
    for (const b of batches) tf.dispose([b.x, b.y]);
  }
}

function parseOptions(raw: Record<string, unknown>): SensitivityOptions {
  const num = (name: string, v: unknown, ok: (n: number) => boolean, want: string): number => {
    const n = Number(v);
    if (!ok(n)) throw new RangeError(`--${name}: expected ${want}, got ${JSON.stringify(v)}`);
    return n;
  };
  const data = String(raw.data);
  if (!(DATASETS as readonly string[]).includes(data)) throw new RangeError(`--data: expected one of ${DATASETS.join(', ')}, got ${JSON.stringify(raw.data)}`);
  const backend = String(raw.backend ?? SENSITIVITY_DEFAULTS.backend) as BackendPref;
  if (!BACKEND_PREFS.includes(backend)) throw new RangeError(`--backend: expected one of ${BACKEND_PREFS.join(', ')}, got ${JSON.stringify(raw.backend)}`);
  const int = (n: number) => Number.isInteger(n) && n > 0;
  return {
    data, backend,
    images: num('images', raw.images ?? SENSITIVITY_DEFAULTS.images, int, 'a positive integer'),
    tol: num('tol', raw.tol ?? SENSITIVITY_DEFAULTS.tol, (n) => n > 0 && n < 1, 'a number in (0, 1)'),
    maxIters: num('max-iters', raw.maxIters ?? SENSITIVITY_DEFAULTS.maxIters, (n) => int(n) && n >= 2, 'an integer ≥ 2'),
    batch: num('batch', raw.batch ?? SENSITIVITY_DEFAULTS.batch, int, 'a positive integer'),
    seed: num('seed', raw.seed ?? SENSITIVITY_DEFAULTS.seed, Number.isInteger, 'an integer'),
    out: raw.out === undefined ? undefined : String(raw.out),
  };
}

/**
 * Reads MODEL, estimates its traces and writes the model (to --out or in place). The default
 * loader rebuilds the trainer's network from the file (supernet-io; imported lazily because it
 * imports this module).
 */
export async function runSensitivity(path: string, raw: Record<string, unknown>, loader?: TargetLoader, log = console.log): Promise<void> {
  const opts = parseOptions(raw);
  const load = loader ?? (await import('./supernet-io.ts')).sensitivityTargetFromModel;
  const model = readModel(readFileSync(path));
  const { model: out, result, backend } = await computeSensitivity(model, load, opts, progressBar());
  writeFileAtomic(opts.out ?? path, writeModel(out));
  log(`backend ${backend}; ${result.iters} probes, ${result.converged ? 'converged' : `NOT converged (max ${opts.maxIters})`} at tol ${opts.tol}`);
  for (const [i, s] of out.sensitivity!.entries()) {
    log(`  ${s.layer}: tr(H) ${s.hessianTrace.toExponential(4)} ± ${result.stderr[i]!.toExponential(2)}, per param ${result.perParam[i]!.toExponential(4)}, params ${s.params}, MACs ${s.macs}`);
  }
}

/** The subset of commander's Command this module uses (a real Command satisfies it). */
export interface CommandLike {
  command(name: string): CommandLike;
  description(text: string): CommandLike;
  argument(name: string, description?: string): CommandLike;
  option(flags: string, description?: string, defaultValue?: unknown): CommandLike;
  requiredOption(flags: string, description?: string, defaultValue?: unknown): CommandLike;
  action(fn: (...args: any[]) => unknown): CommandLike;
}

/** Adds `sensitivity` to the bitswitch program. */
export function register(program: CommandLike): void {
  program.command('sensitivity')
    .description("per quantized layer Hessian trace (Hutchinson, double backprop) on training images; writes the model's sensitivity section")
    .argument('<model>', 'a .bsw model file')
    .requiredOption('--data <name>', `training data: ${DATASETS.join(' | ')}`)
    .option('--images <n>', 'training images used (class-balanced)', String(SENSITIVITY_DEFAULTS.images))
    .option('--tol <r>', "stop when every layer's relative standard error is ≤ r", String(SENSITIVITY_DEFAULTS.tol))
    .option('--max-iters <n>', 'at most this many Rademacher probes', String(SENSITIVITY_DEFAULTS.maxIters))
    .option('--batch <n>', 'images per Hessian-vector product batch', String(SENSITIVITY_DEFAULTS.batch))
    .option('--seed <n>', 'seed of the Rademacher probes', String(SENSITIVITY_DEFAULTS.seed))
    .option('--backend <name>', `${BACKEND_PREFS.join(' | ')}`, SENSITIVITY_DEFAULTS.backend)
    .option('--out <file>', 'write here instead of overwriting <model>')
    .action(async (model: string, opts: Record<string, unknown>) => {
      try {
        await runSensitivity(model, opts);
      } catch (e) {
        console.error(`error: ${(e as Error).message}`);
        process.exitCode = 1;
      }
    });
}
