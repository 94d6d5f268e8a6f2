// The SubNet search ILP (Algorithm 2's inner problem), solved with GLPK (glpk.js, GPL-3.0).
// Binary x_{l,j} = 1 when layer l takes bits[j]; Σ_j x_{l,j} = 1 per layer; linear budgets.
import type { GLPK as Glpk, LP } from 'glpk.js/node';

/** A linear budget Σ_l coef[l][j_l], reported in budget units as raw / scale + offset. */
export interface LinearConstraint {
  /** Budget name as the user writes it, e.g. 'avg-bits'. */
  name: string;
  /** [layer][bit index] contribution, raw units. */
  coef: number[][];
  /** Budget value = raw / scale + offset (e.g. avg-bits: scale = layer count). */
  scale?: number;
  offset?: number;
  /** Bounds in budget units; at least one is given. */
  min?: number;
  max?: number;
  /** Unit shown in messages, e.g. 'ms'. */
  unit?: string;
}

export interface IlpProblem {
  layers: string[];
  /** Candidate bit-widths; column j of every [layer][bit index] table. */
  bits: number[];
  sense: 'min' | 'max';
  /** [layer][bit index] objective coefficient. */
  objective: number[][];
  constraints: LinearConstraint[];
  /** Layer index → bit index it is pinned to (Algorithm 2's inner loops). */
  pins?: ReadonlyMap<number, number>;
}

export interface IlpSolution {
  /** Bit index per layer. */
  choice: number[];
  /** Bit-width per layer. */
  bits: number[];
  objective: number;
}

/** Range of a budget over all assignments allowed by the pins. */
export interface BudgetRange { name: string; min: number; max: number; unit?: string }

/** No assignment meets the budgets; `ranges` holds each budget's reachable range. */
export class InfeasibleBudgetError extends RangeError {
  constructor(message: string, readonly ranges: BudgetRange[]) {
    super(message);
    this.name = 'InfeasibleBudgetError';
  }
}

const EPS = 1e-9;

function allowedBits(problem: IlpProblem, layer: number): number[] {
  const pin = problem.pins?.get(layer);
  return pin === undefined ? problem.bits.map((_, j) => j) : [pin];
}

const toBudget = (c: LinearConstraint, raw: number) => raw / (c.scale ?? 1) + (c.offset ?? 0);
const toRaw = (c: LinearConstraint, value: number) => (value - (c.offset ?? 0)) * (c.scale ?? 1);

/** Reachable [min, max] of a budget in budget units (sum of per-layer extremes). */
export function budgetRange(problem: IlpProblem, c: LinearConstraint): BudgetRange {
  let lo = 0, hi = 0;
  problem.layers.forEach((_, l) => {
    const values = allowedBits(problem, l).map((j) => c.coef[l][j]);
    lo += Math.min(...values);
    hi += Math.max(...values);
  });
  const [a, b] = [toBudget(c, lo), toBudget(c, hi)];
  return { name: c.name, min: Math.min(a, b), max: Math.max(a, b), unit: c.unit };
}

function fmt(x: number): string {
  return Number.isInteger(x) ? String(x) : String(Number(x.toPrecision(8)));
}

function describeBounds(c: LinearConstraint): string {
  if (c.min !== undefined && c.max !== undefined) return `${c.name} in ${fmt(c.min)}..${fmt(c.max)}`;
  return c.max !== undefined ? `${c.name} <= ${fmt(c.max)}` : `${c.name} >= ${fmt(c.min!)}`;
}

function describeRange(r: BudgetRange): string {
  return `${fmt(r.min)}..${fmt(r.max)}${r.unit ? ' ' + r.unit : ''}`;
}

function pinNote(problem: IlpProblem): string {
  const pins = [...(problem.pins ?? new Map())];
  return pins.length ? ` with ${pins.map(([l, j]) => `${problem.layers[l]} pinned to ${problem.bits[j]} bits`).join(', ')}` : '';
}

