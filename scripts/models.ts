// Published models: models/NAME.bsw with a machine-readable card (NAME.card.json) and a readable
// one (NAME.md). `publish` turns a finished training run into them, evaluating the exported file
// with the runtime (integer kernels) on the full test split beside the trainer's fake-quant
// accuracy; `check` evaluates every committed file again and fails where a count of correct
// predictions differs from its card (the runtime is deterministic, so equal means equal).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { readModel, quantizedLayers, subnetPrecision, writeModel, type Model } from '@bitswitch/format';
import { createRuntime } from '@bitswitch/runtime';
import { inputDescriptor, loadDataset, makeBatch, NO_AUGMENT, Rng } from '@bitswitch/trainer';

/** Correct predictions on the full test split, and among the SUBSET images the quick check runs. */
export interface RuntimeAccuracy { correct: number; total: number; correctInSubset: number }

/** Images of the test split the quick check (`--check --quick`, in CI) runs. */
export const SUBSET = 1000;

/**
 * Which SUBSET test images the quick check runs: 'first' (cards without a `subset` field), or 'spread',
 * every (count / SUBSET)-th image, so that a split stored class by class (Fashion-MNIST's) gives
 * every class its share instead of one class.
 */
export type Subset = 'first' | 'spread';

/** Indices of the quick check's images in a test split of `count` images. */
export function subsetIndices(count: number, subset: Subset): number[] {
  const n = Math.min(SUBSET, count);
  const stride = subset === 'spread' ? Math.floor(count / n) : 1;
  return Array.from({ length: n }, (_, i) => i * stride);
}

export interface Card {
  name: string;
  /** The model file, beside the card. */
  file: string;
  sha256: string;
  model: string;
  data: string;
  split: string;
  bits: number[];
  /** Fake-quant accuracy in the trainer at the end of training (test split), by precision name. */
  trainer: Record<string, number>;
  /** The exported file run by the runtime's integer kernels on the full test split, by precision name. */
  runtime: Record<string, RuntimeAccuracy>;
  /** The quick check's images (correctInSubset); absent: 'first'. */
  subset?: Subset;
  /** A SuperNet's mixed SubNets on its runtime frontier (bits per quantized layer), cheapest first, run the same way, by SubNet name. */
  subnets?: Record<string, RuntimeAccuracy & { bits: number[] }>;
  recipe: unknown;
  command: string;
  commit: string;
  machine: string;
  backend: string;
  workers: number;
  trainSeconds: number;
  date: string;
}

/** Writes through a temporary file and a rename, so a killed run never leaves half a file; makes the folder. */
export function writeAtomic(file: string, data: string | Uint8Array): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(`${file}.tmp`, data);
  renameSync(`${file}.tmp`, file);
}
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');
const pct = (a: number) => `${(100 * a).toFixed(2)} %`;

