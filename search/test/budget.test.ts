import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  budgetMetric, bruteForce, InfeasibleBudgetError, integerGcd, loadGlpk, objectiveTable, parseLatencyTable,
  roundBounds, searchProblem, solveIlp, type Budget, type IlpProblem, type SearchSpace,
} from '../src/index.ts';

const glpk = await loadGlpk();

// Two layers, bits {8, 4}. t_l = hessianTrace / params = 1 for a, 2 for b; perturbation 0 at 8 bits,
// at 4 bits 1 for a and 3 for b, so the objective at 4 bits is 1 for a and 6 for b. Shapes: a is 1×64, b is 2×64 (packed rows: 64 B at 8 bits, 32 B at 4).
const space: SearchSpace = {
  bits: [8, 4],
  layers: [
    { name: 'a', params: 64, macs: 1000, hessianTrace: 64, rows: 1, cols: 64 },
    { name: 'b', params: 128, macs: 10, hessianTrace: 256, rows: 2, cols: 64 },
  ],
  perturbation: [[0, 1], [0, 3]],
  fixedBytes: 100,
  latency: new Map([['a', new Map([[8, 2], [4, 1]])], ['b', new Map([[8, 5], [4, 2]])]]),
};

function solve(budgets: Budget[], objective: 'perturbation' | 'paper' | 'authors' = 'perturbation') {
  const problem = searchProblem(space, objective, budgets);
  const got = solveIlp(glpk, problem);
  assert.equal(got.bits, bruteForce(problem).best.bits, 'ILP and brute force agree');
  return got;
}

test('avg-bits (per layer): Σ b_l / L <= budget', () => {
  assert.equal(solve([{ kind: 'avg-bits', max: 8 }]).bits, [8, 8]);
  assert.equal(solve([{ kind: 'avg-bits', max: 6 }]).bits, [4, 8]); // one layer at 8: the costlier b
  assert.equal(solve([{ kind: 'avg-bits', max: 5.99 }]).bits, [4, 4]);
  assert.is(solve([{ kind: 'avg-bits', max: 6 }]).objective, 1);
});

test('avg-bits-param: Σ n_l b_l / Σ n_l <= budget', () => {
  // [8, 4]: (64·8 + 128·4) / 192 = 5.333…; [4, 8]: (64·4 + 128·8) / 192 = 6.666…
  assert.equal(solve([{ kind: 'avg-bits-param', max: 6 }]).bits, [8, 4]);
  assert.equal(solve([{ kind: 'avg-bits-param', max: 20 / 3 }]).bits, [4, 8]);
  assert.ok(Math.abs(budgetMetric(space, 'avg-bits-param', [8, 4]) - 16 / 3) < 1e-12);
});

test('model-bytes: packed rows (16-byte aligned) plus fixed float bytes', () => {
  assert.is(budgetMetric(space, 'model-bytes', [8, 8]), 100 + 64 + 128);
  assert.is(budgetMetric(space, 'model-bytes', [4, 8]), 100 + 32 + 128);
  assert.equal(solve([{ kind: 'model-bytes', max: 260 }]).bits, [4, 8]);
  assert.equal(solve([{ kind: 'model-bytes', max: 259 }]).bits, [8, 4]); // 228 B, cost 3
  assert.equal(solve([{ kind: 'model-bytes', max: 227 }]).bits, [4, 4]);
});

test('bitops: MACs × w-bits × a-bits', () => {
  assert.is(budgetMetric(space, 'bitops', [4, 8]), 1000 * 16 + 10 * 64);
  assert.equal(solve([{ kind: 'bitops', max: 16640 }]).bits, [4, 8]);
  assert.equal(solve([{ kind: 'bitops', max: 16639 }]).bits, [4, 4]);
});

test('latency: sum of the measured per-layer table', () => {
  assert.is(budgetMetric(space, 'latency', [4, 8]), 6);
  assert.equal(solve([{ kind: 'latency', max: 6 }]).bits, [4, 8]);
  assert.equal(solve([{ kind: 'latency', max: 5.5 }]).bits, [8, 4]);
  assert.equal(solve([{ kind: 'latency', max: 3 }]).bits, [4, 4]);
});

test('budgets combine, and min turns a budget into a band', () => {
  assert.equal(solve([{ kind: 'avg-bits', max: 6 }, { kind: 'latency', max: 5.5 }]).bits, [8, 4]);
  assert.equal(solve([{ kind: 'avg-bits', min: 5, max: 6 }], 'paper').bits, [8, 4]); // paper: min Σ t_l/n_l·b_l
  assert.equal(solve([{ kind: 'avg-bits', max: 6 }], 'authors').bits, [4, 8]); // authors: max Σ t_l·b_l
});

