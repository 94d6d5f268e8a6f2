// `bitswitch sensitivity MODEL`: per quantized layer Hessian traces (Hutchinson) of a trained
// model on ~1000 training images, with their standard errors, written into the model file's
// `sensitivity` section (a new file unless --in-place).
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { layerCosts, quantizedLayers, readModel, writeModel, type LayerSensitivity, type Model } from '@bitswitch/format';
import { CONFIDENCE_Z, includesZero } from '@bitswitch/search/sensitivity';
import { hutchinsonTrace, PROBE_DATA, type HutchinsonResult, type ProbeData } from './hessian.ts';
import { initBackend, BACKEND_PREFS, type BackendPref } from './backend/index.ts';
import { loadDataset, makeBatch, stratifiedSubset, NO_AUGMENT, DATASETS, type Dataset } from './data.ts';
import { writeFileAtomic } from './checkpoint.ts';
import { Rng } from './rng.ts';
import { workerCount } from './parallel.ts';
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
  /** Probes before the stop is first tested (default 10). */
  minIters?: number;
  batch: number;
  seed: number;
  backend: BackendPref;
  /** Which data one probe sees (hessian.ts ProbeData; default 'one-batch'). */
  probeData?: ProbeData;
  out?: string;
  inPlace?: boolean;
  /** Write the estimates even when some layer's relative standard error is still above tol. */
  allowUnconverged?: boolean;
  /** Threads computing probes (default 1); a custom target loader always runs on one. */
  workers?: number;
}

export const SENSITIVITY_DEFAULTS = {
  images: 1000, tol: 0.05, maxIters: 200, minIters: 10, batch: 250, seed: 1, backend: 'auto' as BackendPref,
  // Measured (hessian-bench.ts, trained small CNN, 4 batches): the same standard error 3.5–4.2× sooner than 'all'.
  probeData: 'one-batch' as ProbeData,
};

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
    return { layer, hessianTrace: result.trace[i]!, hessianTraceStdErr: result.stderr[i]!, probes: result.iters, params: c.params, macs: c.macs };
  });
}

/** Relative standard error se/|t| of each layer (Infinity for a zero estimate or before two probes). */
export function relativeErrors(trace: readonly number[], stderr: readonly number[]): number[] {
  return stderr.map((se, l) => (Number.isFinite(se) && trace[l] !== 0 ? se / Math.abs(trace[l]!) : Infinity));
}

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.ceil(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * One progress line: probes done, each layer's relative standard error (the worst 6 when there
 * are more), how many are within tol, and the time left. The standard error falls as 1/√probes,
 * so the worst layer needs about probes·(rel/tol)² probes in all (at most `limit`).
 */
export function progressLine(probes: number, limit: number, layers: readonly string[], trace: readonly number[], stderr: readonly number[], tol: number, elapsedMs: number): string {
  const rel = relativeErrors(trace, stderr);
  const order = rel.map((r, l) => [r, l] as const).sort((a, b) => b[0] - a[0]);
  const shown = (order.length > 6 ? order.slice(0, 6) : [...order].sort((a, b) => a[1] - b[1]))
    .map(([r, l]) => `${layers[l]} ${Number.isFinite(r) ? r.toFixed(3) : '-'}`).join(', ');
  const within = rel.filter((r) => r <= tol).length;
  const needed = Math.min(limit, Math.ceil(Math.max(...rel.map((r) => probes * (r / tol) ** 2))));
  const eta = within === rel.length ? 0 : ((needed - probes) * elapsedMs) / probes / 1000;
  return `sensitivity: probe ${probes}/${limit} | rel. std. error ${order.length > 6 ? 'worst ' : ''}${shown} | ${within}/${rel.length} layers ≤ ${tol} | ETA ${duration(eta)}`;
}

/** Where progress lines go: stderr, rewritten in place on a terminal, else one line every 10 s. */
export interface ProgressSink { update(line: string): void; done(): void }

export function stderrProgress(stream: NodeJS.WriteStream = process.stderr): ProgressSink {
  let last = 0, pending = '';
  return {
    update(line) {
      if (stream.isTTY) { stream.write(`\r${line}\x1b[K`); return; }
      pending = line;
      if (Date.now() - last >= 10000) { stream.write(line + '\n'); last = Date.now(); pending = ''; }
    },
    done() {
      if (stream.isTTY) stream.write('\n');
      else if (pending) stream.write(pending + '\n');
    },
  };
}