/** Checks shapes and that each budget alone is reachable; throws the feasible range otherwise. */
export function checkProblem(problem: IlpProblem): void {
  const { layers, bits } = problem;
  if (layers.length === 0) throw new RangeError('layers: expected at least one quantized layer, got 0');
  if (bits.length === 0) throw new RangeError('bits: expected at least one candidate bit-width, got 0');
  const checkTable = (t: number[][], field: string) => {
    if (t.length !== layers.length) throw new RangeError(`${field}: expected ${layers.length} rows (one per layer), got ${t.length}`);
    t.forEach((row, l) => {
      if (row.length !== bits.length) throw new RangeError(`${field}[${l}]: expected ${bits.length} entries (one per bit), got ${row.length}`);
      row.forEach((v, j) => {
        if (!Number.isFinite(v)) throw new RangeError(`${field}[${l}][${j}] (${layers[l]} at ${bits[j]} bits): expected a finite number, got ${v}`);
      });
    });
  };
  checkTable(problem.objective, 'objective');
  for (const c of problem.constraints) {
    checkTable(c.coef, `constraint ${c.name}`);
    if (c.min === undefined && c.max === undefined) throw new RangeError(`constraint ${c.name}: expected min or max`);
    for (const k of ['min', 'max'] as const) {
      if (c[k] !== undefined && !Number.isFinite(c[k])) throw new RangeError(`constraint ${c.name}.${k}: expected a finite number, got ${c[k]}`);
    }
  }
  for (const [l, j] of problem.pins ?? []) {
    if (!(l >= 0 && l < layers.length)) throw new RangeError(`pins: layer index expected in 0..${layers.length - 1}, got ${l}`);
    if (!(j >= 0 && j < bits.length)) throw new RangeError(`pins: bit index expected in 0..${bits.length - 1}, got ${j}`);
  }
  for (const c of problem.constraints) {
    const r = budgetRange(problem, c);
    const tol = EPS * Math.max(1, Math.abs(r.min), Math.abs(r.max));
    if ((c.max !== undefined && c.max < r.min - tol) || (c.min !== undefined && c.min > r.max + tol)
      || (c.min !== undefined && c.max !== undefined && c.min > c.max)) {
      throw new InfeasibleBudgetError(
        `budget ${describeBounds(c)} is infeasible${pinNote(problem)}: the feasible range of ${c.name} is ${describeRange(r)}`,
        [r],
      );
    }
  }
}

function infeasibleTogether(problem: IlpProblem): InfeasibleBudgetError {
  const ranges = problem.constraints.map((c) => budgetRange(problem, c));
  return new InfeasibleBudgetError(
    `budgets ${problem.constraints.map(describeBounds).join(', ')} are infeasible together${pinNote(problem)}; ` +
      `each alone ranges ${ranges.map((r) => `${r.name} ${describeRange(r)}`).join(', ')}`,
    ranges,
  );
}

/** Budget value of an assignment (bit index per layer). */
export function budgetValue(c: LinearConstraint, choice: readonly number[]): number {
  let raw = 0;
  choice.forEach((j, l) => (raw += c.coef[l][j]));
  return toBudget(c, raw);
}

/** Whether an assignment meets every budget (relative tolerance 1e-9, as the solver's rows are exact). */
export function isFeasible(problem: IlpProblem, choice: readonly number[]): boolean {
  for (const [l, j] of problem.pins ?? []) if (choice[l] !== j) return false;
  return problem.constraints.every((c) => {
    const v = budgetValue(c, choice);
    const tol = EPS * Math.max(1, Math.abs(v));
    return (c.max === undefined || v <= c.max + tol) && (c.min === undefined || v >= c.min - tol);
  });
}

export function objectiveValue(problem: IlpProblem, choice: readonly number[]): number {
  return choice.reduce((s, j, l) => s + problem.objective[l][j], 0);
}

