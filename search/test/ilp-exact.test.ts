// The ILP layer against an enumeration written here (recursive, exact integer arithmetic, no code of
// ilp.ts): optimum, runner-up and feasibility on random integer problems with every bound form
// (max, min, equal-bound bands, negative scales, offsets, pins); the GCD tightening by hand; the
// 1e-9 tolerance at both bounds; polish's single-layer moves; and every message as the user reads it.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  bruteForce, budgetRange, budgetValue, checkProblem, excludeAssignment, InfeasibleBudgetError, integerGcd, isFeasible,
  loadGlpk, objectiveValue, polish, roundBounds, solveIlp, toLp, type IlpProblem, type LinearConstraint,
} from '../src/index.ts';
import { thrownMessage as message } from '../../test/mutation-oracles.ts';

const glpk = await loadGlpk();

/** Every assignment allowed by the pins, with its objective and whether it meets every bound exactly. */
function enumerate(p: IlpProblem): { choice: number[]; value: number; feasible: boolean }[] {
  const out: { choice: number[]; value: number; feasible: boolean }[] = [];
  const walk = (l: number, choice: number[]) => {
    if (l === p.layers.length) {
      const value = choice.reduce((s, j, i) => s + p.objective[i][j], 0);
      const feasible = p.constraints.every((c) => {
        const v = choice.reduce((s, j, i) => s + c.coef[i][j], 0) / (c.scale ?? 1) + (c.offset ?? 0);
        return (c.max === undefined || v <= c.max) && (c.min === undefined || v >= c.min);
      });
      out.push({ choice: [...choice], value, feasible });
      return;
    }
    const pin = p.pins?.get(l);
    for (let j = 0; j < p.bits.length; j++) if (pin === undefined || pin === j) walk(l + 1, [...choice, j]);
  };
  walk(0, []);
  return out;
}

function lcg(seed: number): () => number {
  return () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 4294967296);
}

/** Integer data only, so that the enumeration's exact comparisons and the solver's tolerances agree. */
function randomProblem(rand: () => number): IlpProblem {
  const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
  const bits = [[8, 6, 4, 2], [4, 2], [8, 4, 2]][int(0, 2)];
  const L = int(1, 4);
  const table = (lo: number, hi: number) => Array.from({ length: L }, () => bits.map(() => int(lo, hi)));
  const assignments = enumerate({ layers: new Array(L).fill(''), bits, sense: 'min', objective: table(0, 0), constraints: [] });
  const constraints: LinearConstraint[] = Array.from({ length: int(0, 2) }, (_, i) => {
    const coef = table(-5, 20);
    const scale = [1, 2, -3][int(0, 2)];
    const offset = int(-10, 10);
    const values = assignments.map((a) => a.choice.reduce((s, j, l) => s + coef[l][j], 0) / scale + offset).sort((x, y) => x - y);
    const pick = () => values[int(0, values.length - 1)];
    const form = int(0, 3);
    const [a, b] = [pick(), pick()].sort((x, y) => x - y);
    const bounds = form === 0 ? { max: a } : form === 1 ? { min: b } : form === 2 ? { min: a, max: b } : { min: a, max: a };
    return { name: `c${i}`, coef, scale, offset, unit: 'u', ...bounds };
  });
  const pins = new Map<number, number>();
  if (rand() < 0.3) pins.set(int(0, L - 1), int(0, bits.length - 1));
  return { layers: Array.from({ length: L }, (_, l) => `l${l}`), bits, sense: rand() < 0.5 ? 'min' : 'max', objective: table(-9, 9), constraints, pins };
}

const base: IlpProblem = {
  layers: ['a', 'b'], bits: [8, 4], sense: 'min', objective: [[0, 1], [0, 3]],
  constraints: [{ name: 'avg-bits', coef: [[8, 4], [8, 4]], scale: 2, max: 8, unit: 'bits' }],
};