test('objective variants: coefficients as printed and as in the authors\' code', () => {
  const paper = objectiveTable(space, 'paper');
  assert.is(paper.sense, 'min');
  assert.equal(paper.objective, [[8, 4], [16, 8]]); // tr(H)/n · b
  assert.is(objectiveTable(space, 'authors').sense, 'max');
  assert.throws(() => objectiveTable({ ...space, perturbation: undefined }, 'perturbation'), /perturbation table/);
});

test('an infeasible budget states the feasible range', () => {
  const err = (budgets: Budget[], pins?: Map<number, number>) => {
    try {
      solveIlp(glpk, searchProblem(space, 'perturbation', budgets, pins));
    } catch (e) {
      assert.instance(e, InfeasibleBudgetError);
      return (e as Error).message;
    }
    throw new Error('expected an InfeasibleBudgetError');
  };
  assert.match(err([{ kind: 'avg-bits', max: 3.5 }]), 'budget avg-bits <= 3.5 is infeasible: the feasible range of avg-bits is 4..8 bits');
  assert.match(err([{ kind: 'latency', max: 2.5 }]), 'feasible range of latency is 3..7 ms');
  assert.match(err([{ kind: 'model-bytes', min: 300 }]), 'budget model-bytes >= 300 is infeasible: the feasible range of model-bytes is 196..292 bytes');
  assert.match(err([{ kind: 'avg-bits', max: 5 }], new Map([[1, 0]])), 'with b pinned to 8 bits: the feasible range of avg-bits is 6..8 bits');
  // A band between two reachable values (avg-bits moves in steps of 2 here).
  assert.match(err([{ kind: 'avg-bits', min: 6.5, max: 7.5 }]), 'budget avg-bits in 6.5..7.5 is infeasible: no SubNet\'s avg-bits falls in this band (values are steps of 2)');
  // Each alone is reachable, together they are not.
  const both = err([{ kind: 'avg-bits', max: 4 }, { kind: 'latency', min: 6 }]);
  assert.match(both, 'are infeasible together');
  assert.match(both, 'avg-bits 4..8 bits, latency 3..7 ms');
});

test('bad inputs name the field', () => {
  assert.throws(() => searchProblem({ ...space, latency: new Map() }, 'perturbation', [{ kind: 'latency', max: 1 }]), /latency table: expected an entry for layer a at 8 bits/);
  assert.throws(() => searchProblem({ ...space, latency: undefined }, 'perturbation', [{ kind: 'latency', max: 1 }]), /no latency table given/);
  assert.throws(() => budgetMetric(space, 'avg-bits', [8]), /bits: expected 2 entries/);
  assert.throws(() => budgetMetric(space, 'avg-bits', [8, 5]), /bits\[1\]: expected one of 8, 4, got 5/);
  const p: IlpProblem = { ...searchProblem(space, 'perturbation', [{ kind: 'avg-bits', max: 8 }]) };
  assert.throws(() => solveIlp(glpk, { ...p, objective: [[0, 1]] }), /objective: expected 2 rows/);
  assert.throws(() => solveIlp(glpk, { ...p, objective: [[0, NaN], [0, 1]] }), /objective\[0\]\[1\] \(a at 4 bits\): expected a finite number/);
  assert.throws(() => solveIlp(glpk, { ...p, pins: new Map([[5, 0]]) }), /pins: layer index/);
});

test('parseLatencyTable validates rows and averages repeated measurements', () => {
  const t = parseLatencyTable([{ layer: 'a', bits: 8, ms: 1 }, { layer: 'a', bits: 8, ms: 3 }, { layer: 'b', bits: 4, ms: 0.5 }]);
  assert.is(t.get('a')!.get(8), 2);
  assert.is(t.get('b')!.get(4), 0.5);
  assert.throws(() => parseLatencyTable({}, 't.json'), /t\.json: expected a JSON array/);
  assert.throws(() => parseLatencyTable([{ layer: 'a', bits: 8.5, ms: 1 }], 't.json'), /t\.json\[0\]\.bits: expected an integer/);
  assert.throws(() => parseLatencyTable([{ layer: 'a', bits: 8, ms: -1 }], 't.json'), /t\.json\[0\]\.ms/);
  assert.throws(() => parseLatencyTable([{ bits: 8, ms: 1 }], 't.json'), /t\.json\[0\]\.layer/);
});

test('GCD bound tightening keeps every integer point and only cuts fractional slack', () => {
  assert.is(integerGcd([8, 6, 4, 2, 16]), 2);
  assert.is(integerGcd([8, 6.5]), 0);
  assert.equal(roundBounds(undefined, 85.5, 2), [undefined, 84]);
  assert.equal(roundBounds(3, 84, 2), [4, 84]);
  assert.equal(roundBounds(4, 84.0000000001, 2), [4, 84]);
  assert.equal(roundBounds(1.5, 2.5, 0), [1.5, 2.5]);
});

test.run();
