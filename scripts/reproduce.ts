// `pnpm reproduce`: the paper's experiments as a list of stages (results/plan.json), each one
// bitswitch command with its own run folder under runs/reproduce/. Resumable: a finished stage
// (its summary.json exists) is skipped, an unfinished one is continued with --resume, so the runs
// can be stopped at any time and carried over sessions. A stage's checkpoint is compressed into
// results/checkpoints/ after every epoch so that a commit carries the run over to another machine;
// once it finishes, the checkpoint goes and the outputs later stages read (e.g. model-fp32.json)
// are kept compressed in results/checkpoints/products/, so `--restore` on a fresh clone brings the
// stage back as done instead of training it again.
//
//   pnpm reproduce                 run every pending stage in order (one at a time, every core)
//   pnpm reproduce --status        what is done, running or pending, with the last epoch of each
//   pnpm reproduce --only NAME     run one stage
//   pnpm reproduce --restore       unpack results/checkpoints/*.json.gz into runs/reproduce/ first
//   pnpm reproduce --save          compress every stage's current checkpoint (e.g. before a commit)
//                                  and write the report
//   pnpm reproduce --report        write results/REPORT.md and results/curves/*.svg from committed files
//   pnpm reproduce --check         run every published model (models/*.card.json) again with the
//                                  runtime and regenerate the report; exit 1 if a count of correct
//                                  predictions differs or the committed report is stale
//   pnpm reproduce --check --quick the same on the first 1,000 test images (CI)
//   pnpm reproduce --plan FILE ... use FILE instead of results/plan.json (e.g. a tiny plan to try a
//                                  chain of stages end to end: test/fixtures/reproduce-smoke-plan.json)
//
// A stage with `publish: NAME` copies its exported model.bsw to models/NAME.bsw when it finishes,
// with a card (NAME.card.json, NAME.md) holding the trainer's and the runtime's accuracies
// (scripts/models.ts); a pareto stage publishes the SuperNet it evaluated, with its frontier SubNets.
// Commands that write no summary.json of their own (sensitivity, supernet, search, pareto) get one
// from their outputs when they finish (scripts/mixed.ts), so every stage leaves a small summary in
// results/checkpoints/ and the large files other stages do not read stay in runs/.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { planProblems, restoreStages, saveStage, savedState, stageDone, type Carry, type Stage } from './carry.ts';
import { appendSegment, currentCommit, machine, parseRunInfo } from './segments.ts';
import { WITH_PROGRESS, summarize, summaryText } from './mixed.ts';
import { check, publish, publishedFiles, writeAtomic } from './models.ts';
import { buildReport } from './report.ts';

const root = new URL('..', import.meta.url).pathname;
const argv = process.argv.slice(2);
const planFile = argv.includes('--plan') ? resolve(argv[argv.indexOf('--plan') + 1] ?? '') : join(root, 'results/plan.json');
if (!existsSync(planFile)) {
  console.error(`reproduce: --plan: expected a plan file (JSON with a stages list), got ${JSON.stringify(argv[argv.indexOf('--plan') + 1])}`);
  process.exit(1);
}
const plan = JSON.parse(readFileSync(planFile, 'utf8')) as { stages: Stage[] };
const planErrors = planProblems(plan.stages, (f) => JSON.parse(readFileSync(resolve(root, f), 'utf8')) as Record<string, unknown>);
if (planErrors.length) {
  for (const e of planErrors) console.error(`reproduce: ${planFile}: ${e}`);
  process.exit(1);
}
const RUNS = join(root, 'runs/reproduce');
const SAVED = join(root, 'results/checkpoints');

const carry: Carry = { stages: plan.stages, runs: RUNS, saved: SAVED };
const folder = (s: Stage) => join(RUNS, s.name);
const isDone = (s: Stage) => stageDone(carry, s);
const started = (s: Stage) => existsSync(join(folder(s), 'checkpoint.json'));

function lastEpoch(s: Stage): string {
  const m = join(folder(s), 'metrics.jsonl');
  if (!existsSync(m)) return '';
  const lines = readFileSync(m, 'utf8').trim().split('\n');
  const e = JSON.parse(lines[lines.length - 1]) as { epoch: number; phase: string; accuracy: Record<string, number> };
  return `epoch ${e.epoch + 1} (${e.phase}): ${Object.entries(e.accuracy).map(([k, v]) => `${k} ${(100 * v).toFixed(2)}%`).join(', ')}`;
}

const stageArgs = (s: Stage) => s.args.map((a) => a.replaceAll('RUN', folder(s)));

function runStage(s: Stage): Promise<number> {
  mkdirSync(folder(s), { recursive: true });
  const args = stageArgs(s);
  if (started(s)) args.push('--resume');
  if (WITH_PROGRESS.includes(args[0])) args.push('--no-progress');
  console.log(`\n== ${s.name}: bitswitch ${args.join(' ')}`);
  const log = join(folder(s), 'log.txt');
  const t0 = performance.now();
  const startedAt = new Date().toISOString();
  const commit = currentCommit(root);
  let head = ''; // the start of the output, where the command names its backend and workers
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(root, 'cli/bin/bitswitch.mjs'), ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const tee = (d: Buffer) => {
      process.stdout.write(d);
      writeFileSync(log, d, { flag: 'a' });
      if (head.length < 4096) head += String(d);
      if (/^\s+\d+\s+(pretrain|quant)/m.test(String(d))) saveStage(carry, s);
    };
    child.stdout.on('data', tee);
    child.stderr.on('data', tee);
    const stop = () => child.kill('SIGINT');
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    child.on('close', (code) => {
      const seconds = (performance.now() - t0) / 1000;
      appendSegment(folder(s), {
        started: startedAt, seconds: Math.round(seconds), exit: code ?? 1, commit, command: `bitswitch ${args.join(' ').replaceAll(root, '')}`,
        machine: machine(), node: process.version, ...parseRunInfo(head),
      });
      if (code === 0) summarizeStage(s, seconds);
      saveStage(carry, s);
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve(code ?? 1);
    });
  });
}