test('checkProblem: every malformed table, bound and pin is named', () => {
  const bad = (patch: Partial<IlpProblem>) => message(() => checkProblem({ ...base, ...patch }));
  assert.is(bad({ layers: [] }), 'layers: expected at least one quantized layer, got 0');
  assert.is(bad({ bits: [] }), 'bits: expected at least one candidate bit-width, got 0');
  assert.is(bad({ objective: [[0, 1]] }), 'objective: expected 2 rows (one per layer), got 1');
  assert.is(bad({ objective: [[0, 1], [0]] }), 'objective[1]: expected 2 entries (one per bit), got 1');
  assert.is(bad({ objective: [[0, 1], [Infinity, 0]] }), 'objective[1][0] (b at 8 bits): expected a finite number, got Infinity');
  const c = base.constraints[0];
  assert.is(bad({ constraints: [{ ...c, coef: [[8, 4], [8, NaN]] }] }), 'constraint avg-bits[1][1] (b at 4 bits): expected a finite number, got NaN');
  assert.is(bad({ constraints: [{ ...c, max: undefined }] }), 'constraint avg-bits: expected min or max');
  assert.is(bad({ constraints: [{ ...c, min: NaN }] }), 'constraint avg-bits.min: expected a finite number, got NaN');
  assert.is(bad({ constraints: [{ ...c, max: Infinity }] }), 'constraint avg-bits.max: expected a finite number, got Infinity');
  assert.is(bad({ pins: new Map([[2, 0]]) }), 'pins: layer index expected in 0..1, got 2');
  assert.is(bad({ pins: new Map([[-1, 0]]) }), 'pins: layer index expected in 0..1, got -1');
  assert.is(bad({ pins: new Map([[0, 2]]) }), 'pins: bit index expected in 0..1, got 2');
  assert.is(bad({ pins: new Map([[0, -1]]) }), 'pins: bit index expected in 0..1, got -1');
  checkProblem({ ...base, pins: new Map([[1, 1], [0, 0]]) });
});

test('infeasible budgets: the bounds, pins and reachable ranges as the user reads them', () => {
  const c = base.constraints[0];
  const infeasible = (p: IlpProblem) => message(() => solveIlp(glpk, p), InfeasibleBudgetError);
  assert.is(infeasible({ ...base, constraints: [{ ...c, max: 3.999 }] }), 'budget avg-bits <= 3.999 is infeasible: the feasible range of avg-bits is 4..8 bits');
  assert.is(infeasible({ ...base, constraints: [{ ...c, max: undefined, min: 8.5 }] }), 'budget avg-bits >= 8.5 is infeasible: the feasible range of avg-bits is 4..8 bits');
  assert.is(infeasible({ ...base, constraints: [{ ...c, min: 7, max: 5 }] }), 'budget avg-bits in 7..5 is infeasible: the feasible range of avg-bits is 4..8 bits');
  assert.is(infeasible({ ...base, constraints: [{ ...c, max: 1 / 3, unit: undefined }] }), 'budget avg-bits <= 0.33333333 is infeasible: the feasible range of avg-bits is 4..8');
  const pins = new Map([[0, 0], [1, 0]]);
  assert.is(infeasible({ ...base, pins, constraints: [{ ...c, max: 7 }] }), 'budget avg-bits <= 7 is infeasible with a pinned to 8 bits, b pinned to 8 bits: the feasible range of avg-bits is 8..8 bits');
  // each budget alone reachable (6 means one layer at 4 bits; the second asks both at 8)
  const both = { ...base, constraints: [{ ...c, max: 6 }, { name: 'second', coef: [[1, 0], [1, 0]], min: 2 }] };
  assert.is(infeasible(both), 'budgets avg-bits <= 6, second >= 2 are infeasible together; each alone ranges avg-bits 4..8 bits, second 0..2');
  assert.is(message(() => bruteForce(both), InfeasibleBudgetError), infeasible(both));
  // a band between two reachable values (steps of 2 bits)
  assert.is(infeasible({ ...base, constraints: [{ ...c, min: 6.5, max: 7.5 }] }), "budget avg-bits in 6.5..7.5 is infeasible: no SubNet's avg-bits falls in this band (values are steps of 2)");
  const caught = (p: IlpProblem) => { try { solveIlp(glpk, p); } catch (e) { return e as InfeasibleBudgetError; } assert.unreachable('solved'); return undefined as never; };
  const err = caught({ ...base, constraints: [{ ...c, max: 3 }] });
  assert.equal(err.ranges, [{ name: 'avg-bits', min: 4, max: 8, unit: 'bits' }]);
  assert.equal(caught({ ...base, constraints: [{ ...c, min: 6.5, max: 7.5 }] }).ranges, [{ name: 'avg-bits', min: 4, max: 8, unit: 'bits' }]);
  assert.equal(caught(both).ranges, [{ name: 'avg-bits', min: 4, max: 8, unit: 'bits' }, { name: 'second', min: 0, max: 2, unit: undefined }]);
  // excluding the only feasible assignment names the added cut
  const only = { ...base, constraints: [{ ...c, min: 8 }] };
  assert.is(infeasible(excludeAssignment(only, [0, 0])), 'budgets avg-bits in 8..8, exclude <= 1 are infeasible together; each alone ranges avg-bits 4..8 bits, exclude 0..2');
  assert.is(err.name, 'InfeasibleBudgetError');
});

