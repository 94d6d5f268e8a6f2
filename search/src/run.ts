// The search and Pareto runs on model files (what `bitswitch search` and `bitswitch pareto` do):
// read the model, solve or evaluate, write the SubNets, the plot and the points.
import { readFileSync } from 'node:fs';
import { extname } from 'node:path';
import { FormatError, subnetPrecision, type Model, type SubNet } from '@bitswitch/format';
import { readModelFile, writeFileAtomic, writeModelFile } from '@bitswitch/format/node';
import {
  BUDGET_KINDS, OBJECTIVES, budgetMetric, layerSensitivities, parseLatencyTable,
  type Budget, type BudgetKind, type LatencyTable, type ObjectiveKind, type SearchSpace,
} from './budget.ts';
import { costSpaceFromModel, searchSpaceFromModel } from './space.ts';
import { includesZero } from './sensitivity.ts';
import { parseBudgetSpec, sweepSubNets, type BudgetSweep, type SweepResult } from './sweep.ts';
import { paretoFrontier, paretoSpec, renderSvg, svgToHtml, type ParetoPoint, type ParetoSeries } from './pareto.ts';
import type { Evaluate } from './evaluate.ts';

/** Loads the runtime's per-layer latency table (JSON array of {layer, bits, ms}). */
export function readLatencyTable(path: string): LatencyTable {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RangeError(`--latency ${path}: expected a readable JSON file (${(e as Error).message})`);
  }
  return parseLatencyTable(json, path);
}

/** All budget metrics of a SubNet that the space can compute (latency only with a table). */
export function subnetMetrics(space: SearchSpace, bits: readonly number[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const kind of BUDGET_KINDS) {
    if (kind === 'latency' && !space.latency) continue;
    out[kind] = budgetMetric(space, kind, bits);
  }
  return out;
}

export interface SearchOptions {
  budget?: string[];
  latency?: string;
  objective?: string;
  band?: number;
  pin?: boolean;
  json?: string;
  out?: string;
}

/** --budget specs → the one swept budget (the only one with several values) and the fixed ones. */
export function planSweep(specs: readonly string[]): { sweep: BudgetSweep; fixed: Budget[] } {
  if (specs.length === 0) throw new RangeError(`--budget: expected at least one KIND=VALUES (KIND one of ${BUDGET_KINDS.join(', ')})`);
  const parsed = specs.map(parseBudgetSpec);
  const swept = parsed.filter((p) => p.values.length > 1);
  if (swept.length > 1) throw new RangeError(`--budget: expected at most one range to sweep, got ${swept.map((p) => p.kind).join(' and ')}`);
  const kinds = parsed.map((p) => p.kind);
  const dup = kinds.find((k, i) => kinds.indexOf(k) !== i);
  if (dup) throw new RangeError(`--budget: ${dup} given twice`);
  const main = swept[0] ?? parsed[0];
  return {
    sweep: { kind: main.kind, values: main.values },
    fixed: parsed.filter((p) => p !== main).map((p) => ({ kind: p.kind, max: p.values[0] })),
  };
}

function checkObjective(name: string | undefined): ObjectiveKind {
  const objective = (name ?? 'perturbation') as ObjectiveKind;
  if (!OBJECTIVES.includes(objective)) throw new RangeError(`--objective: expected one of ${OBJECTIVES.join(', ')}, got ${name}`);
  return objective;
}

export interface SearchReport extends SweepResult { ms: number; space: SearchSpace; wrote: string }

