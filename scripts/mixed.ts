// The mixed-precision stages of the reproduction (Hutchinson traces → HASB and uniform SuperNets →
// ILP sweep → every SubNet run by the runtime): the small summary.json that `pnpm reproduce` keeps for
// the commands that write none themselves (sensitivity, supernet, search, pareto) and the report's
// section on them (frontiers per sampler, mean ± spread over seeds).
import { existsSync, readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { readModel } from '@bitswitch/format';
import { costSpaceFromModel, renderSvg } from '@bitswitch/search';
import { subnetMetrics } from '@bitswitch/search/run';
import { loadDataset } from '@bitswitch/trainer';
import { flagValue, savedSummary } from './carry.ts';
import { signedPp } from './claims.ts';

/** Commands that draw a progress bar (and so take --no-progress). */
export const WITH_PROGRESS = ['train', 'pretrain', 'supernet'];

/** The backend a command reported on its first "backend NAME" line of the stage's log. */
function backendOf(dir: string): string {
  const log = join(dir, 'log.txt');
  const m = existsSync(log) ? /^backend (\S+?)[;,\s]/m.exec(readFileSync(log, 'utf8')) : null;
  return m?.[1] ?? 'unrecorded';
}

interface SupernetMeta {
  model: string;
  dataset: string;
  supernet: { sampling: string; seed: number; data: string } & Record<string, unknown>;
  history: { epoch: number; loss: number; sigmaE: number; seconds: number }[];
  accuracy: Record<string, number>;
  bitCounts: Record<string, Record<string, number>>;
  sourceMetadata?: { split?: string };
}

/** One point of a pareto stage's summary: a SubNet (or a uniform precision), its runtime accuracy and, where an eval stage ran before it, the trainer's. */
export interface SubnetPoint { name: string; bits: number[]; avgBits: number; bitops: number; accuracy: number; trainerAccuracy?: number }

/** What reproduce keeps (results/checkpoints/STAGE.summary.json) of a pareto stage. */
export interface ParetoSummary {
  command: 'pareto';
  recipe: { model: string; data: string; sampling: string; seed: number } & Record<string, unknown>;
  split: string;
  /** Test images each SubNet was run on (the full test split unless the stage passed --limit). */
  testImages: number;
  /** Where the SuperNet was trained (the SubNets run on the runtime's integer kernels). */
  backend: string;
  workers: number;
  /** The SuperNet's training time. */
  seconds: number;
  /** The trainer's fake-quant accuracy of the SuperNet at each uniform precision (test split). */
  accuracy: Record<string, number>;
  points: SubnetPoint[];
  /** Names of the points on the runtime frontier (accuracy against average bits). */
  frontier: string[];
  /** 'per SubNet' when the evaluated SubNets carry their own BatchNorm statistics (bitswitch recalibrate); absent: the SuperNet's moving averages. */
  bnStatistics?: 'per SubNet';
}

/** Where a SuperNet was trained: carried from the supernet stage's summary through the search's to the pareto's. */
interface TrainedOn { backend: string; workers: number }

/**
 * summary.json of a finished stage whose command writes none (undefined for the others): the numbers
 * the report reads, from the files the command wrote. `args` has RUN already replaced; `upstream` are
 * the summaries of the stages it runs after.
 */
export function summarize(args: readonly string[], dir: string, wallSeconds: number, upstream: readonly Record<string, unknown>[] = []): object | undefined {
  const command = args[0];
  // wall time unknown (a stage finished before a stop and summarized later) is left out
  const base = { command, ...(Number.isFinite(wallSeconds) ? { wallSeconds: Number(wallSeconds.toFixed(1)) } : {}), workers: Number(flagValue(args, '--workers') ?? cpus().length) };
  if (command === 'sensitivity') {
    const m = readModel(readFileSync(flagValue(args, '--out')!));
    return {
      ...base, backend: backendOf(dir), images: Number(flagValue(args, '--images') ?? 1000),
      layers: m.sensitivity!.map((s) => ({ layer: s.layer, hessianTrace: s.hessianTrace, stdErr: s.hessianTraceStdErr, probes: s.probes, params: s.params, macs: s.macs })),
    };
  }
  if (command === 'supernet') {
    const meta = readModel(readFileSync(flagValue(args, '--out')!)).metadata as unknown as SupernetMeta;
    return {
      ...base, backend: backendOf(dir), recipe: { model: meta.model, ...meta.supernet },
      seconds: Number(meta.history.reduce((a, h) => a + h.seconds, 0).toFixed(1)), accuracy: meta.accuracy,
      history: meta.history.map(({ epoch, loss, sigmaE, seconds }) => ({ epoch, loss, sigmaE, seconds })), bitCounts: meta.bitCounts,
    };
  }
  if (command === 'search') {
    const m = readModel(readFileSync(flagValue(args, '--out') ?? args[1]));
    return { ...base, budget: flagValue(args, '--budget'), subnets: m.subnets?.length ?? 0, trainedOn: trainedOn(upstream) };
  }
  if (command === 'recalibrate') {
    const m = readModel(readFileSync(flagValue(args, '--out') ?? args[1]));
    // the SubNets this command measured: those --subnets names (every one without it)
    const named = flagValue(args, '--subnets');
    const pattern = named === undefined ? undefined : new RegExp(named);
    const subnets = m.subnets?.filter((s) => s.bn && (!pattern || pattern.test(s.name))).length ?? 0;
    // one thread a SubNet at most
    return { ...base, workers: Math.min(base.workers, subnets), images: Number(flagValue(args, '--images') ?? 4096), subnets, trainedOn: trainedOn(upstream) };
  }
  if (command === 'eval') {
    // the trainer's (fake-quant) accuracy of every SubNet of the searched file, for the pareto stage after it
    const r = JSON.parse(readFileSync(flagValue(args, '--json')!, 'utf8')) as { testImages: number; math: string; accuracy: Record<string, number> };
    return { ...base, math: r.math, testImages: r.testImages, accuracy: r.accuracy, trainedOn: trainedOn(upstream) };
  }
  if (command === 'pareto') {
    const trainer = upstream.find((u) => u.command === 'eval')?.accuracy as Record<string, number> | undefined;
    return paretoSummary(args, base, trainedOn(upstream), trainer);
  }
  return undefined;
}

/** The training backend and workers of the SuperNet upstream (a supernet summary, or a search summary that carries them). */
function trainedOn(upstream: readonly Record<string, unknown>[]): TrainedOn {
  for (const u of upstream) {
    if (u.command === 'supernet') return { backend: String(u.backend), workers: Number(u.workers) };
    if (u.trainedOn) return u.trainedOn as TrainedOn;
  }
  return { backend: 'unrecorded', workers: 0 };
}

function paretoSummary(args: readonly string[], base: { command: string; wallSeconds?: number }, trained: TrainedOn, trainer?: Record<string, number>): ParetoSummary & { wallSeconds?: number } {
  const model = readModel(readFileSync(args[1]));
  const meta = model.metadata as unknown as SupernetMeta;
  const result = JSON.parse(readFileSync(flagValue(args, '--json')!, 'utf8')) as { x: string; series: { points: { name: string; bits: number[]; accuracy: number }[]; frontier: { name: string }[] }[] };
  const [series] = result.series;
  const space = costSpaceFromModel(model);
  const limit = flagValue(args, '--limit');
  const data = flagValue(args, '--data')!;
  return {
    ...base, command: 'pareto', ...trained,
    recipe: { model: meta.model, ...meta.supernet },
    split: meta.sourceMetadata?.split ?? 'unrecorded',
    testImages: limit === undefined ? loadDataset(data).test.count : Number(limit),
    seconds: Number(meta.history.reduce((a, h) => a + h.seconds, 0).toFixed(1)),
    accuracy: meta.accuracy,
    points: series.points.map((p) => {
      const m = subnetMetrics(space, p.bits);
      const t = trainer?.[p.name] ?? trainer?.[uniformName(p.bits)];
      return { name: p.name, bits: p.bits, avgBits: Number(m['avg-bits'].toFixed(4)), bitops: m.bitops, accuracy: p.accuracy, ...(t === undefined ? {} : { trainerAccuracy: t }) };
    }),
    frontier: series.frontier.map((p) => p.name),
    ...(model.subnets?.some((s) => s.bn) ? { bnStatistics: 'per SubNet' as const } : {}),
  };
}

/** A summary as JSON text, one SubNet point per line (a sweep has a few hundred). */
export function summaryText(summary: object): string {
  const { points, ...rest } = summary as { points?: unknown[] };
  const head = JSON.stringify(rest, null, 1);
  if (!points) return head + '\n';
  return `${head.slice(0, -2)},\n "points": [\n${points.map((p) => `  ${JSON.stringify(p)}`).join(',\n')}\n ]\n}\n`;
}

// ---- the report section ------------------------------------------------------------------------

interface Stage { name: string; args: string[] }

const pp = (x: number) => (100 * x).toFixed(2);

/** "mean ± half-range (n)" in %, one value alone, '—' for none. */
export function spreadPct(values: readonly number[]): string {
  if (!values.length) return '—';
  const mean = values.reduce((a, v) => a + v, 0) / values.length;
  if (values.length === 1) return pp(mean);
  return `${pp(mean)} ± ${pp((Math.max(...values) - Math.min(...values)) / 2)} (${values.length})`;
}

/** 'w4a4' for bits all 4 (the eval command's name of a uniform precision), '' for mixed bits. */
function uniformName(bits: readonly number[]): string {
  return bits.every((b) => b === bits[0]) ? `w${bits[0]}a${bits[0]}` : '';
}

/** Best accuracy among the points within `budget` average bits (the frontier read at the budget); undefined if none fits. */
export function bestWithin(points: readonly SubnetPoint[], budget: number): number | undefined {
  let best: number | undefined;
  for (const p of points) if (p.avgBits <= budget + 1e-9 && (best === undefined || p.accuracy > best)) best = p.accuracy;
  return best;
}

/** The cap V of an unpinned sweep SubNet's name avg-bits<=V; undefined for pinned ones (avg-bits<=V/layer@b). */
function capOf(name: string): number | undefined {
  const m = /^avg-bits<=([\d.]+)$/.exec(name);
  return m ? Number(m[1]) : undefined;
}

/** The swept average-bit caps of the runs (SubNet names avg-bits<=V), ascending. */
export function sweptBudgets(runs: readonly { points: readonly SubnetPoint[] }[]): number[] {
  const caps = new Set<number>();
  for (const r of runs) for (const p of r.points) {
    const cap = capOf(p.name);
    if (cap !== undefined) caps.add(cap);
  }
  return [...caps].sort((a, b) => a - b);
}

export type Verdict = 'HASB' | 'uniform' | 'within spread';

/** Per budget: HASB − uniform for each seed both samplers have; the verdict is a side only when every seed agrees. */
export function compare(hasb: Map<number, ParetoSummary>, uniform: Map<number, ParetoSummary>, budgets: readonly number[]) {
  const seeds = [...hasb.keys()].filter((s) => uniform.has(s)).sort((a, b) => a - b);
  return budgets.map((budget) => {
    const deltas: number[] = [];
    for (const s of seeds) {
      const h = bestWithin(hasb.get(s)!.points, budget);
      const u = bestWithin(uniform.get(s)!.points, budget);
      if (h !== undefined && u !== undefined) deltas.push(h - u);
    }
    const verdict: Verdict = deltas.length && deltas.every((d) => d > 0) ? 'HASB' : deltas.length && deltas.every((d) => d < 0) ? 'uniform' : 'within spread';
    return { budget, deltas, verdict };
  });
}

/**
 * The plain answer to "HASB + ILP beats uniform sampling" from the per-budget verdicts: a side wins
 * when every seed favours it at more than half of the budgets and the other side at none. Beside it,
 * for the reader and not part of the rule: each seed's Δ averaged over the budgets every seed has.
 */
export function claimVerdict(rows: readonly { deltas: number[]; verdict: Verdict }[], seeds: number): string {
  const measured = rows.filter((r) => r.deltas.length);
  if (!measured.length) return 'not run yet';
  const h = measured.filter((r) => r.verdict === 'HASB').length;
  const u = measured.filter((r) => r.verdict === 'uniform').length;
  const full = measured.filter((r) => r.deltas.length === seeds);
  const perSeed = full.length ? Array.from({ length: seeds }, (_, j) => full.reduce((a, r) => a + r.deltas[j]!, 0) / full.length) : [];
  const averaged = perSeed.length ? `; Δ averaged over ${full.length} budgets, each seed: ${perSeed.map(signedPp).join(', ')} pp` : '';
  const counts = `every seed favours HASB at ${h} of ${measured.length} budgets, uniform sampling at ${u}${averaged}`;
  if (seeds < 2) return `not decided: one seed pair only (${counts})`;
  if (u === 0 && h * 2 > measured.length) return `holds (${counts}; ${seeds} seeds)`;
  if (h === 0 && u * 2 > measured.length) return `does not hold: uniform sampling is better (${counts}; ${seeds} seeds)`;
  const lean = h === 0 && u > 0 ? 'uniform sampling leads on every seed at some budgets and HASB at none, but at too few budgets for a verdict'
    : u === 0 && h > 0 ? 'HASB leads on every seed at some budgets and uniform sampling at none, but at too few budgets for a verdict'
      : 'the difference is within the seed spread';
  return `not shown: ${lean} (${counts}; ${seeds} seeds)`;
}

function frontierSpec(rows: { sampler: string; budget: number; mean: number; lo: number; hi: number; n: number }[]) {
  const x = { field: 'budget', type: 'quantitative', title: 'average bit-width cap (per layer)', scale: { zero: false } };
  const color = { field: 'sampler', type: 'nominal', title: null };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'ResNet-8, Fashion-MNIST: best SubNet within each budget (runtime, mean and min–max over seeds)',
    width: 420, height: 260,
    data: { values: rows },
    layer: [
      { mark: { type: 'area', opacity: 0.2 }, encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color } },
      {
        mark: { type: 'line', point: true },
        encoding: { x, y: { field: 'mean', type: 'quantitative', title: 'top-1 accuracy (test split)', axis: { format: '.1%' }, scale: { zero: false } }, color },
      },
    ],
  } as Parameters<typeof renderSvg>[0];
}