test('budgetRange and budgetValue: raw sums over the allowed bits, divided by scale, plus offset', () => {
  const c: LinearConstraint = { name: 'x', coef: [[10, 2], [7, 3]], scale: -2, offset: 1, max: 0 };
  // raw 5..17 → 17/−2 + 1 = −7.5 and 5/−2 + 1 = −1.5
  assert.equal(budgetRange(base, c), { name: 'x', min: -7.5, max: -1.5, unit: undefined });
  assert.equal(budgetRange({ ...base, pins: new Map([[1, 1]]) }, c), { name: 'x', min: -5.5, max: -1.5, unit: undefined });
  assert.is(budgetValue(c, [0, 1]), -5.5);
  assert.is(budgetValue({ ...c, scale: undefined, offset: undefined }, [1, 0]), 9);
});

test('isFeasible: relative tolerance 1e-9 at both bounds, and pins must hold', () => {
  const c = base.constraints[0]; // avg of [8, 8] is 8
  const at = (bounds: Partial<LinearConstraint>) => isFeasible({ ...base, constraints: [{ ...c, max: undefined, ...bounds }] }, [0, 0]);
  assert.ok(at({ max: 8 - 7e-9 }));
  assert.not.ok(at({ max: 8 - 9e-9 }));
  assert.ok(at({ min: 8 + 7e-9 }));
  assert.not.ok(at({ min: 8 + 9e-9 }));
  // near zero the tolerance is absolute 1e-9
  const z: LinearConstraint = { name: 'z', coef: [[0, 1], [0, 1]], max: -0.9e-9 };
  assert.ok(isFeasible({ ...base, constraints: [z] }, [0, 0]));
  assert.not.ok(isFeasible({ ...base, constraints: [{ ...z, max: -1.1e-9 }] }, [0, 0]));
  assert.not.ok(isFeasible({ ...base, pins: new Map([[1, 1]]) }, [0, 0]));
  assert.ok(isFeasible({ ...base, pins: new Map([[1, 1]]) }, [0, 1]));
  // checkProblem accepts a bound within the same tolerance of the reachable range
  checkProblem({ ...base, constraints: [{ ...c, max: 4 - 3e-9 }] });
  checkProblem({ ...base, constraints: [{ ...c, max: undefined, min: 8 + 3e-9 }] });
  // both tolerances are inclusive: a bound exactly 1e-9 · (largest magnitude) away is still accepted
  checkProblem({ ...base, constraints: [{ ...c, max: 4 - 8e-9 }] });
  checkProblem({ ...base, constraints: [{ ...c, max: undefined, min: 8 + 8e-9 }] });
  assert.ok(at({ max: 8 - 8e-9 }));
  assert.ok(at({ min: 8 + 8e-9 }));
  assert.throws(() => checkProblem({ ...base, constraints: [{ ...c, max: 4 - 1e-7 }] }), (e: unknown) => e instanceof InfeasibleBudgetError);
  assert.throws(() => checkProblem({ ...base, constraints: [{ ...c, max: undefined, min: 8 + 1e-7 }] }), (e: unknown) => e instanceof InfeasibleBudgetError);
});

test('integerGcd and roundBounds by hand', () => {
  assert.is(integerGcd([4, 6, 10]), 2);
  assert.is(integerGcd([-4, 6]), 2);
  assert.is(integerGcd([0, 9, 12]), 3);
  assert.is(integerGcd([0, 0]), 0);
  assert.is(integerGcd([]), 0);
  assert.is(integerGcd([4, 1.5]), 0);
  assert.is(integerGcd([4, 2 ** 53]), 0);
  assert.equal(roundBounds(3, 85.5, 2), [4, 84]);
  assert.equal(roundBounds(4, 84, 2), [4, 84]);
  assert.equal(roundBounds(-5, -1, 4), [-4, -4]);
  assert.equal(roundBounds(undefined, 85.5, 2), [undefined, 84]);
  assert.equal(roundBounds(3, undefined, 2), [4, undefined]);
  assert.equal(roundBounds(3.5, 85.5, 0), [3.5, 85.5]);
  // bounds a hair off a multiple (1e-9 relative to the bound in steps) stay on it
  assert.equal(roundBounds(4 + 1e-12, 84 - 1e-12, 2), [4, 84]);
  assert.equal(roundBounds(1001, 1999, 2), [1002, 1998]);
  // the slack is 1e-9 of the bound counted in steps (as isFeasible's tolerance is relative):
  // at 2e6 steps it is 0.002 steps, so 0.001 steps above a multiple stays on it and 0.005 does not
  assert.equal(roundBounds(4e6 + 2e-3, 8e6 - 2e-3, 2), [4e6, 8e6]);
  assert.equal(roundBounds(4e6 + 1e-2, 8e6 - 1e-2, 2), [4e6 + 2, 8e6 - 2]);
});

