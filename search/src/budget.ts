// Objectives and budgets of the SubNet search as [layer][bit] tables (data for the ILP).
import type { IlpProblem, LinearConstraint } from './ilp.ts';
import { packedBytes } from '@bitswitch/format';
import { boundedSensitivities } from './sensitivity.ts';

export interface LayerStats {
  name: string;
  params: number;
  macs: number;
  /** Hutchinson tr(H) over the layer's weights (not divided by params). */
  hessianTrace: number;
  /** Standard error of hessianTrace (0 when unknown). */
  hessianTraceStdErr?: number;
  /** Stored weight shape [rows][cols]: conv OHWI rows = out channels, dense rows = out features. */
  rows: number;
  cols: number;
}

/** Per-layer latency (ms) at each bit-width, measured on the target device. */
export type LatencyTable = ReadonlyMap<string, ReadonlyMap<number, number>>;

export interface SearchSpace {
  /** Candidate bit-widths (the model's bit list). */
  bits: number[];
  /** Quantized layers in graph order. */
  layers: LayerStats[];
  /** ‖Ŵ_h − Ŵ_l(b)‖² per [layer][bit index]; needed by the 'perturbation' objective. */
  perturbation?: number[][];
  /** Weight bytes that do not depend on the SubNet (float32 first and last layers). */
  fixedBytes?: number;
  latency?: LatencyTable;
}

export const BUDGET_KINDS = ['avg-bits', 'avg-bits-param', 'model-bytes', 'bitops', 'latency'] as const;
export type BudgetKind = (typeof BUDGET_KINDS)[number];

/** A budget bound; max is the usual "at most", min turns it into a band. */
export interface Budget { kind: BudgetKind; max?: number; min?: number }

export const OBJECTIVES = ['perturbation', 'paper', 'authors'] as const;
/**
 * With s_l the bounded per-parameter sensitivity (sensitivity.ts: upper confidence bound of
 * tr(H_l)/n_l, floored above 0), the one the HASB roulette reads too:
 * perturbation (default, HAWQ-V3 form): minimize Σ s_l · ‖Ŵ_h − Ŵ_l(b_l)‖²;
 * paper (as printed): minimize Σ s_l · b_l (tr(H_l)/n_l · b_l);
 * authors (their code): maximize Σ s_l · b_l.
 */
export type ObjectiveKind = (typeof OBJECTIVES)[number];

/** s_l per layer: boundedSensitivities of the space's trace estimates (shared with the roulette). */
export function layerSensitivities(space: SearchSpace): number[] {
  return boundedSensitivities(space.layers);
}

const table = (space: SearchSpace, f: (layer: LayerStats, bits: number, l: number, j: number) => number) =>
  space.layers.map((layer, l) => space.bits.map((b, j) => f(layer, b, l, j)));

export function objectiveTable(space: SearchSpace, kind: ObjectiveKind): Pick<IlpProblem, 'sense' | 'objective'> {
  if (!OBJECTIVES.includes(kind)) throw new RangeError(`objective: expected one of ${OBJECTIVES.join(', ')}, got ${kind}`);
  const s = layerSensitivities(space);
  switch (kind) {
    case 'perturbation': {
      const p = space.perturbation;
      if (!p) throw new RangeError("objective 'perturbation': the search space has no perturbation table (needs the model's weights)");
      return { sense: 'min', objective: table(space, (_layer, _b, l, j) => s[l] * p[l][j]) };
    }
    case 'paper':
      return { sense: 'min', objective: table(space, (_layer, b, l) => s[l] * b) };
    default: // authors
      return { sense: 'max', objective: table(space, (_layer, b, l) => s[l] * b) };
  }
}

function latencyMs(space: SearchSpace, layer: string, bits: number): number {
  if (!space.latency) throw new RangeError('budget latency: no latency table given (--latency table.json)');
  const ms = space.latency.get(layer)?.get(bits);
  if (ms === undefined) throw new RangeError(`latency table: expected an entry for layer ${layer} at ${bits} bits, found none`);
  return ms;
}