/** The SubNet the unpinned ILP chose at `budget` (named avg-bits<=V), if the sweep has that cap. */
export function ilpPick(points: readonly SubnetPoint[], budget: number): SubnetPoint | undefined {
  return points.find((p) => { const cap = capOf(p.name); return cap !== undefined && Math.abs(cap - budget) < 1e-9; });
}

/**
 * The ILP's own pick at each cap with its accuracy by the runtime and by the trainer, and how often it is
 * also the best SubNet evaluated within its cap (the rest of the frontier comes from pinned ILPs).
 */
function ilpPickTable(bySampler: Map<string, Map<number, ParetoSummary>>, budgets: readonly number[]): string[] {
  const runs = (sampler: string) => [...(bySampler.get(sampler) ?? new Map<number, ParetoSummary>()).values()];
  const all = [...bySampler.values()].flatMap((m) => [...m.values()]);
  const picks = (sampler: string, budget: number) => runs(sampler).map((r) => ilpPick(r.points, budget)).filter((p): p is SubnetPoint => !!p);
  const cell = (sampler: string, budget: number) => {
    const ps = picks(sampler, budget);
    const trainer = ps.map((p) => p.trainerAccuracy).filter((v): v is number => v !== undefined);
    return `${spreadPct(ps.map((p) => p.accuracy))} / ${spreadPct(trainer)}`;
  };
  const bitsCell = (budget: number) => {
    const distinct = new Set(all.map((r) => ilpPick(r.points, budget)).filter((p): p is SubnetPoint => !!p).map((p) => `[${p.bits.join(',')}]`));
    return distinct.size === 1 ? [...distinct][0] : distinct.size ? 'differs by SuperNet' : '—';
  };
  let pairs = 0, best = 0;
  for (const r of all) for (const b of budgets) {
    const p = ilpPick(r.points, b);
    if (!p) continue;
    pairs++;
    if (p.accuracy >= (bestWithin(r.points, b) ?? -1)) best++;
  }
  return [
    'The ILP\'s own pick at each cap (the SubNet named avg-bits<=V, no layer pinned): its bits per layer and its accuracy',
    '(%) by the runtime / by the trainer (fake-quant, `bitswitch eval --subnets` on the searched file), mean ± half-range',
    `over seeds (count). It is also the best SubNet evaluated within its cap at ${best} of ${pairs} (SuperNet, cap) pairs; at`,
    'the others a SubNet from a pinned ILP (one layer held at one bit-width) does better on the test split.',
    '',
    '| avg bits ≤ | bits per layer | HASB | uniform |',
    '|---|---|---|---|',
    ...budgets.map((b) => `| ${b.toFixed(2)} | ${bitsCell(b)} | ${cell('hasb', b)} | ${cell('uniform', b)} |`),
    '',
  ];
}

