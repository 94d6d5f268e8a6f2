// Carrying `pnpm reproduce` stages between machines through commits: what results/checkpoints/
// keeps of each stage (saveStage) and how a fresh clone gets it back into runs/reproduce/
// (restoreStages). A running stage keeps its checkpoint (gzip) and small files; a finished one its
// small files and the outputs later stages read (products/NAME/FILE.gz), so it comes back as done.
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { writeAtomic } from './models.ts';

export interface Stage {
  name: string;
  /** The bitswitch command and its flags; RUN stands for the stage's run folder. */
  args: string[];
  /** Stages whose outputs this one reads (must be done first). */
  after?: string[];
  /** The file that marks the stage done, relative to its folder (default summary.json). */
  done?: string;
  /** Publish the stage's model.bsw as models/NAME.bsw with its card once the stage is done. */
  publish?: string;
}

/** Where a plan's stages run (RUNS/NAME) and what is committed of them (SAVED). */
export interface Carry { stages: Stage[]; runs: string; saved: string }

/** Small files of a stage kept beside its checkpoint in SAVED (NAME.FILE). */
export const SMALL_FILES = ['recipe.json', 'metrics.jsonl', 'init.json', 'summary.json', 'runs.jsonl'];

const folder = (c: Carry, s: Stage) => join(c.runs, s.name);
const products = (c: Carry) => join(c.saved, 'products');
export const stageDone = (c: Carry, s: Stage) => existsSync(join(folder(c, s), s.done ?? 'summary.json'));

/** Files of stage s that other stages read (their arguments name runs/reproduce/NAME/FILE), and its done marker. */
export function stageProducts(c: Carry, s: Stage): string[] {
  const prefix = `runs/reproduce/${s.name}/`;
  const out = new Set<string>([s.done ?? 'summary.json']);
  for (const t of c.stages) {
    for (const a of t.args) {
      const i = a.indexOf(prefix);
      if (i >= 0) out.add(a.slice(i + prefix.length));
    }
  }
  return [...out].filter((f) => !SMALL_FILES.includes(f));
}

/**
 * What SAVED holds of stage s: a checkpoint to continue from, the files of a finished stage (its
 * products, or for a stage whose done marker is its summary, that summary), or nothing.
 */
export function savedState(c: Carry, s: Stage): 'checkpoint' | 'finished' | undefined {
  if (existsSync(join(c.saved, `${s.name}.json.gz`))) return 'checkpoint';
  if (existsSync(join(products(c), s.name)) || (!s.done && existsSync(join(c.saved, `${s.name}.summary.json`)))) return 'finished';
  return undefined;
}

/**
 * Keeps in SAVED (atomic, replacing older copies) what carries a stage to another machine: a
 * running stage's checkpoint (gzip) and small files; a finished stage's small files and the
 * outputs other stages read, so a fresh clone restores it as done.
 */
export function saveStage(c: Carry, s: Stage): void {
  const dir = folder(c, s);
  if (!existsSync(dir)) return;
  mkdirSync(c.saved, { recursive: true });
  const ck = join(dir, 'checkpoint.json');
  const dst = join(c.saved, `${s.name}.json.gz`);
  // a finished stage needs no checkpoint to carry over: its log, summary and outputs are what stay
  if (stageDone(c, s)) {
    rmSync(dst, { force: true });
    for (const f of stageProducts(c, s)) {
      const src = join(dir, f);
      const out = join(products(c), s.name, `${f}.gz`);
      if (!existsSync(src) || (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs)) continue;
      mkdirSync(join(products(c), s.name), { recursive: true });
      writeAtomic(out, gzipSync(readFileSync(src), { level: 9 }));
    }
  } else if (existsSync(ck) && (!existsSync(dst) || statSync(dst).mtimeMs < statSync(ck).mtimeMs)) {
    writeAtomic(dst, gzipSync(readFileSync(ck), { level: 9 }));
  }
  for (const f of SMALL_FILES) if (existsSync(join(dir, f))) writeFileSync(join(c.saved, `${s.name}.${f}`), readFileSync(join(dir, f)));
}

/**
 * Writes a file restored from SAVED, dated at the Unix epoch: it is as old as the commit it came
 * from, so it is older than any card published from it, and a run that goes on rewrites it with a
 * fresh date.
 */