/** bitswitch search: Algorithm 2 on MODEL; SubNets go to --json FILE, --out FILE, or back into MODEL. */
export async function runSearch(modelPath: string, options: SearchOptions, log: (line: string) => void = console.log): Promise<SearchReport> {
  const objective = checkObjective(options.objective);
  const { sweep, fixed } = planSweep(options.budget ?? []);
  if (options.band !== undefined) {
    if (!(options.band >= 0)) throw new RangeError(`--band: expected a number >= 0, got ${options.band}`);
    sweep.band = options.band;
  }
  const model = loadModel(modelPath);
  const latency = options.latency ? readLatencyTable(options.latency) : undefined;
  if (!model.sensitivity?.length) {
    throw new RangeError(`${modelPath}: has no sensitivity section (per-layer Hessian traces) — run \`bitswitch sensitivity ${modelPath} --data DATASET --out MODEL.bsw\` first and search MODEL.bsw`);
  }
  const space = searchSpaceFromModel(model, latency);
  const bounded = layerSensitivities(space);
  space.layers.forEach((l, i) => {
    if (!includesZero(l) && l.hessianTrace > 0) return;
    const se = l.hessianTraceStdErr === undefined ? 'no std. error' : `± ${l.hessianTraceStdErr.toExponential(2)}`;
    log(`note: ${l.name}: tr(H) ${l.hessianTrace.toExponential(3)} ${se} is not distinguishable from zero; its sensitivity is bounded below at ${bounded[i]!.toExponential(3)} per parameter`);
  });
  if (objective === 'paper' && sweep.band === undefined) {
    log('note: objective paper with only upper bounds puts every layer at its lowest bit (min Σ s_l·b_l); give --band for the equality the paper pairs it with');
  }
  const t0 = performance.now();
  const result = await sweepSubNets(space, { objective, sweep, fixed, pinned: options.pin !== false });
  const ms = performance.now() - t0;
  if (result.infeasible.values.length) log(`note: skipped ${sweep.kind} ${result.infeasible.values.map(String).join(', ')}: ${result.infeasible.reason}`);
  log(`${result.subnets.length} distinct SubNets from ${result.solves} ILPs solved (+${result.reused} answered by a larger cap's optimum, ${result.infeasiblePins} pinned ILPs infeasible) in ${ms.toFixed(0)} ms; objective ${objective}`);
  for (const s of result.subnets.filter((s) => !s.name.includes('/'))) {
    const m = subnetMetrics(space, s.bits);
    log(`  ${s.name.padEnd(22)} [${s.bits.join(',')}]  avg ${m['avg-bits'].toFixed(3)} bits, ${m['model-bytes']} B, ${m.bitops.toExponential(3)} BitOps${m.latency !== undefined ? `, ${m.latency.toFixed(3)} ms` : ''}`);
  }
  let wrote: string;
  if (options.json) {
    const metrics = Object.fromEntries(result.subnets.map((s) => [s.name, subnetMetrics(space, s.bits)]));
    const sidecar = { model: modelPath, layers: space.layers.map((l) => l.name), objective, sweep, fixed, subnets: result.subnets, metrics };
    writeFileAtomic(options.json, JSON.stringify(sidecar, null, 1) + '\n');
    wrote = options.json;
  } else {
    wrote = options.out ?? modelPath;
    writeModelFile(wrote, { ...model, subnets: result.subnets });
  }
  log(`wrote ${result.subnets.length} SubNets to ${wrote}${options.json ? '' : ' (SubNet section)'}`);
  return { ...result, ms, space, wrote };
}

export interface ParetoOptions {
  data: string;
  baseline?: string;
  label?: string;
  baselineLabel?: string;
  x?: string;
  latency?: string;
  out?: string;
  json?: string;
  limit?: number;
  write?: boolean;
  /** Evaluate only the swept optima (SubNet names without a "/LAYER@BITS" pin). */
  sweepOnly?: boolean;
}

/** A model's SubNets (from the file, else the given ones) plus the uniform precisions w_b a_b. */
function subnetsToEvaluate(model: Model, fallback: readonly SubNet[] | undefined, layerCount: number, sweepOnly: boolean): SubNet[] {
  const searched = (model.subnets?.length ? model.subnets : fallback ?? [])
    .filter((s) => !sweepOnly || !s.name.includes('/'))
    .map((s) => ({ ...s, bits: [...s.bits] }));
  const uniform = model.bits.map((b) => ({ name: `w${b}a${b}`, bits: Array(layerCount).fill(b), budget: {} }));
  const seen = new Set(searched.map((s) => s.bits.join(',')));
  return [...searched, ...uniform.filter((u) => !seen.has(u.bits.join(',')))];
}

