// Algorithm 2: sweep budgets, re-solve with one layer pinned to each other bit, keep distinct SubNets.
import type { SubNet } from '@bitswitch/format';
import { BUDGET_KINDS, budgetMetric, searchProblem, type Budget, type BudgetKind, type ObjectiveKind, type SearchSpace } from './budget.ts';
import { InfeasibleBudgetError, loadGlpk, solveIlp } from './ilp.ts';

export interface BudgetSweep {
  kind: BudgetKind;
  /** Upper bounds to solve for, in order. */
  values: number[];
  /** If given, each point is the band [value − band, value] instead of "at most value". */
  band?: number;
}

export interface SweepOptions {
  objective?: ObjectiveKind;
  sweep: BudgetSweep;
  /** Budgets that hold at every point (e.g. a latency cap). */
  fixed?: Budget[];
  /** Algorithm 2's inner loops (default true). */
  pinned?: boolean;
}

export interface SweepResult {
  subnets: SubNet[];
  /** ILPs solved; ILPs answered by a larger cap's optimum instead; pinned ILPs without a feasible assignment. */
  solves: number;
  reused: number;
  infeasiblePins: number;
  /** Sweep values no SubNet meets (the sweep goes on with the others), with the reason of the first. */
  infeasible: { values: number[]; reason: string };
}

const label = (x: number) => String(Number(x.toPrecision(10)));

function budgetRecord(kind: BudgetKind, value: number, fixed: readonly Budget[]): Record<string, number> {
  const record: Record<string, number> = { [kind]: value };
  for (const b of fixed) if (b.max !== undefined) record[b.kind] = b.max;
  return record;
}

/**
 * Algorithm 2. For each budget value: the ILP's SubNet, then for each layer l and each bit b it
 * did not take, the SubNet with l pinned to b (skipped when infeasible). Only distinct bit lists
 * are kept, each under the lowest budget value that produced it; the result is ordered by budget.
 * Infeasible sweep values are skipped and reported (e.g. avg-bits 1..2 where 2 is the least there
 * is); a sweep with no feasible value throws with the feasible range.
 *
 * Values are solved from the largest down: an optimum for a larger cap that also meets a smaller
 * one is optimal there too (its feasible set is a subset), so that ILP is not solved again.
 */
