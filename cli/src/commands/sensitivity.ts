// `bitswitch sensitivity MODEL`: per quantized layer Hessian traces (Hutchinson) of a trained
// model on ~1000 training images, with their standard errors, written into the model file's
// `sensitivity` section (a new file unless --in-place).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { readModel, writeModel, type LayerSensitivity } from '@bitswitch/format';
import { CONFIDENCE_Z, includesZero } from '@bitswitch/search/sensitivity';
import {
  BACKEND_PREFS, DATASETS, PROBE_DATA, SENSITIVITY_DEFAULTS, computeSensitivity, relativeErrors, sensitivityTargetFromModel, workerCount, writeFileAtomic,
  type BackendPref, type ProbeData, type ProgressSink, type SensitivityOptions, type TargetLoader,
} from '@bitswitch/trainer';
import type { CommandLike } from '../options.ts';

/** The estimate's options and where its result goes. */
export interface SensitivityCliOptions extends SensitivityOptions {
  out?: string;
  inPlace?: boolean;
  /** Write the estimates even when some layer's relative standard error is still above tol. */
  allowUnconverged?: boolean;
}

/** Progress lines on stderr: rewritten in place on a terminal, else one line every 10 s. */
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

function parseOptions(raw: Record<string, unknown>): SensitivityCliOptions {
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
  const opts: SensitivityCliOptions = {
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

/** Reads MODEL, estimates its traces and writes the model (to --out or in place); the default loader rebuilds the trainer's network from the file. */
export async function runSensitivity(
  path: string, raw: Record<string, unknown>, loader?: TargetLoader, log = console.log, progress: ProgressSink = stderrProgress(),
): Promise<void> {
  const opts = parseOptions(raw);
  if (!opts.inPlace && resolve(opts.out!) === resolve(path)) throw new RangeError(`--out: ${opts.out} is the input model; pass --in-place to overwrite it`);
  const load = loader ?? sensitivityTargetFromModel;
  const model = readModel(readFileSync(path));
  const { model: out, result, backend, workers, layers, seconds } = await computeSensitivity(model, load, opts, progress);
  const rel = relativeErrors(result.trace, result.stderr);
  const over = layers.filter((_, l) => !(rel[l]! <= opts.tol));
  log(`backend ${backend}, ${workers} worker${workers === 1 ? '' : 's'}; ${result.iters} probes in ${seconds.toFixed(1)} s (${(seconds / result.iters).toFixed(2)} s per probe), ` +
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