function writeRestored(file: string, bytes: Uint8Array): void {
  writeFileSync(file, bytes);
  utimesSync(file, new Date(), new Date(0));
}

/** The saved small files of stage NAME into dir. */
function restoreSmallFiles(c: Carry, name: string, dir: string): void {
  for (const f of SMALL_FILES) {
    const saved = join(c.saved, `${name}.${f}`);
    if (existsSync(saved)) writeRestored(join(dir, f), readFileSync(saved));
  }
}

/**
 * Unpacks SAVED into RUNS: each saved checkpoint unless the local one is as new, with its small
 * files; then each finished stage (products or, for stages without a done file of their own, a
 * saved summary) that is not done locally, its saved files replacing what an unfinished local
 * run left. Returns one line per stage restored.
 */
export function restoreStages(c: Carry): string[] {
  const lines: string[] = [];
  if (!existsSync(c.saved)) return lines;
  for (const f of readdirSync(c.saved).filter((n) => n.endsWith('.json.gz'))) {
    const name = f.slice(0, -'.json.gz'.length);
    const dir = join(c.runs, name);
    const ck = join(dir, 'checkpoint.json');
    if (existsSync(ck) && statSync(ck).mtimeMs >= statSync(join(c.saved, f)).mtimeMs) continue;
    mkdirSync(dir, { recursive: true });
    writeFileSync(ck, gunzipSync(readFileSync(join(c.saved, f))));
    restoreSmallFiles(c, name, dir);
    lines.push(`restored ${name} from results/checkpoints/${f}`);
  }
  for (const s of c.stages) {
    if (savedState(c, s) !== 'finished' || stageDone(c, s)) continue;
    const prod = join(products(c), s.name);
    const dir = folder(c, s);
    mkdirSync(dir, { recursive: true });
    if (existsSync(prod)) {
      for (const f of readdirSync(prod).filter((n) => n.endsWith('.gz'))) writeRestored(join(dir, f.slice(0, -'.gz'.length)), gunzipSync(readFileSync(join(prod, f))));
    }
    restoreSmallFiles(c, s.name, dir);
    lines.push(`restored ${s.name} (finished) from results/checkpoints/`);
  }
  return lines;
}

/** The value after flag `name` in a stage's arguments. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** A stage's committed summary (results/checkpoints/STAGE.summary.json), or undefined before it finished. */
export function savedSummary<T>(root: string, stage: string): T | undefined {
  const f = join(root, 'results/checkpoints', `${stage}.summary.json`);
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) as T : undefined;
}

/**
 * What is wrong with a plan before any stage runs, one line each: a stage waiting for one that is
 * not in the plan, or one that publishes a model its command does not write. `train` writes
 * .bsw files only for Double Rounding (the format stores int8 weights and derives the lower bits
 * from them): model.bsw when trained jointly, model-wB.bsw per bit when trained separately;
 * floor-based switching and separate scales per bit are evaluated in the trainer only.
 * `recipeOf` reads a --recipe file.
 */
export function planProblems(stages: readonly Stage[], recipeOf: (file: string) => Record<string, unknown>): string[] {
  const names = new Set(stages.map((s) => s.name));
  const out: string[] = [];
  for (const s of stages) {
    for (const a of s.after ?? []) if (!names.has(a)) out.push(`stage ${s.name}: after: expected a stage of this plan, got "${a}"`);
    if (!s.publish) continue;
    const command = s.args[0];
    if (command === 'pareto') continue;
    if (command !== 'train') { out.push(`stage ${s.name}: publish: expected a train or pareto stage (they write a .bsw), got "${command}"`); continue; }
    const recipeFile = flagValue(s.args, '--recipe');
    const recipe = recipeFile ? recipeOf(recipeFile) : {};
    const quantizer = flagValue(s.args, '--quantizer') ?? String(recipe.quantizer ?? 'double-rounding');
    const algorithm = flagValue(s.args, '--algorithm') ?? String(recipe.algorithm ?? 'a2');
    // separate training trains every network with Double Rounding whatever the quantizer says
    if (quantizer !== 'double-rounding' && algorithm !== 'separate') out.push(`stage ${s.name}: publish: expected --quantizer double-rounding (the only one a .bsw stores), got "${quantizer}"; drop publish`);
  }
  return out;
}