test('toLp: one binary per allowed bit, one-bit rows, bound types per budget form, objective scaled', () => {
  const p: IlpProblem = { ...base, sense: 'max', pins: new Map([[1, 0]]), objective: [[2, -4], [1, 3]], constraints: [
    { name: 'max', coef: [[1, 2], [3, 4]], max: 5 },
    { name: 'min', coef: [[1, 2], [3, 4]], min: 4 },
    { name: 'band', coef: [[1, 2], [3, 4]], min: 4, max: 5 },
    { name: 'fixed', coef: [[1, 2], [3, 4]], min: 5, max: 5 },
    { name: 'neg', coef: [[1, 2], [3, 4]], scale: -1, min: -5, max: -4 },
  ] };
  const lp = toLp(glpk, p);
  assert.equal(lp.binaries, ['x0_0', 'x0_1', 'x1_0']);
  assert.is(lp.objective.direction, glpk.GLP_MAX);
  assert.equal(lp.objective.vars, [{ name: 'x0_0', coef: 0.5 }, { name: 'x0_1', coef: -1 }, { name: 'x1_0', coef: 0.25 }]);
  assert.equal(lp.subjectTo.slice(0, 2).map((r) => [r.name, r.vars.map((v) => v.name), r.bnds]), [
    ['one_bit_0', ['x0_0', 'x0_1'], { type: glpk.GLP_FX, lb: 1, ub: 1 }],
    ['one_bit_1', ['x1_0'], { type: glpk.GLP_FX, lb: 1, ub: 1 }],
  ]);
  assert.equal(lp.subjectTo.slice(2).map((r) => [r.name, r.bnds]), [
    ['budget_0', { type: glpk.GLP_UP, lb: 0, ub: 5 }],
    ['budget_1', { type: glpk.GLP_LO, lb: 4, ub: 0 }],
    ['budget_2', { type: glpk.GLP_DB, lb: 4, ub: 5 }],
    ['budget_3', { type: glpk.GLP_FX, lb: 5, ub: 5 }],
    ['budget_4', { type: glpk.GLP_DB, lb: 4, ub: 5 }],
  ]);
  assert.equal(lp.subjectTo[2].vars, [{ name: 'x0_0', coef: 1 }, { name: 'x0_1', coef: 2 }, { name: 'x1_0', coef: 3 }]);
  assert.is(toLp(glpk, { ...p, sense: 'min' }).objective.direction, glpk.GLP_MIN);
  // an all-zero objective is left as is
  assert.equal(toLp(glpk, { ...p, objective: [[0, 0], [0, 0]] }).objective.vars.map((v) => v.coef), [0, 0, 0]);
});