export const FRONTIER_PLOT = 'results/curves/mixed-precision-frontier.svg';

/** The report's mixed-precision section and its plot (none until a pareto stage has finished); `claim` is the one-line answer. */
export async function mixedSection(root: string, stages: readonly Stage[]): Promise<{ lines: string[]; plots: Record<string, string>; claim: string }> {
  // pareto stages on a recalibrated file (SubNet BatchNorm statistics) are reported apart
  const recalibrated = stages.filter((s) => s.args[0] === 'recalibrate').map((s) => `runs/reproduce/${s.name}/`);
  const onRecalibrated = (s: Stage) => recalibrated.some((r) => s.args[1]?.startsWith(r));
  const allPareto = stages.filter((s) => s.args[0] === 'pareto');
  const pareto = allPareto.filter((s) => !onRecalibrated(s));
  const done = pareto.map((s) => ({ stage: s.name, summary: savedSummary<ParetoSummary>(root, s.name) }));
  const runs = done.filter((d): d is { stage: string; summary: ParetoSummary } => !!d.summary);
  const recalStages = allPareto.filter(onRecalibrated);
  const bySampler = bySamplerAndSeed(runs.map((r) => r.summary));
  const sens = stages.filter((s) => s.args[0] === 'sensitivity').map((s) => savedSummary<{ layers: { layer: string; hessianTrace: number; stdErr?: number; probes?: number; params: number }[]; images: number; wallSeconds?: number }>(root, s.name)).find(Boolean);
  const lines: string[] = [
    'Hutchinson traces of the joint ResNet-8 ({8,6,4,2}, ALRS code form, seed 1), then for each seed a HASB and a',
    'uniform-sampling SuperNet (Algorithm A.3, same recipe, seed, data order and augmentation; only the sampling',
    'differs), an ILP sweep (Algorithm 2, perturbation objective) on each SuperNet, and every SubNet run by the',
    'runtime\'s integer kernels on the test split. The small 3-layer run before this one is in',
    '[pareto/README.md](pareto/README.md).',
    '',
  ];
  if (sens) {
    lines.push(`Sensitivity (${sens.images} training images${sens.wallSeconds === undefined ? '' : `, ${(sens.wallSeconds / 60).toFixed(1)} min`}): tr(H) ± standard error per layer, and per parameter.`, '',
      '| layer | tr(H) | per parameter | probes |', '|---|---|---|---|',
      ...sens.layers.map((l) => `| ${l.layer} | ${l.hessianTrace.toExponential(3)} ± ${l.stdErr?.toExponential(2) ?? '—'} | ${(l.hessianTrace / l.params).toExponential(3)} | ${l.probes ?? '—'} |`), '');
  } else lines.push('Sensitivity: not run yet.', '');
  if (!runs.length) {
    lines.push('SubNet evaluations: not run yet (no pareto stage has finished).', '');
    return { lines, plots: {}, claim: 'not run yet' };
  }
  const pending = done.filter((d) => !d.summary).map((d) => d.stage);
  const budgets = sweptBudgets(runs.map((r) => r.summary));
  const samplers = ['hasb', 'uniform'].filter((s) => bySampler.has(s));
  const test = [...new Set(runs.map((r) => r.summary.testImages))].join(' / ');
  lines.push(
    `SubNet evaluations done: ${runs.length} of ${pareto.length}${pending.length ? ` (not run yet: ${pending.join(', ')})` : ''}; ${test} test images each.`,
    '',
    'Best runtime accuracy (%) among each SuperNet\'s SubNets within each average-bit cap (the frontier read at the',
    'cap), mean ± half-range over seeds (count); Δ is HASB − uniform for the same seed: mean ± half-range (each seed).',
    '',
  );
  const series = (sampler: string, budget: number) => [...(bySampler.get(sampler) ?? new Map()).values()]
    .map((r: ParetoSummary) => bestWithin(r.points, budget)).filter((v): v is number => v !== undefined);
  const rows = compare(bySampler.get('hasb') ?? new Map(), bySampler.get('uniform') ?? new Map(), budgets);
  lines.push(
    '| avg bits ≤ | HASB | uniform | Δ (pp) | every seed favours |',
    '|---|---|---|---|---|',
    ...rows.map((r) => {
      const mean = r.deltas.reduce((a, x) => a + x, 0) / r.deltas.length;
      const d = r.deltas.length === 0 ? '—' : r.deltas.length === 1 ? signedPp(mean)
        : `${signedPp(mean)} ± ${pp((Math.max(...r.deltas) - Math.min(...r.deltas)) / 2)} (${r.deltas.map(signedPp).join(', ')})`;
      return `| ${r.budget.toFixed(2)} | ${spreadPct(series('hasb', r.budget))} | ${spreadPct(series('uniform', r.budget))} | ${d} | ${r.deltas.length ? r.verdict : '—'} |`;
    }),
    '',
  );
  lines.push(...ilpPickTable(bySampler, budgets));
  lines.push(
    'The SuperNets at uniform precision: trainer (fake-quant) / runtime (integer kernels), %, mean ± half-range over seeds.',
    '',
    '| sampler | seeds | w8a8 | w6a6 | w4a4 | w2a2 | training time per seed |',
    '|---|---|---|---|---|---|---|',
    ...samplers.map((s) => {
      const rs = [...bySampler.get(s)!.values()];
      const cell = (k: string) => `${spreadPct(rs.map((r) => r.accuracy[k]).filter((v) => v !== undefined))} / ${spreadPct(rs.map((r) => r.points.find((p) => p.bits.every((b) => `w${b}a${b}` === k))?.accuracy).filter((v): v is number => v !== undefined))}`;
      return `| ${s} | ${[...bySampler.get(s)!.keys()].sort().join(', ')} | ${['w8a8', 'w6a6', 'w4a4', 'w2a2'].map(cell).join(' | ')} | ${(rs.reduce((a, r) => a + r.seconds, 0) / rs.length / 3600).toFixed(2)} h |`;
    }),
    '',
  );
  const seeds = rows.reduce((a, r) => Math.max(a, r.deltas.length), 0);
  const claim = claimVerdict(rows, seeds);
  const plotRows = samplers.flatMap((sampler) => budgets.flatMap((budget) => {
    const v = series(sampler, budget);
    return v.length ? [{ sampler: sampler === 'hasb' ? 'HASB' : 'uniform sampling', budget, mean: v.reduce((a, x) => a + x, 0) / v.length, lo: Math.min(...v), hi: Math.max(...v), n: v.length }] : [];
  }));
  const plots = { [FRONTIER_PLOT]: await renderSvg(frontierSpec(plotRows)) };
  lines.push(`![${FRONTIER_PLOT}](${FRONTIER_PLOT.replace('results/', '')})`, '', `**HASB + ILP beats uniform sampling: ${claim}.** A side is named at a cap only when every seed agrees.`, '');
  if (!recalStages.length) return { lines, plots, claim };
  const recal = recalSection(root, recalStages, bySampler, budgets);
  lines.push(...recal.lines);
  return { lines, plots, claim: `${claim}. With each ILP pick's own BatchNorm statistics (bitswitch recalibrate): ${recal.claim}` };
}