/** Estimates the traces of `model` and returns it with its sensitivity section filled in. */
export async function computeSensitivity(
  model: Model, loadTarget: TargetLoader, opts: SensitivityOptions, progress?: ProgressSink,
): Promise<{ model: Model; result: HutchinsonResult; backend: string; layers: string[]; seconds: number }> {
  const backend = await initBackend(opts.backend);
  const target = loadTarget(model);
  const { batches, sizes } = sensitivityBatches(opts.data, opts.images, opts.batch);
  try {
    const t0 = performance.now();
    const probeData = opts.probeData ?? SENSITIVITY_DEFAULTS.probeData;
    const hopts = {
      lossFn: target.loss, params: target.params, batches, batchSizes: sizes,
      tol: opts.tol, maxIters: opts.maxIters, minIters: Math.min(opts.minIters ?? SENSITIVITY_DEFAULTS.minIters, opts.maxIters),
      seed: opts.seed, probeData,
      onIter: (i: number, trace: number[], se: number[]) => progress?.update(progressLine(i, opts.maxIters, target.layers, trace, se, opts.tol, performance.now() - t0)),
    };
    const workers = opts.workers ?? 1;
    let result: HutchinsonResult;
    // workers rebuild the target from the file, so only the default loader can be spread
    const { sensitivityTargetFromModel } = await import('./supernet-io.ts');
    if (workers > 1 && loadTarget === sensitivityTargetFromModel) {
      const { ProbePool, hutchinsonTraceOnPool } = await import('./hessian-pool.ts');
      const pool = await ProbePool.start(workers, { backend: backend.name, model, data: opts.data, images: opts.images, batch: opts.batch, seed: opts.seed, probeData });
      try {
        result = await hutchinsonTraceOnPool(hopts, pool);
      } finally {
        await pool.close();
      }
    } else result = await hutchinsonTrace(hopts);
    progress?.done();
    const seconds = (performance.now() - t0) / 1000;
    const sensitivity = sensitivitySection(model, target.layers, result);
    return { model: { ...model, sensitivity }, result, backend: backend.name, layers: target.layers, seconds };
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
  const probeData = String(raw.probeData ?? SENSITIVITY_DEFAULTS.probeData) as ProbeData;
  if (!PROBE_DATA.includes(probeData)) throw new RangeError(`--probe-data: expected one of ${PROBE_DATA.join(', ')}, got ${JSON.stringify(raw.probeData)}`);
  const maxIters = num('max-iters', raw.maxIters ?? SENSITIVITY_DEFAULTS.maxIters, (n) => int(n) && n >= 2, 'an integer ≥ 2');
  const opts: SensitivityOptions = {
    data, backend, probeData, maxIters,
    images: num('images', raw.images ?? SENSITIVITY_DEFAULTS.images, int, 'a positive integer'),
    tol: num('tol', raw.tol ?? SENSITIVITY_DEFAULTS.tol, (n) => n > 0 && n < 1, 'a number in (0, 1)'),
    minIters: num('min-probes', raw.minProbes ?? Math.min(SENSITIVITY_DEFAULTS.minIters, maxIters), (n) => int(n) && n >= 2 && n <= maxIters, `an integer in 2..${maxIters} (--max-iters)`),
    batch: num('batch', raw.batch ?? SENSITIVITY_DEFAULTS.batch, int, 'a positive integer'),
    seed: num('seed', raw.seed ?? SENSITIVITY_DEFAULTS.seed, Number.isInteger, 'an integer'),
    out: raw.out === undefined ? undefined : String(raw.out),
    inPlace: raw.inPlace === true,
    allowUnconverged: raw.allowUnconverged === true,
    workers: workerCount(raw.workers === undefined ? undefined : String(raw.workers)),
  };
  if (opts.inPlace && opts.out !== undefined) throw new RangeError('--out: expected either --out FILE or --in-place, got both');
  if (!opts.inPlace && opts.out === undefined) throw new RangeError('--out: expected an output .bsw path (or --in-place to overwrite the input model)');
  return opts;
}

/** One result line per layer: trace ± std error, relative error, and whether 0 lies in t ± 2·se. */
export function describeLayer(s: LayerSensitivity, relError: number): string {
  const zero = includesZero(s) ? `; interval ±${CONFIDENCE_Z} std. errors includes 0: not distinguishable from zero` : '';
  return `  ${s.layer}: tr(H) ${s.hessianTrace.toExponential(4)} ± ${s.hessianTraceStdErr!.toExponential(2)} (rel. ${Number.isFinite(relError) ? relError.toFixed(3) : '∞'}, ${s.probes} probes), ` +
    `per param ${(s.hessianTrace / s.params).toExponential(4)}, params ${s.params}, MACs ${s.macs}${zero}`;
}

/**
 * Reads MODEL, estimates its traces and writes the model (to --out or in place). The default
 * loader rebuilds the trainer's network from the file (supernet-io; imported lazily because it
 * imports this module).
 */
export async function runSensitivity(
  path: string, raw: Record<string, unknown>, loader?: TargetLoader, log = console.log, progress: ProgressSink = stderrProgress(),
): Promise<void> {
  const opts = parseOptions(raw);
  if (!opts.inPlace && resolve(opts.out!) === resolve(path)) throw new RangeError(`--out: ${opts.out} is the input model; pass --in-place to overwrite it`);
  const load = loader ?? (await import('./supernet-io.ts')).sensitivityTargetFromModel;
  const model = readModel(readFileSync(path));
  const { model: out, result, backend, layers, seconds } = await computeSensitivity(model, load, opts, progress);
  const rel = relativeErrors(result.trace, result.stderr);
  const over = layers.filter((_, l) => !(rel[l]! <= opts.tol));
  log(`backend ${backend}; ${result.iters} probes in ${seconds.toFixed(1)} s (${(seconds / result.iters).toFixed(2)} s per probe), ` +
    (result.converged ? `converged: every layer's relative standard error ≤ ${opts.tol}` : `NOT converged: ${over.length} of ${layers.length} layers above --tol ${opts.tol} after --max-iters ${opts.maxIters}`));
  out.sensitivity!.forEach((s, l) => log(describeLayer(s, rel[l]!)));
  if (!result.converged && !opts.allowUnconverged) {
    throw new Error(`sensitivity not converged: ${over.map((n) => `${n} (rel. ${rel[layers.indexOf(n)]!.toFixed(3)})`).join(', ')} above --tol ${opts.tol} after ${result.iters} probes; nothing written. ` +
      'Raise --max-iters or --tol, or pass --allow-unconverged to write these estimates with their standard errors');
  }
  const target = opts.inPlace ? path : opts.out!;
  writeFileAtomic(target, writeModel(out));
  log(`wrote ${target}${result.converged ? '' : ' (unconverged estimates, with their standard errors)'}`);
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
    .description("per quantized layer Hessian trace (Hutchinson, double backprop) on training images, with its standard error; progress on stderr; writes the model's sensitivity section to --out (or --in-place)")
    .argument('<model>', 'a .bsw model file')
    .requiredOption('--data <name>', `training data: ${DATASETS.join(' | ')}`)
    .option('--images <n>', 'training images used (class-balanced)', String(SENSITIVITY_DEFAULTS.images))
    .option('--tol <r>', "stop when every layer's relative standard error is ≤ r", String(SENSITIVITY_DEFAULTS.tol))
    .option('--max-iters <n>', 'at most this many Rademacher probes', String(SENSITIVITY_DEFAULTS.maxIters))
    .option('--min-probes <n>', `probes before the --tol test is first applied (default ${SENSITIVITY_DEFAULTS.minIters}, at most --max-iters)`)
    .option('--probe-data <mode>', `${PROBE_DATA.join(' | ')}: each probe over all images, or over one batch (cycling; cheaper probes, whole cycles)`, SENSITIVITY_DEFAULTS.probeData)
    .option('--batch <n>', 'images per Hessian-vector product batch', String(SENSITIVITY_DEFAULTS.batch))
    .option('--seed <n>', 'seed of the Rademacher probes', String(SENSITIVITY_DEFAULTS.seed))
    .option('--backend <name>', `${BACKEND_PREFS.join(' | ')}`, SENSITIVITY_DEFAULTS.backend)
    .option('--out <file>', 'write the model with its sensitivity section here (required unless --in-place)')
    .option('--in-place', 'overwrite <model> instead of writing --out')
    .option('--workers <n>', 'threads computing probes (default: every core); the estimate does not depend on it')
    .option('--allow-unconverged', 'write the estimates (with their standard errors) even when some layer is above --tol; otherwise that is an error and nothing is written')
    // errors reach the program's handler, which prints them in the bitswitch style
    .action(async (model: string, opts: Record<string, unknown>) => { await runSensitivity(model, opts); });
}