test('polish: single-layer moves that stay feasible and strictly improve, for both senses', () => {
  const p: IlpProblem = { layers: ['a', 'b', 'c'], bits: [8, 4, 2], sense: 'min', objective: [[3, 2, 1], [3, 2, 1], [3, 2, 1]], constraints: [] };
  const free = [0, 0, 0];
  polish(p, free);
  assert.equal(free, [2, 2, 2]);
  const up = [2, 1, 2];
  polish({ ...p, sense: 'max' }, up);
  assert.equal(up, [0, 0, 0]);
  // Σ bits ≥ 14: from [8, 8, 8] (objective 9) the best single moves reach [2, 8, 4]-like mixes without leaving the budget
  const budget: LinearConstraint = { name: 'sum', coef: [[8, 4, 2], [8, 4, 2], [8, 4, 2]], min: 14 };
  const c = [0, 0, 0];
  polish({ ...p, constraints: [budget] }, c);
  assert.ok(isFeasible({ ...p, constraints: [budget] }, c));
  assert.is(objectiveValue(p, c), 6);
  // pins are kept
  const pinned = [0, 0, 0];
  polish({ ...p, pins: new Map([[1, 0]]) }, pinned);
  assert.equal(pinned, [2, 0, 2]);
  // ties do not move, for either sense
  for (const sense of ['min', 'max'] as const) {
    const tie = [0, 0, 0];
    polish({ ...p, sense, objective: [[1, 1, 1], [1, 1, 1], [1, 1, 1]] }, tie);
    assert.equal(tie, [0, 0, 0], sense);
  }
  // a move that only becomes feasible after a later layer's move needs a second pass:
  // Σ bits ≤ 12 from [4, 8]: a → 8 does not fit until b → 4 has freed the budget
  const two: IlpProblem = { layers: ['a', 'b'], bits: [8, 4], sense: 'min', objective: [[0, 1], [1, 0]], constraints: [{ name: 'sum', coef: [[8, 4], [8, 4]], max: 12 }] };
  const start = [1, 0];
  polish(two, start);
  assert.equal(start, [0, 1]);
});

test('bruteForce: the assignment limit, and no runner-up when one assignment is feasible', () => {
  const p: IlpProblem = { layers: ['a', 'b', 'c'], bits: [8, 6, 4, 2], sense: 'min', objective: [[1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]], constraints: [] };
  assert.is(message(() => bruteForce(p, 63)), 'bruteForce: 64 assignments, expected at most 63');
  assert.is(bruteForce(p, 64).best.objective, 3);
  assert.is(bruteForce(p, 64).runnerUp, 4);
  const one = { ...p, constraints: [{ name: 's', coef: [[8, 6, 4, 2], [8, 6, 4, 2], [8, 6, 4, 2]], min: 24 }] };
  assert.equal(bruteForce(one), { best: { choice: [0, 0, 0], bits: [8, 8, 8], objective: 3 }, runnerUp: undefined });
  // the runner-up may equal the optimum (a tie)
  assert.is(bruteForce({ ...p, objective: [[1, 1, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]] }).runnerUp, 3);
  const pinned = bruteForce({ ...p, pins: new Map([[0, 3]]) });
  assert.equal(pinned.best.choice, [3, 0, 0]);
  assert.is(pinned.runnerUp, 7);
});

test.run();

// after the hand-worked cases: slower, and a failure above already settles a mutant
const random = suite('random problems');

random('solveIlp and bruteForce against an independent enumeration: optimum, runner-up, feasibility of every assignment', () => {
  const rand = lcg(99);
  let [solved, infeasible] = [0, 0];
  for (let t = 0; t < 150; t++) {
    const p = randomProblem(rand);
    const all = enumerate(p);
    for (const a of all) assert.is(isFeasible(p, a.choice), a.feasible, `problem ${t}: isFeasible ${a.choice}`);
    for (const a of all) assert.is(objectiveValue(p, a.choice), a.value);
    const feasible = all.filter((a) => a.feasible).map((a) => a.value).sort((x, y) => (p.sense === 'min' ? x - y : y - x));
    if (!feasible.length) {
      assert.throws(() => bruteForce(p), (e: unknown) => e instanceof InfeasibleBudgetError);
      assert.throws(() => solveIlp(glpk, p), (e: unknown) => e instanceof InfeasibleBudgetError);
      infeasible++;
      continue;
    }
    const brute = bruteForce(p);
    assert.is(brute.best.objective, feasible[0], `problem ${t}: brute force optimum`);
    assert.is(brute.runnerUp, feasible[1], `problem ${t}: runner-up`);
    assert.equal(brute.best.bits, brute.best.choice.map((j) => p.bits[j]));
    const got = solveIlp(glpk, p);
    assert.is(got.objective, feasible[0], `problem ${t}: ILP optimum`);
    assert.ok(all.some((a) => a.feasible && a.choice.join() === got.choice.join()), `problem ${t}: ILP choice feasible`);
    assert.equal(got.bits, got.choice.map((j) => p.bits[j]));
    if (feasible.length > 1) {
      // the no-good cut removes exactly the optimum found: the next best is the runner-up
      assert.is(solveIlp(glpk, excludeAssignment(p, got.choice)).objective, feasible[1], `problem ${t}: exclusion`);
    }
    solved++;
  }
  assert.ok(solved > 90 && infeasible > 3, `${solved} solved, ${infeasible} infeasible`);
});

random.run();