/** summary.json for a finished stage whose command writes none; `seconds` is its wall time (undefined: unknown, e.g. resumed after a stop). */
function summarizeStage(s: Stage, seconds?: number): boolean {
  const file = join(folder(s), 'summary.json');
  if (!isDone(s) || existsSync(file)) return false;
  const upstream = (s.after ?? []).map((a) => join(RUNS, a, 'summary.json')).filter(existsSync).map((f) => JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>);
  const summary = summarize(stageArgs(s), folder(s), seconds ?? Number.NaN, upstream);
  if (summary) writeAtomic(file, summaryText(summary));
  return !!summary;
}

const command = (s: Stage) => `bitswitch ${s.args.join(' ').replaceAll('RUN', `runs/reproduce/${s.name}`)}`;

/**
 * Publishes a finished stage's model files, each unless its card is newer than the run's summary or
 * the run folder lacks the file: a stage restored on a fresh checkout has no model of its own, and
 * its committed card and models/ file are the only copy.
 */
async function publishStage(s: Stage): Promise<void> {
  if (!s.publish || !isDone(s)) return;
  const summaryTime = statSync(join(folder(s), 'summary.json')).mtimeMs;
  for (const p of publishedFiles(stageArgs(s), folder(s), s.publish)) {
    const card = join(root, 'models', `${p.name}.card.json`);
    if (existsSync(card) && (statSync(card).mtimeMs >= summaryTime || !existsSync(p.file))) continue;
    const c = await publish(root, p.name, folder(s), command(s), p.file);
    console.log(`published models/${c.file}: ${Object.entries(c.runtime).map(([k, v]) => `${k} ${(100 * v.correct / v.total).toFixed(2)}%`).join(', ')} (runtime)`);
  }
}

if (argv.includes('--check')) {
  const problems = await check(root, argv.includes('--quick'), (line) => console.log(line));
  const r = await buildReport(root, planFile);
  const committed = join(root, 'results/REPORT.md');
  if (!existsSync(committed) || readFileSync(committed, 'utf8') !== r.markdown) problems.push('results/REPORT.md: differs from what the committed logs and cards give — run pnpm reproduce --report');
  for (const p of Object.keys(r.plots)) if (!existsSync(join(root, p))) problems.push(`${p}: missing — run pnpm reproduce --report`);
  for (const p of problems) console.error(`reproduce --check: ${p}`);
  if (problems.length) process.exit(1);
  console.log('reproduce --check: every published model gives its card\'s accuracies');
  process.exit(0);
}
if (argv.includes('--restore')) for (const line of restoreStages(carry)) console.log(line);
if (argv.includes('--save') || argv.includes('--report')) {
  if (argv.includes('--save')) for (const s of plan.stages) saveStage(carry, s);
  const r = await buildReport(root, planFile);
  for (const [p, svg] of Object.entries(r.plots)) writeAtomic(join(root, p), svg);
  writeAtomic(join(root, 'results/REPORT.md'), r.markdown);
  console.log(`wrote results/REPORT.md and ${Object.keys(r.plots).length} plots`);
  process.exit(0);
}
if (argv.includes('--status')) {
  // a stage finished or saved in another checkout is in results/checkpoints/ but not unpacked here
  const state = (s: Stage) => {
    if (isDone(s)) return 'done';
    if (started(s)) return 'started';
    const saved = savedState(carry, s);
    return saved === 'finished' ? 'committed' : saved === 'checkpoint' ? 'saved' : 'pending';
  };
  const states = plan.stages.map(state);
  for (const [i, s] of plan.stages.entries()) console.log(`${s.name.padEnd(32)} ${states[i]!.padEnd(9)}  ${lastEpoch(s)}`);
  if (states.some((x) => x === 'committed' || x === 'saved')) {
    console.log('committed: finished in the commit, saved: a committed checkpoint; pnpm reproduce --restore unpacks both into runs/reproduce/');
  }
  process.exit(0);
}
const only = argv.includes('--only') ? argv[argv.indexOf('--only') + 1] : undefined;
if (only && !plan.stages.some((s) => s.name === only)) {
  console.error(`reproduce: --only: expected one of ${plan.stages.map((s) => s.name).join(', ')}, got ${JSON.stringify(only)}`);
  process.exit(1);
}
for (const s of plan.stages) {
  if (only && s.name !== only) continue;
  if (isDone(s)) {
    if (summarizeStage(s)) saveStage(carry, s);
    await publishStage(s);
    continue;
  }
  const missing = (s.after ?? []).filter((a) => !isDone(plan.stages.find((x) => x.name === a)!));
  if (missing.length) { console.log(`${s.name}: waits for ${missing.join(', ')}`); continue; }
  const code = await runStage(s);
  if (code !== 0) { console.error(`reproduce: stage ${s.name} stopped (exit ${code}); run pnpm reproduce again to continue it`); process.exit(code); }
  await publishStage(s);
}