/** The budget as a linear constraint over x_{l,j}. */
export function budgetConstraint(space: SearchSpace, budget: Budget): LinearConstraint {
  const bounds = { min: budget.min, max: budget.max };
  switch (budget.kind) {
    case 'avg-bits': // Σ b_l / L
      return { name: 'avg-bits', coef: table(space, (_l, b) => b), scale: space.layers.length, ...bounds, unit: 'bits' };
    case 'avg-bits-param': // Σ n_l b_l / Σ n_l
      return {
        name: 'avg-bits-param', coef: table(space, (layer, b) => layer.params * b),
        scale: space.layers.reduce((s, l) => s + l.params, 0), ...bounds, unit: 'bits',
      };
    case 'model-bytes': // packed quantized weights at their container width + fixed float weights
      return {
        name: 'model-bytes', coef: table(space, (layer, b) => packedBytes(layer.rows, layer.cols, b)),
        offset: space.fixedBytes ?? 0, ...bounds, unit: 'bytes',
      };
    case 'bitops': // MACs × w-bits × a-bits, w = a (wbab)
      return { name: 'bitops', coef: table(space, (layer, b) => layer.macs * b * b), ...bounds, unit: 'BitOps' };
    case 'latency':
      return { name: 'latency', coef: table(space, (layer, b) => latencyMs(space, layer.name, b)), ...bounds, unit: 'ms' };
    default:
      throw new RangeError(`budget: expected one of ${BUDGET_KINDS.join(', ')}, got ${(budget as Budget).kind}`);
  }
}

/** Value of a budget metric for a SubNet's bits (one per quantized layer). */
export function budgetMetric(space: SearchSpace, kind: BudgetKind, bits: readonly number[]): number {
  if (bits.length !== space.layers.length) throw new RangeError(`bits: expected ${space.layers.length} entries (one per quantized layer), got ${bits.length}`);
  const c = budgetConstraint(space, { kind, max: 0 });
  let raw = 0;
  bits.forEach((b, l) => {
    const j = space.bits.indexOf(b);
    if (j < 0) throw new RangeError(`bits[${l}]: expected one of ${space.bits.join(', ')}, got ${b}`);
    raw += c.coef[l][j];
  });
  return raw / (c.scale ?? 1) + (c.offset ?? 0);
}

export function searchProblem(
  space: SearchSpace, objective: ObjectiveKind, budgets: readonly Budget[], pins?: ReadonlyMap<number, number>,
): IlpProblem {
  return {
    layers: space.layers.map((l) => l.name),
    bits: space.bits,
    ...objectiveTable(space, objective),
    constraints: budgets.map((b) => budgetConstraint(space, b)),
    pins,
  };
}

/** Parses the runtime's latency table: a JSON array of {layer, bits, ms}; repeated rows are averaged. */
export function parseLatencyTable(json: unknown, source = 'latency table'): LatencyTable {
  if (!Array.isArray(json)) throw new RangeError(`${source}: expected a JSON array of {layer, bits, ms}, got ${typeof json}`);
  const sums = new Map<string, Map<number, { total: number; n: number }>>();
  json.forEach((row, i) => {
    const r = row as { layer?: unknown; bits?: unknown; ms?: unknown };
    if (typeof r !== 'object' || r === null) throw new RangeError(`${source}[${i}]: expected an object {layer, bits, ms}`);
    if (typeof r.layer !== 'string') throw new RangeError(`${source}[${i}].layer: expected a string, got ${JSON.stringify(r.layer)}`);
    if (!Number.isInteger(r.bits)) throw new RangeError(`${source}[${i}].bits: expected an integer, got ${JSON.stringify(r.bits)}`);
    if (typeof r.ms !== 'number' || !Number.isFinite(r.ms) || r.ms < 0) throw new RangeError(`${source}[${i}].ms: expected a finite number >= 0, got ${JSON.stringify(r.ms)}`);
    const perBit = sums.get(r.layer) ?? new Map();
    sums.set(r.layer, perBit);
    const s = perBit.get(r.bits as number) ?? { total: 0, n: 0 };
    s.total += r.ms;
    s.n++;
    perBit.set(r.bits as number, s);
  });
  return new Map([...sums].map(([layer, m]) => [layer, new Map([...m].map(([b, s]) => [b, s.total / s.n]))]));
}