let glpkInstance: Promise<Glpk> | undefined;
/** The GLPK module, loaded and compiled once per process, on first use (the trainer imports this package for the roulette only). */
export function loadGlpk(): Promise<Glpk> {
  return (glpkInstance ??= import('glpk.js/node').then((m) => m.default()));
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** GCD of a row's coefficients when they are all integers (exactly representable), else 0. */
export function integerGcd(coefs: readonly number[]): number {
  let g = 0;
  for (const c of coefs) {
    if (!Number.isSafeInteger(c)) return 0;
    g = gcd(g, Math.abs(c));
  }
  return g;
}

/**
 * Integer rows only reach multiples of their GCD g, so hi → g·floor(hi/g) and lo → g·ceil(lo/g)
 * leave the feasible set unchanged and tighten the LP relaxation (e.g. Σ b_l ≤ 85.5 → ≤ 84 for
 * even bits), which cuts GLPK's branch-and-bound. The 1e-9 slack keeps bounds already on a multiple.
 */
export function roundBounds(lo: number | undefined, hi: number | undefined, g: number): [number | undefined, number | undefined] {
  if (!(g > 0)) return [lo, hi];
  const slack = (x: number) => 1e-9 * Math.max(1, Math.abs(x / g));
  return [
    lo === undefined ? undefined : g * Math.ceil(lo / g - slack(lo)),
    hi === undefined ? undefined : g * Math.floor(hi / g + slack(hi)),
  ];
}

const varName = (l: number, j: number) => `x${l}_${j}`;

/** The problem in glpk.js's JSON LP form. */
export function toLp(glpk: Glpk, problem: IlpProblem): LP {
  const vars: { l: number; j: number; name: string }[] = [];
  problem.layers.forEach((_, l) => allowedBits(problem, l).forEach((j) => vars.push({ l, j, name: varName(l, j) })));
  const row = (coef: number[][], scale = 1) => vars.map((v) => ({ name: v.name, coef: coef[v.l][v.j] / scale }));
  // The objective divided by its largest magnitude: the optimum is the same, and GLPK's absolute
  // tolerances then see differences as small as trace·perturbation products (~1e-12) instead of ties.
  const objectiveScale = Math.max(...vars.map((v) => Math.abs(problem.objective[v.l][v.j]))) || 1;
  const bounds = (lo: number | undefined, hi: number | undefined) =>
    lo !== undefined && hi !== undefined ? { type: lo === hi ? glpk.GLP_FX : glpk.GLP_DB, lb: lo, ub: hi }
      : hi !== undefined ? { type: glpk.GLP_UP, lb: 0, ub: hi } : { type: glpk.GLP_LO, lb: lo!, ub: 0 };
  return {
    name: 'subnet',
    objective: { direction: problem.sense === 'min' ? glpk.GLP_MIN : glpk.GLP_MAX, name: 'obj', vars: row(problem.objective, objectiveScale) },
    subjectTo: [
      ...problem.layers.map((_, l) => ({
        name: `one_bit_${l}`,
        vars: allowedBits(problem, l).map((j) => ({ name: varName(l, j), coef: 1 })),
        bnds: { type: glpk.GLP_FX, lb: 1, ub: 1 },
      })),
      ...problem.constraints.map((c, i) => {
        // Scale may be negative in principle; keep lo <= hi in raw units.
        const a = c.min === undefined ? undefined : toRaw(c, c.min);
        const b = c.max === undefined ? undefined : toRaw(c, c.max);
        const [lo, hi] = (c.scale ?? 1) > 0 ? [a, b] : [b, a];
        const g = integerGcd(vars.map((v) => c.coef[v.l][v.j]));
        const [rlo, rhi] = roundBounds(lo, hi, g);
        if (rlo !== undefined && rhi !== undefined && rlo > rhi) {
          throw new InfeasibleBudgetError(`budget ${describeBounds(c)} is infeasible${pinNote(problem)}: no SubNet's ${c.name} falls in this band (values are steps of ${fmt(g / (c.scale ?? 1))})`, [budgetRange(problem, c)]);
        }
        return { name: `budget_${i}`, vars: row(c.coef), bnds: bounds(rlo, rhi) };
      }),
    ],
    binaries: vars.map((v) => v.name),
  };
}

/** Solves one SubNet ILP exactly (MIP gap 0). Throws InfeasibleBudgetError with the feasible ranges. */
export function solveIlp(glpk: Glpk, problem: IlpProblem): IlpSolution {
  checkProblem(problem);
  const lp = toLp(glpk, problem);
  // glpk.js needs the presolver for MIPs (it does not solve the LP relaxation first otherwise).
  const result = glpk.solve(lp, { msglev: glpk.GLP_MSG_OFF, presol: true });
  const status = result.result.status;
  if (status === glpk.GLP_NOFEAS || status === glpk.GLP_INFEAS) throw infeasibleTogether(problem);
  if (status !== glpk.GLP_OPT) throw new Error(`GLPK: unexpected MIP status ${status} (expected optimal ${glpk.GLP_OPT})`);
  const choice = problem.layers.map((_, l) => {
    const j = allowedBits(problem, l).find((j) => result.result.vars[varName(l, j)] > 0.5);
    if (j === undefined) throw new Error(`GLPK: no bit selected for layer ${problem.layers[l]}`);
    return j;
  });
  if (!isFeasible(problem, choice)) throw infeasibleTogether(problem);
  polish(problem, choice);
  return { choice, bits: choice.map((j) => problem.bits[j]), objective: objectiveValue(problem, choice) };
}

/**
 * Single-layer moves in exact arithmetic, kept while they stay feasible and strictly improve the
 * objective. GLPK decides with tolerances relative to the largest objective coefficient (~1e-7),
 * so a layer whose terms are far smaller (a floored sensitivity) looks free to it and may be left
 * at a lower bit than an unconstrained budget allows; this puts it back.
 */
export function polish(problem: IlpProblem, choice: number[]): void {
  const better = (a: number, b: number) => (problem.sense === 'min' ? a < b : a > b);
  let current = objectiveValue(problem, choice);
  for (let pass = 0, improved = true; improved && pass < 100; pass++) {
    improved = false;
    for (let l = 0; l < choice.length; l++) {
      for (const j of allowedBits(problem, l)) {
        if (j === choice[l]) continue;
        const old = choice[l];
        choice[l] = j;
        const v = objectiveValue(problem, choice);
        if (better(v, current) && isFeasible(problem, choice)) {
          current = v;
          improved = true;
        } else choice[l] = old;
      }
    }
  }
}

/**
 * The same problem without one assignment (no-good cut Σ_l x_{l,j_l} <= L − 1): its optimum is the
 * runner-up, which tells whether an optimum is unique.
 */
export function excludeAssignment(problem: IlpProblem, choice: readonly number[]): IlpProblem {
  const coef = problem.layers.map((_, l) => problem.bits.map((_, j) => (j === choice[l] ? 1 : 0)));
  return { ...problem, constraints: [...problem.constraints, { name: 'exclude', coef, max: problem.layers.length - 1 }] };
}

export interface BruteForceResult {
  best: IlpSolution;
  /** Best objective among the other feasible assignments (undefined if there is none). */
  runnerUp?: number;
}

/** Exhaustive reference solver for small problems (at most `limit` assignments). */
export function bruteForce(problem: IlpProblem, limit = 1 << 22): BruteForceResult {
  checkProblem(problem);
  const allowed = problem.layers.map((_, l) => allowedBits(problem, l));
  const total = allowed.reduce((p, a) => p * a.length, 1);
  if (total > limit) throw new RangeError(`bruteForce: ${total} assignments, expected at most ${limit}`);
  const better = (a: number, b: number) => (problem.sense === 'min' ? a < b : a > b);
  let best: number[] | undefined, bestValue = NaN, runnerUp: number | undefined;
  const choice = allowed.map((a) => a[0]);
  for (let n = 0; n < total; n++) {
    let rest = n;
    for (let l = 0; l < allowed.length; l++) {
      choice[l] = allowed[l][rest % allowed[l].length];
      rest = Math.floor(rest / allowed[l].length);
    }
    if (!isFeasible(problem, choice)) continue;
    const v = objectiveValue(problem, choice);
    if (best === undefined || better(v, bestValue)) {
      if (best !== undefined) runnerUp = bestValue;
      best = [...choice];
      bestValue = v;
    } else if (runnerUp === undefined || better(v, runnerUp)) {
      runnerUp = v;
    }
  }
  if (best === undefined) throw infeasibleTogether(problem);
  return { best: { choice: best, bits: best.map((j) => problem.bits[j]), objective: bestValue }, runnerUp };
}
