// `bitswitch recalibrate FILE --data D`: each SubNet of a searched SuperNet gets BatchNorm
// statistics of its own (format 1.3, SPEC §7.2), measured on training images with its bits. A TBN
// set is shared by every SubNet that runs its pair of bits and its moving averages were learnt
// under whatever the other layers sampled, so for one SubNet they are stale; this step runs after
// `bitswitch search` and before `eval --subnets` or `pareto`. Weights are not touched.
import { resolve } from 'node:path';
import { writeModel, type Model, type SubNet } from '@bitswitch/format';
import { writeFileAtomic } from '@bitswitch/format/node';
import { DATASETS, loadDataset, reestimationImages, subnetBnStatisticsParallel, workerCount } from '@bitswitch/trainer';
import { parseNumber, readModelArg, type CommandLike } from '../options.ts';
import { reportFallThrough, startBackend } from '../backend.ts';

export interface RecalibrateOptions {
  data?: string;
  images?: string;
  batch?: string;
  seed?: string;
  subnets?: string;
  backend?: string;
  workers?: string;
  out?: string;
  inPlace?: boolean;
}

const DEFAULTS = { images: 4096, batch: 64, seed: 1 };

function positiveInt(raw: string | undefined, flag: string, dflt: number): number {
  if (raw === undefined) return dflt;
  const n = parseNumber(raw, flag);
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(`${flag}: expected an integer ≥ 1, got ${JSON.stringify(raw)}`);
  return n;
}

/** Measures and stores the statistics of every SubNet of `file` (those matching --subnets); returns the written model. */
export async function runRecalibrate(file: string, o: RecalibrateOptions, log: (line: string) => void = console.log): Promise<Model> {
  if (!o.data || !(DATASETS as readonly string[]).includes(o.data)) throw new RangeError(`--data: expected one of ${DATASETS.join(', ')}, got ${JSON.stringify(o.data)}`);
  if (!o.out && !o.inPlace) throw new RangeError('--out: expected a file to write (or --in-place to overwrite the model)');
  if (o.out && o.inPlace) throw new RangeError('--out: expected either --out or --in-place, not both');
  if (o.out && resolve(o.out) === resolve(file)) throw new RangeError(`--out: ${o.out} is the input model; pass --in-place to overwrite it`);
  const images = positiveInt(o.images, '--images', DEFAULTS.images);
  const batch = positiveInt(o.batch, '--batch', DEFAULTS.batch);
  const workers = workerCount(o.workers);
  const seed = o.seed === undefined ? DEFAULTS.seed : parseNumber(o.seed, '--seed');
  if (!Number.isInteger(seed)) throw new RangeError(`--seed: expected an integer, got ${JSON.stringify(o.seed)}`);
  let pattern: RegExp | undefined;
  if (o.subnets !== undefined) {
    try { pattern = new RegExp(o.subnets); } catch { throw new RangeError(`--subnets: expected a regular expression for SubNet names, got ${JSON.stringify(o.subnets)}`); }
  }
  const model = readModelArg(file);
  const chosen = (model.subnets ?? []).filter((s) => !pattern || pattern.test(s.name));
  if (!chosen.length) throw new RangeError(`${file}: holds no SubNets${pattern ? ` whose name matches ${pattern}` : ''} (bitswitch search writes them)`);
  const recorded = model.input?.dataset ?? (model.metadata?.dataset as string | undefined);
  if (recorded && recorded !== o.data) throw new RangeError(`--data: ${file} was trained on ${recorded}, got ${o.data}`);
  const ds = loadDataset(o.data);
  const indices = reestimationImages(ds.train, images, batch, seed);
  if (!indices.length) throw new RangeError(`--images: expected at least one batch of ${batch} training images, got ${images}`);
  const backend = await startBackend(o.backend);
  reportFallThrough(backend, log);
  const t0 = performance.now();
  const used = Math.min(workers, chosen.length);
  let finished = 0;
  const stats = await subnetBnStatisticsParallel({ backend: backend.name, model, data: o.data, images, batch, seed }, chosen.map((s) => s.bits), {
    workers: used,
    dataset: ds,
    done: (i) => log(`  ${++finished}/${chosen.length} ${chosen[i]!.name} [${chosen[i]!.bits}]`),
  });
  const measured = new Map(chosen.map((s, i) => [s.name, stats[i]!]));
  // a stored accuracy was measured with other statistics
  const subnets = model.subnets!.map((s): SubNet => {
    const bn = measured.get(s.name);
    if (!bn) return s;
    const { accuracy: _stale, ...rest } = s;
    return { ...rest, bn };
  });
  const out: Model = { ...model, subnets };
  const target = o.inPlace ? file : o.out!;
  writeFileAtomic(target, writeModel(out));
  log(`BatchNorm statistics of ${chosen.length} SubNet${chosen.length === 1 ? '' : 's'} from ${indices.length} ${o.data} training images (batches of ${batch}) in ${((performance.now() - t0) / 1000).toFixed(1)} s on ${used} worker${used === 1 ? '' : 's'}; wrote ${target}`);
  return out;
}

export function register(program: CommandLike): void {
  program.command('recalibrate')
    .description("gives each SubNet of a searched SuperNet its own BatchNorm statistics, measured on training images with the SubNet's bits (run after search, before eval --subnets or pareto)")
    .argument('<model>', 'a .bsw file with SubNets (bitswitch search writes them)')
    .requiredOption('--data <name>', `training data: ${DATASETS.join(' | ')}`)
    .option('--images <n>', 'training images measured (whole batches)', String(DEFAULTS.images))
    .option('--batch <n>', "images per batch: the SuperNet's training shard size (batch / shards)", String(DEFAULTS.batch))
    .option('--seed <n>', 'which training images (a fixed permutation per seed)', String(DEFAULTS.seed))
    .option('--subnets <regex>', 'only the SubNets whose name matches (default: all)')
    .option('--backend <name>', 'auto | tensorflow-gpu | tensorflow | webgpu | wasm | cpu', 'auto')
    .option('--workers <n>', 'threads measuring SubNets at once (default: every core)')
    .option('--out <file>', 'write the model with the statistics here (required unless --in-place)')
    .option('--in-place', 'overwrite <model> instead of writing --out')
    .action(async (model: string, opts: RecalibrateOptions) => { await runRecalibrate(model, opts); });
}