/** Pareto summaries by sampler, then by seed. */
function bySamplerAndSeed(runs: readonly ParetoSummary[]): Map<string, Map<number, ParetoSummary>> {
  const out = new Map<string, Map<number, ParetoSummary>>();
  for (const r of runs) {
    const m = out.get(r.recipe.sampling) ?? new Map<number, ParetoSummary>();
    m.set(r.recipe.seed, r);
    out.set(r.recipe.sampling, m);
  }
  return out;
}

/** An unpinned ILP pick (avg-bits<=V) or a uniform precision: the points a --sweep-only pareto stage evaluates. */
const sweepPoint = (p: SubnetPoint) => capOf(p.name) !== undefined || /^w\d+a\d+$/.test(p.name);

/**
 * The ILP picks run with their own BatchNorm statistics (recalibrate → eval → pareto --sweep-only),
 * beside the same picks with the SuperNets' moving averages (from the pareto stages above), and the
 * HASB-against-uniform comparison on them.
 */
function recalSection(root: string, stages: readonly Stage[], movingBySampler: Map<string, Map<number, ParetoSummary>>, budgets: readonly number[]): { lines: string[]; claim: string } {
  const done = stages.map((s) => ({ stage: s.name, summary: savedSummary<ParetoSummary>(root, s.name) }));
  const runs = done.filter((d): d is { stage: string; summary: ParetoSummary } => !!d.summary).map((d) => d.summary);
  const pending = done.filter((d) => !d.summary).map((d) => d.stage);
  const lines = [
    '### SubNet BatchNorm statistics',
    '',
    'A transitional BatchNorm set serves every SubNet that runs its pair of bits, and its moving averages were',
    'learnt while the other layers ran whatever the sampler drew; for one SubNet they are stale, the more so for',
    "pairs the sampler rarely drew. `bitswitch recalibrate` measures each ILP pick's statistics with its own bits",
    '(4,096 training images, batches of 64, weights untouched; format 1.3 stores them in the SubNet), and',
    '`eval --subnets` and `pareto --sweep-only` then run the picks with them.',
    '',
    `Recalibrated runs done: ${runs.length} of ${stages.length}${pending.length ? ` (not run yet: ${pending.join(', ')})` : ''}.`,
    '',
  ];
  if (!runs.length) return { lines, claim: 'not run yet' };
  const bySampler = bySamplerAndSeed(runs);
  // the moving-average runs restricted to the same points, for a like-for-like column
  const movingPicks = new Map([...movingBySampler].map(([s, m]) => [s, new Map([...m].map(([seed, r]) => [seed, { ...r, points: r.points.filter(sweepPoint) }]))]));
  const best = (by: Map<string, Map<number, ParetoSummary>>, sampler: string, budget: number, seeds: readonly number[]) =>
    seeds.map((s) => by.get(sampler)?.get(s)).filter((r): r is ParetoSummary => !!r).map((r) => bestWithin(r.points, budget)).filter((v): v is number => v !== undefined);
  const seedsOf = (sampler: string) => [...(bySampler.get(sampler)?.keys() ?? [])].sort((a, b) => a - b);
  const rows = compare(bySampler.get('hasb') ?? new Map(), bySampler.get('uniform') ?? new Map(), budgets);
  const movingRows = compare(movingPicks.get('hasb') ?? new Map(), movingPicks.get('uniform') ?? new Map(), budgets);
  lines.push(
    'Best ILP pick within each cap, runtime accuracy (%) on the test split, mean ± half-range over the seeds recalibrated so',
    "far (count): the SuperNet's moving averages → the pick's own statistics; Δ is HASB − uniform with the pick's own",
    'statistics for the same seed (each seed), then the same with the moving averages.',
    '',
    '| avg bits ≤ | HASB | uniform | Δ own statistics (pp) | every seed favours | Δ moving averages (pp) |',
    '|---|---|---|---|---|---|',
    ...rows.map((r, i) => {
      const cell = (sampler: string) => `${spreadPct(best(movingPicks, sampler, r.budget, seedsOf(sampler)))} → ${spreadPct(best(bySampler, sampler, r.budget, seedsOf(sampler)))}`;
      const m = movingRows[i]!;
      const ds = (d: number[]) => (d.length ? `${signedPp(d.reduce((a, x) => a + x, 0) / d.length)} (${d.map(signedPp).join(', ')})` : '—');
      return `| ${r.budget.toFixed(2)} | ${cell('hasb')} | ${cell('uniform')} | ${ds(r.deltas)} | ${r.deltas.length ? r.verdict : '—'} | ${ds(m.deltas.slice(0, r.deltas.length))} |`;
    }),
    '',
  );
  const seeds = rows.reduce((a, r) => Math.max(a, r.deltas.length), 0);
  const claim = claimVerdict(rows, seeds);
  lines.push(`**HASB + ILP beats uniform sampling, each ILP pick with its own BatchNorm statistics: ${claim}.**`, '');
  return { lines, claim };
}
