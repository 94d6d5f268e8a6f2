import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  bruteForce, budgetConstraint, excludeAssignment, InfeasibleBudgetError, loadGlpk, solveIlp,
  type Budget, type IlpProblem, type SearchSpace,
} from '../src/index.ts';
import { readCases } from './vectors.ts';

interface IlpCase {
  bits: number[];
  params: number[];
  trace: number[];
  perturbation: Record<string, number[]>;
  macs?: number[];
  objective: string;
  optimum: number;
  assignment: number[];
  [key: string]: unknown;
}

const glpk = await loadGlpk();
const { cases } = readCases<IlpCase>('ilp.json');
const KNOWN = new Set(['bits', 'params', 'trace', 'perturbation', 'macs', 'objective', 'optimum', 'assignment']);
// Budget fields a vector case may carry; any other max_/min_ field fails the test loudly.
const BUDGET_FIELDS: Record<string, Budget['kind']> = {
  avg_bits_param_weighted: 'avg-bits-param',
  avg_bits: 'avg-bits',
  bitops: 'bitops',
};

function caseProblem(c: IlpCase): IlpProblem {
  const space: SearchSpace = {
    bits: c.bits,
    layers: c.params.map((params, l) => ({ name: `layer${l}`, params, macs: c.macs?.[l] ?? 0, hessianTrace: 0, rows: 1, cols: params })),
  };
  const budgets: Budget[] = [];
  for (const [key, value] of Object.entries(c)) {
    if (KNOWN.has(key)) continue;
    const m = /^(max|min)_(.+)$/.exec(key);
    const kind = m && BUDGET_FIELDS[m[2]];
    if (!m || !kind) throw new Error(`ilp vector: unknown field ${key}`);
    budgets.push({ kind, [m[1]]: value as number });
  }
  return {
    layers: space.layers.map((l) => l.name),
    bits: c.bits,
    ...caseObjective(c),
    constraints: budgets.map((b) => budgetConstraint(space, b)),
  };
}

/** The objective as the case writes it: the default form, or the paper's / the authors' variants. */
function caseObjective(c: IlpCase): Pick<IlpProblem, 'sense' | 'objective'> {
  const text = c.objective.replace(/\s+/g, '');
  const table = (f: (l: number, b: number) => number) => c.params.map((_, l) => c.bits.map((b) => f(l, b)));
  if (text.startsWith('minimizesum_ltrace[l]*perturbation[b_l][l]')) {
    return { sense: 'min', objective: table((l, b) => c.trace[l] * c.perturbation[String(b)][l]) };
  }
  if (text.startsWith('minimizesum_ltrace[l]/params[l]*b_l')) return { sense: 'min', objective: table((l, b) => (c.trace[l] / c.params[l]) * b) };
  if (text.startsWith('maximizesum_ltrace[l]*b_l')) return { sense: 'max', objective: table((l, b) => c.trace[l] * b) };
  throw new Error(`ilp vector: unknown objective "${c.objective}"`);
}

const close = (a: number, b: number, rel = 1e-6) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-300);

test('solveIlp reaches the optimum of every case of ilp.json (assignment too when the optimum is unique)', () => {
  assert.ok(cases.length > 0);
  let checked = 0;
  cases.forEach((c, i) => {
    const problem = caseProblem(c);
    const got = solveIlp(glpk, problem);
    assert.ok(close(got.objective, c.optimum), `case ${i}: objective ${got.objective} vs optimum ${c.optimum}`);
    // Unique when the runner-up (optimum without this assignment) is strictly worse.
    let runnerUp: number | undefined;
    try {
      runnerUp = solveIlp(glpk, excludeAssignment(problem, got.choice)).objective;
    } catch (e) {
      assert.instance(e, InfeasibleBudgetError); // the only feasible assignment
    }
    const unique = runnerUp === undefined || !close(runnerUp, got.objective, 1e-9);
    if (unique) assert.equal(got.bits, c.assignment, `case ${i}: assignment`);
    if (c.bits.length ** c.params.length <= 1 << 20) {
      const brute = bruteForce(problem);
      assert.ok(close(brute.best.objective, c.optimum), `case ${i}: brute force ${brute.best.objective} vs ${c.optimum}`);
      assert.is(brute.runnerUp === undefined || !close(brute.runnerUp, brute.best.objective, 1e-9), unique, `case ${i}: uniqueness`);
    }
    checked += unique ? 1 : 0;
  });
  console.log(`  ${cases.length} cases, ${checked} with a unique optimum (assignment compared)`);
});

function randomProblem(rand: () => number, withPins: boolean): IlpProblem {
  const bitLists = [[8, 6, 4, 2], [4, 3, 2], [8, 4]];
  const bits = bitLists[Math.floor(rand() * bitLists.length)];
  const L = 2 + Math.floor(rand() * 5);
  const layers = Array.from({ length: L }, (_, l) => ({
    name: `l${l}`, params: 1 + Math.floor(rand() * 5000), macs: 1 + Math.floor(rand() * 1e5),
    hessianTrace: rand() * 10, rows: 1 + Math.floor(rand() * 64), cols: 1 + Math.floor(rand() * 300),
  }));
  const space: SearchSpace = {
    bits, layers, fixedBytes: Math.floor(rand() * 1000),
    latency: new Map(layers.map((l) => [l.name, new Map(bits.map((b) => [b, rand() * b]))])),
  };
  const kinds = (['avg-bits', 'avg-bits-param', 'model-bytes', 'bitops', 'latency'] as const).filter(() => rand() < 0.5);
  const constraints = kinds.map((kind) => {
    const c = budgetConstraint(space, { kind, max: 0 });
    // A bound between the extremes, sometimes a band.
    const lo = c.coef.reduce((s, r) => s + Math.min(...r), 0), hi = c.coef.reduce((s, r) => s + Math.max(...r), 0);
    const toB = (raw: number) => raw / (c.scale ?? 1) + (c.offset ?? 0);
    const max = toB(lo + (hi - lo) * (0.2 + 0.8 * rand()));
    const band = rand() < 0.3 ? toB(lo + (hi - lo) * 0.1 * rand()) : undefined;
    return { ...c, max, min: band };
  });
  const pins = new Map<number, number>();
  if (withPins) pins.set(Math.floor(rand() * L), Math.floor(rand() * bits.length));
  return {
    layers: layers.map((l) => l.name), bits, sense: rand() < 0.5 ? 'min' : 'max',
    objective: layers.map(() => bits.map(() => rand() * 100 - 20)), constraints, pins,
  };
}

test('solveIlp agrees with brute force on 300 random small problems (all budget kinds, bands, pins, both senses)', () => {
  let seed = 12345;
  const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
  let solved = 0, infeasible = 0;
  for (let k = 0; k < 300; k++) {
    const p = randomProblem(rand, k % 3 === 0);
    let brute;
    try {
      brute = bruteForce(p);
    } catch (e) {
      assert.instance(e, InfeasibleBudgetError);
      assert.throws(() => solveIlp(glpk, p), (err: unknown) => err instanceof InfeasibleBudgetError);
      infeasible++;
      continue;
    }
    const got = solveIlp(glpk, p);
    assert.ok(close(got.objective, brute.best.objective, 1e-9), `problem ${k}: ilp ${got.objective} vs brute ${brute.best.objective}`);
    solved++;
  }
  assert.ok(solved > 200, `only ${solved} feasible problems`);
  console.log(`  random problems: ${solved} solved, ${infeasible} infeasible`);
});

test.run();