export interface ParetoReport { series: (ParetoSeries & { frontier: ParetoPoint[] })[]; svg: string }

/**
 * bitswitch pareto: evaluates every SubNet of MODEL (and of --baseline, e.g. the uniform-sampling
 * SuperNet) and plots accuracy against the --x budget, frontiers side by side.
 */
export async function runPareto(modelPath: string, options: ParetoOptions, evaluate: Evaluate, log: (line: string) => void = console.log): Promise<ParetoReport> {
  const xKind = (options.x ?? 'avg-bits') as BudgetKind;
  if (!BUDGET_KINDS.includes(xKind)) throw new RangeError(`--x: expected one of ${BUDGET_KINDS.join(', ')}, got ${options.x}`);
  const latency = options.latency ? readLatencyTable(options.latency) : undefined;
  if (xKind === 'latency' && !latency) throw new RangeError('--x latency: expected --latency table.json');
  const main = loadModel(modelPath);
  const inputs: { label: string; path: string; model: Model }[] = [{ label: options.label ?? 'HASB', path: modelPath, model: main }];
  if (options.baseline) inputs.push({ label: options.baselineLabel ?? 'uniform sampling', path: options.baseline, model: loadModel(options.baseline) });
  const series: ParetoReport['series'] = [];
  for (const input of inputs) {
    const space = costSpaceFromModel(input.model, latency);
    const subnets = subnetsToEvaluate(input.model, main.subnets, space.layers.length, options.sweepOnly === true);
    const points: ParetoPoint[] = [];
    for (const [i, s] of subnets.entries()) {
      const accuracy = await evaluate(input.model, subnetPrecision(input.model, s));
      if (!(accuracy >= 0 && accuracy <= 1)) throw new RangeError(`evaluate(${input.label}, ${s.name}): expected an accuracy in [0, 1], got ${accuracy}`);
      s.accuracy = accuracy;
      const uniform = s.bits.every((b) => b === s.bits[0]);
      points.push({ name: s.name, cost: budgetMetric(space, xKind, s.bits), accuracy, label: uniform ? `w${s.bits[0]}a${s.bits[0]}` : undefined, bits: s.bits });
      log(`  ${input.label} ${i + 1}/${subnets.length} ${s.name}: ${(accuracy * 100).toFixed(2)}%`);
    }
    series.push({ label: input.label, points, frontier: paretoFrontier(points) });
    if (options.write) {
      // Only the file's own SubNets get their accuracy stored; uniform precisions are recomputed each time.
      const measured = new Map(subnets.map((s) => [s.name, s.accuracy]));
      const stored = input.model.subnets?.map((s) => (measured.has(s.name) ? { ...s, accuracy: measured.get(s.name) } : s));
      writeModelFile(input.path, { ...input.model, subnets: stored });
    }
  }
  const titles: Record<BudgetKind, string> = {
    'avg-bits': 'average bit-width (per layer)', 'avg-bits-param': 'average bit-width (per parameter)',
    'model-bytes': 'weight bytes', bitops: 'BitOps', latency: 'latency (ms)',
  };
  const svg = await renderSvg(paretoSpec(series, { xTitle: titles[xKind] }));
  const out = options.out ?? 'pareto.svg';
  writeFileAtomic(out, extname(out).toLowerCase() === '.html' ? svgToHtml(svg, `bitswitch pareto: ${modelPath}`) : svg);
  log(`wrote ${out}`);
  if (options.json) {
    writeFileAtomic(options.json, JSON.stringify({ x: xKind, series }, null, 1) + '\n');
    log(`wrote ${options.json}`);
  }
  return { series, svg };
}

/** Reads a model file; format errors and missing files name the path. */
export function loadModel(path: string): Model {
  try {
    return readModelFile(path);
  } catch (e) {
    if (e instanceof FormatError || (e as NodeJS.ErrnoException).code) throw new RangeError(`${path}: ${(e as Error).message}`);
    throw e;
  }
}