export function commitOf(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

export const machine = () => `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'CPU'}, Node ${process.versions.node}, load ${loadavg().map((l) => l.toFixed(1)).join('/')}`;

/** A precision to run: one bit per quantized layer. */
export interface Precision { name: string; bits: number[] }

/** Every stored bit-width, the same at every quantized layer (w8a8, …). */
export const uniformPrecisions = (model: Model): Precision[] => model.bits.map((b) => ({ name: `w${b}a${b}`, bits: quantizedLayers(model).map(() => b) }));

export interface AccuracyOptions {
  /** Run only the quick check's images. */
  quick?: boolean;
  subset?: Subset;
  /** Default: every stored bit-width. */
  precisions?: Precision[];
}

/** Correct predictions of the file on the data set's test split (only the quick check's images if `quick`), at each precision. */
export async function runtimeAccuracy(bytes: Uint8Array, model: Model, data: string, options: AccuracyOptions = {}): Promise<Record<string, RuntimeAccuracy>> {
  const ds = loadDataset(data);
  const subset = subsetIndices(ds.test.count, options.subset ?? 'spread');
  const indices = options.quick ? subset : Array.from({ length: ds.test.count }, (_, i) => i);
  const inSubset = new Uint8Array(ds.test.count);
  for (const i of subset) inSubset[i] = 1;
  const count = indices.length;
  const { x, y } = makeBatch(ds, ds.test, Int32Array.from(indices), NO_AUGMENT, new Rng(0));
  const rt = await createRuntime(bytes);
  const per = x.length / count;
  const out: Record<string, RuntimeAccuracy> = {};
  for (const p of options.precisions ?? uniformPrecisions(model)) {
    rt.setPrecision(subnetPrecision(model, p));
    let correct = 0;
    let correctInSubset = 0;
    for (let start = 0; start < count; start += 250) {
      const n = Math.min(250, count - start);
      const predicted = rt.classify(x.subarray(start * per, (start + n) * per), n);
      for (let i = 0; i < n; i++) {
        if (predicted[i] !== y[start + i]) continue;
        correct++;
        if (inSubset[indices[start + i]]) correctInSubset++;
      }
    }
    out[p.name] = { correct, total: count, correctInSubset };
  }
  rt.dispose();
  return out;
}

interface RunSummary {
  recipe: { model: string; data: string } & Record<string, unknown>;
  backend: string;
  workers: number;
  seconds: number;
  accuracy: Record<string, number>;
  split?: string;
  /** A pareto stage's: every SubNet evaluated, and the names on its frontier. */
  points?: { name: string; bits: number[]; accuracy: number; avgBits: number }[];
  frontier?: string[];
  testImages?: number;
}

/** The mixed SubNets on the frontier, counted by the runtime; each must give the pareto stage's accuracy when that ran on the full split. */
async function frontierCounts(bytes: Uint8Array, model: Model, data: string, summary: RunSummary): Promise<Card['subnets']> {
  const chosen = summary.points!.filter((p) => summary.frontier!.includes(p.name) && !p.bits.every((b) => b === p.bits[0])).sort((a, b) => a.avgBits - b.avgBits);
  const got = await runtimeAccuracy(bytes, model, data, { precisions: chosen });
  const out: NonNullable<Card['subnets']> = {};
  for (const p of chosen) {
    const r = got[p.name];
    if (summary.testImages === r.total && r.correct / r.total !== p.accuracy) {
      throw new Error(`SubNet ${p.name}: the runtime gives ${r.correct}/${r.total}, the pareto stage ${p.accuracy} on the same images`);
    }
    out[p.name] = { bits: [...p.bits], ...r };
  }
  return out;
}

/** One file a finished stage publishes, as models/NAME.bsw. */
export interface Published { name: string; file: string }

/**
 * The files a finished stage (its folder holds summary.json) publishes under the plan's name NAME:
 * a pareto stage's input (the searched SuperNet); a separately trained run's one file per bit,
 * model-wB.bsw, as NAME-wB; any other train stage's model.bsw.
 */
export function publishedFiles(args: readonly string[], dir: string, name: string): Published[] {
  if (args[0] === 'pareto') return [{ name, file: args[1]! }];
  const { recipe } = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8')) as { recipe: { algorithm?: string; bits: number[] } };
  if (recipe.algorithm === 'separate') return recipe.bits.map((b) => ({ name: `${name}-w${b}`, file: join(dir, `model-w${b}.bsw`) }));
  return [{ name, file: join(dir, 'model.bsw') }];
}

/**
 * models/NAME.{bsw,card.json,md} from a finished run folder (summary.json in it) and its model file
 * (default: model.bsw in the folder). A SuperNet's summary lists its evaluated SubNets (a pareto
 * stage's, scripts/mixed.ts); those on the frontier are run again here on the full test split and
 * must give the pareto stage's accuracy.
 */
export async function publish(root: string, name: string, runDir: string, command: string, modelFile = join(runDir, 'model.bsw')): Promise<Card> {
  let bytes: Uint8Array = new Uint8Array(readFileSync(modelFile));
  const model = readModel(bytes);
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as RunSummary;
  const data = summary.recipe.data;
  // a published file says how to feed it (format 1.2 INPT); one exported before that gets it here, weights unchanged
  if (!model.input) {
    model.input = inputDescriptor(loadDataset(data));
    bytes = writeModel(model);
  }
  const subnets = summary.points && await frontierCounts(bytes, model, data, summary);
  const card: Card = {
    name, file: `${name}.bsw`, sha256: sha256(bytes), model: summary.recipe.model, data, split: String(model.metadata?.split ?? summary.split ?? 'unrecorded'), bits: [...model.bits],
    trainer: Object.fromEntries(Object.entries(summary.accuracy).filter(([k]) => model.bits.some((b) => k === `w${b}a${b}`))), runtime: await runtimeAccuracy(bytes, model, data), subset: 'spread', ...(subnets ? { subnets } : {}), recipe: summary.recipe, command,
    commit: commitOf(root), machine: machine(), backend: summary.backend, workers: summary.workers, trainSeconds: summary.seconds,
    date: new Date().toISOString(),
  };
  const dir = join(root, 'models');
  writeAtomic(join(dir, card.file), bytes);
  writeAtomic(join(dir, `${name}.card.json`), JSON.stringify(card, null, 2) + '\n');
  writeAtomic(join(dir, `${name}.md`), cardMarkdown(card));
  return card;
}

export function cardMarkdown(c: Card): string {
  const rows = c.bits.map((b) => {
    const k = `w${b}a${b}`;
    const r = c.runtime[k];
    return `| ${k} | ${c.trainer[k] === undefined ? '—' : pct(c.trainer[k])} | ${pct(r.correct / r.total)} (${r.correct} / ${r.total}) |`;
  });
  return [
    `# models/${c.file}`,
    '',
    c.subnets
      ? `${c.model} SuperNet (mixed precision, transitional BatchNorm) at ${c.bits.join('/')} bits on ${c.data}: one stored file, each quantized layer switched to any of these bits at load time.`
      : c.bits.length === 1
        ? `${c.model} trained alone at ${c.bits[0]} bits on ${c.data} (one of the separately trained per-bit models that joint training is compared with).`
        : `${c.model} trained jointly at ${c.bits.join('/')} bits on ${c.data}: one stored file, switched to any of these precisions at load time.`,
    '',
    '| field | value |',
    '|---|---|',
    `| model | ${c.model} |`,
    `| data | ${c.data} |`,
    `| split | ${c.split} |`,
    `| recipe | \`${JSON.stringify(c.recipe)}\` |`,
    `| command | \`${c.command}\` |`,
    `| training | ${(c.trainSeconds / 60).toFixed(1)} min, ${c.workers} workers, backend ${c.backend} (published ${c.date}) |`,
    `| evaluated on | ${c.machine} |`,
    `| commit | ${c.commit} |`,
    `| sha256 | \`${c.sha256}\` |`,
    '',
    '| precision | trainer (fake-quant, test split) | runtime (integer kernels, this file) |',
    '|---|---|---|',
    ...rows,
    '',
    ...(c.subnets ? [
      'Mixed-precision SubNets on the frontier (bits per quantized layer), runtime on the full test split:',
      '',
      '| SubNet | bits | runtime |',
      '|---|---|---|',
      ...Object.entries(c.subnets).map(([k, r]) => `| ${k} | ${r.bits.join(',')} | ${pct(r.correct / r.total)} (${r.correct} / ${r.total}) |`),
      '',
    ] : []),
    `\`pnpm reproduce --check\` runs this file again with the runtime and fails if a count differs.`,
    '',
  ].join('\n');
}

export function readCards(root: string): Card[] {
  const dir = join(root, 'models');
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.card.json')).sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Card);
}

/** SubNets the quick check runs: the first, middle and last of a card's frontier (the full check: all of them). */
export const QUICK_SUBNETS = 3;

function checkedSubnets(card: Card, quick: boolean): Precision[] {
  const all = Object.entries(card.subnets ?? {}).map(([name, r]) => ({ name, bits: r.bits }));
  if (!quick || all.length <= QUICK_SUBNETS) return all;
  return [...new Set([0, Math.floor((all.length - 1) / 2), all.length - 1])].map((i) => all[i]);
}

/** Re-evaluates every published model (on the card's SUBSET test images if `quick`); returns one line per mismatch. */
export async function check(root: string, quick: boolean, log: (line: string) => void): Promise<string[]> {
  const problems: string[] = [];
  for (const card of readCards(root)) {
    const file = join(root, 'models', card.file);
    if (!existsSync(file)) { problems.push(`models/${card.name}.card.json: file ${card.file} is missing`); continue; }
    const bytes = new Uint8Array(readFileSync(file));
    if (sha256(bytes) !== card.sha256) { problems.push(`models/${card.file}: sha256 differs from its card (${card.sha256.slice(0, 12)}…)`); continue; }
    const t0 = performance.now();
    const model = readModel(bytes);
    const subset = card.subset ?? 'first';
    const got = await runtimeAccuracy(bytes, model, card.data, { quick, subset });
    const subnets = checkedSubnets(card, quick);
    if (subnets.length) Object.assign(got, await runtimeAccuracy(bytes, model, card.data, { quick, subset, precisions: subnets }));
    for (const [k, want] of [...Object.entries(card.runtime), ...subnets.map((s) => [s.name, card.subnets![s.name]] as const)]) {
      const have = got[k];
      const [w, h] = quick ? [want.correctInSubset, have?.correctInSubset] : [want.correct, have?.correct];
      const n = quick ? Math.min(SUBSET, want.total) : want.total;
      if (!have || h !== w || have.total !== n) problems.push(`models/${card.file} ${k}: card says ${w}/${n}, runtime gives ${have ? `${h}/${have.total}` : 'nothing'}`);
    }
    log(`${basename(file)}: ${Object.entries(got).map(([k, v]) => `${k} ${v.correct}/${v.total}`).join(', ')} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
  }
  return problems;
}