export async function sweepSubNets(space: SearchSpace, options: SweepOptions): Promise<SweepResult> {
  const glpk = await loadGlpk();
  const objective = options.objective ?? 'perturbation';
  const fixed = options.fixed ?? [];
  const { kind, values, band } = options.sweep;
  if (values.length === 0) throw new RangeError('sweep.values: expected at least one budget value, got none');
  values.forEach((v, i) => {
    if (!Number.isFinite(v)) throw new RangeError(`sweep.values[${i}]: expected a finite number, got ${v}`);
  });
  const found = new Map<string, { subnet: SubNet; seq: number; pinned: boolean }>();
  let seq = 0;
  let solves = 0, reused = 0, infeasiblePins = 0;
  const infeasible: { values: number[]; error?: InfeasibleBudgetError } = { values: [] };
  const keep = (bits: number[], name: string, value: number, pinned: boolean) => {
    const key = bits.join(',');
    const old = found.get(key);
    if (old && old.subnet.budget[kind] <= value) return;
    found.set(key, { subnet: { name, bits, budget: budgetRecord(kind, value, fixed) }, seq: seq++, pinned });
  };
  // Previous (larger-cap) optimum per pin key ('' = unpinned); undefined = was infeasible.
  const previous = new Map<string, { bits: number[] } | undefined>();
  const reusable = (key: string, value: number): { bits: number[] } | undefined | 'solve' => {
    if (band !== undefined || !previous.has(key)) return 'solve';
    const prev = previous.get(key);
    if (prev === undefined) return undefined; // infeasible at a larger cap stays infeasible
    return budgetMetric(space, kind, prev.bits) <= value + 1e-9 * Math.max(1, Math.abs(value)) ? prev : 'solve';
  };
  const order = [...new Set(values)].sort((a, b) => b - a);
  for (const value of order) {
    const budgets: Budget[] = [...fixed, { kind, max: value, min: band === undefined ? undefined : value - band }];
    const name = `${kind}<=${label(value)}`;
    let base = reusable('', value);
    if (base === 'solve') {
      solves++;
      try {
        base = solveIlp(glpk, searchProblem(space, objective, budgets));
      } catch (e) {
        if (!(e instanceof InfeasibleBudgetError)) throw e;
        infeasible.values.push(value);
        infeasible.error ??= e;
        continue;
      }
    } else reused++;
    if (base === undefined) throw new Error('unreachable: the unpinned ILP was feasible at a larger cap');
    previous.set('', base);
    keep(base.bits, name, value, false);
    if (options.pinned === false) continue;
    for (let l = 0; l < space.layers.length; l++) {
      for (let j = 0; j < space.bits.length; j++) {
        if (space.bits[j] === base.bits[l]) continue;
        const key = `${l}@${j}`;
        let pinned = reusable(key, value);
        if (pinned !== 'solve') reused++;
        else {
          solves++;
          try {
            pinned = solveIlp(glpk, searchProblem(space, objective, budgets, new Map([[l, j]])));
          } catch (e) {
            if (!(e instanceof InfeasibleBudgetError)) throw e;
            pinned = undefined;
          }
        }
        previous.set(key, pinned);
        if (pinned === undefined) infeasiblePins++;
        else keep(pinned.bits, `${name}/${space.layers[l].name}@${space.bits[j]}`, value, true);
      }
    }
  }
  // Lowest budget first; within one budget the unpinned SubNet first, then pins in layer order.
  const subnets = [...found.values()]
    .sort((a, b) => a.subnet.budget[kind] - b.subnet.budget[kind] || Number(a.pinned) - Number(b.pinned) || a.seq - b.seq)
    .map((f) => f.subnet);
  if (subnets.length === 0) throw infeasible.error!;
  return { subnets, solves, reused, infeasiblePins, infeasible: { values: infeasible.values.sort((a, b) => a - b), reason: infeasible.error?.message ?? '' } };
}

/** Parses "3..8:0.25" (range with step; step defaults to 1) or "4" into budget values. */
export function parseBudgetValues(text: string, field = 'budget'): number[] {
  const num = (s: string, what: string) => {
    const x = Number(s);
    if (s.trim() === '' || !Number.isFinite(x)) throw new RangeError(`${field}: expected ${what} to be a number, got "${s}" in "${text}"`);
    return x;
  };
  const [fromText, rest, ...extra] = text.split('..');
  if (extra.length) throw new RangeError(`${field}: expected VALUE or FROM..TO[:STEP], got "${text}"`);
  if (rest === undefined) return [num(fromText, 'VALUE')];
  const [toText, stepText, ...more] = rest.split(':');
  if (more.length) throw new RangeError(`${field}: expected VALUE or FROM..TO[:STEP], got "${text}"`);
  const from = num(fromText, 'FROM');
  const to = num(toText, 'TO');
  const step = stepText === undefined ? 1 : num(stepText, 'STEP');
  if (!(step > 0)) throw new RangeError(`${field}: expected STEP > 0, got ${step}`);
  if (to < from) throw new RangeError(`${field}: expected FROM <= TO, got ${from}..${to}`);
  const count = Math.floor((to - from) / step + 1e-9) + 1;
  return Array.from({ length: count }, (_, i) => Number((from + i * step).toPrecision(12)));
}

/** Parses "KIND=VALUES" as given to --budget, e.g. "avg-bits=3..8:0.25" or "latency=1.5". */
export function parseBudgetSpec(text: string): { kind: BudgetKind; values: number[] } {
  const eq = text.indexOf('=');
  const kind = text.slice(0, eq).trim() as BudgetKind;
  if (eq < 0 || !BUDGET_KINDS.includes(kind)) {
    throw new RangeError(`--budget: expected KIND=VALUES with KIND one of ${BUDGET_KINDS.join(', ')}, got "${text}"`);
  }
  return { kind, values: parseBudgetValues(text.slice(eq + 1), `--budget ${kind}`) };
}
