// Bounded sensitivities and the search's properties on random problems (fast-check, fixed seed so
// a failure reproduces; the counterexample is printed shrunk).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import {
  BUDGET_KINDS, boundedSensitivities, budgetMetric, confidenceInterval, includesZero, InfeasibleBudgetError, isFeasible,
  layerSensitivities, loadGlpk, objectiveTable, sectionSensitivities, searchProblem, solveIlp,
  type Budget, type BudgetKind, type ObjectiveKind, type SearchSpace,
} from '../src/index.ts';

const glpk = await loadGlpk();
const PARAMS = { seed: 20261129, numRuns: 60 };

/** fc.assert with the failing run's own error in the message, next to the shrunk counterexample. */
function holds(property: fc.IProperty<any>): void {
  const r = fc.check(property, PARAMS);
  if (r.failed) throw new Error(`counterexample ${fc.stringify(r.counterexample)} (seed ${r.seed}, path ${r.counterexamplePath}): ${r.errorInstance instanceof Error ? r.errorInstance.message : String(r.errorInstance)}`);
}

test('boundedSensitivities: upper confidence bound per parameter, floored at 1e-3 of the largest', () => {
  assert.equal(boundedSensitivities([{ hessianTrace: 4, params: 2 }, { hessianTrace: -2.25, hessianTraceStdErr: 1.23, params: 1 }])
    .map((x) => Number(x.toFixed(12))), [2, 0.21]);
  assert.equal(boundedSensitivities([{ hessianTrace: 4, params: 2 }, { hessianTrace: -2.25, hessianTraceStdErr: 1, params: 1 }]), [2, 0.002]);
  // No std error (a 1.0 file): the bound is the estimate itself.
  assert.equal(boundedSensitivities([{ hessianTrace: 6, params: 3 }, { hessianTrace: 10, params: 5 }]), [2, 2]);
  // Nothing positive: every layer alike.
  assert.equal(boundedSensitivities([{ hessianTrace: -1, params: 3 }, { hessianTrace: 0, params: 5 }]), [1, 1]);
  assert.equal(confidenceInterval({ hessianTrace: -2.25, hessianTraceStdErr: 1.25 }), [-4.75, 0.25]);
  assert.ok(includesZero({ hessianTrace: -2.25, hessianTraceStdErr: 1.23 }));
  assert.not.ok(includesZero({ hessianTrace: -2.25, hessianTraceStdErr: 1.1 }));
  assert.ok(includesZero({ hessianTrace: 0 }));
  assert.not.ok(includesZero({ hessianTrace: 1e-9 }));
});

test('boundedSensitivities names bad fields', () => {
  assert.throws(() => boundedSensitivities([]), /sensitivity: expected at least one layer, got 0/);
  assert.throws(() => boundedSensitivities([{ hessianTrace: NaN, params: 1 }]), /sensitivity\[0\]\.hessianTrace: expected a finite number, got NaN/);
  assert.throws(() => boundedSensitivities([{ hessianTrace: 1, params: 1 }, { hessianTrace: 1, hessianTraceStdErr: -1, params: 1 }]),
    /sensitivity\[1\]\.hessianTraceStdErr: expected a finite number >= 0, got -1/);
  assert.throws(() => boundedSensitivities([{ hessianTrace: 1, params: 0 }]), /sensitivity\[0\]\.params: expected a number > 0, got 0/);
  assert.throws(() => sectionSensitivities([{ layer: 'a', hessianTrace: 1, params: 1 }], ['b']), /expected an entry for quantized layer b/);
});

/** A double in [min, max] with magnitudes below 1e-6 flushed to 0 (traces are not subnormal). */
const real = (min: number, max: number) => fc.double({ min, max, noNaN: true }).map((x) => (Math.abs(x) < 1e-6 ? 0 : x));

const estimate = fc.record({
  hessianTrace: real(-50, 50),
  hessianTraceStdErr: fc.option(real(0, 30), { nil: undefined }),
  params: fc.integer({ min: 1, max: 5000 }),
});

test('property: every bounded sensitivity is positive and at least its upper confidence bound', () => {
  holds(fc.property(fc.array(estimate, { minLength: 1, maxLength: 8 }), (es) => {
    const s = boundedSensitivities(es);
    es.forEach((e, l) => {
      assert.ok(s[l] > 0, `s[${l}] = ${s[l]}`);
      assert.ok(s[l] >= confidenceInterval(e)[1] / e.params, `s[${l}] below its bound`);
    });
  }));
});

const BIT_LISTS = [[8, 6, 4, 2], [8, 4, 2], [4, 3, 2], [8, 4]];

/** A random search space: traces of any sign with or without std errors, perturbation 0 at the highest bit and rising as bits fall. */
const spaceArb = fc.record({
  bits: fc.constantFrom(...BIT_LISTS),
  layers: fc.array(fc.record({
    est: estimate, rows: fc.integer({ min: 1, max: 16 }), cols: fc.integer({ min: 1, max: 64 }),
    macs: fc.integer({ min: 1, max: 100000 }),
    steps: fc.array(real(1e-3, 100), { minLength: 3, maxLength: 3 }),
    ms: fc.array(real(0, 5), { minLength: 4, maxLength: 4 }),
  }), { minLength: 1, maxLength: 5 }),
}).map(({ bits, layers }): SearchSpace => ({
  bits,
  layers: layers.map((l, i) => ({
    name: `l${i}`, params: l.rows * l.cols, macs: l.macs, rows: l.rows, cols: l.cols,
    hessianTrace: l.est.hessianTrace, ...(l.est.hessianTraceStdErr === undefined ? {} : { hessianTraceStdErr: l.est.hessianTraceStdErr }),
  })),
  perturbation: layers.map((l) => bits.map((_, j) => l.steps.slice(0, j).reduce((a, b) => a + b, 0))),
  fixedBytes: 64,
  latency: new Map(layers.map((l, i) => [`l${i}`, new Map(bits.map((b, j) => [b, l.ms[j]!]))])),
}));

/** The budget value at fraction f of the way from the smallest to the largest reachable value. */
function budgetAt(space: SearchSpace, kind: BudgetKind, f: number): number {
  const lo = budgetMetric(space, kind, space.layers.map((_, l) => space.bits[argBest(space, kind, l, Math.min)]!));
  const hi = budgetMetric(space, kind, space.layers.map((_, l) => space.bits[argBest(space, kind, l, Math.max)]!));
  return lo + (hi - lo) * f;
}

function argBest(space: SearchSpace, kind: BudgetKind, l: number, pick: (...x: number[]) => number): number {
  const values = space.bits.map((b) => budgetMetric({ ...space, layers: [space.layers[l]!], latency: space.latency }, kind, [b]) - (kind === 'model-bytes' ? space.fixedBytes! : 0));
  return values.indexOf(pick(...values));
}

function solve(space: SearchSpace, objective: ObjectiveKind, budgets: Budget[]) {
  try {
    return solveIlp(glpk, searchProblem(space, objective, budgets));
  } catch (e) {
    if (e instanceof InfeasibleBudgetError) return undefined;
    throw e;
  }
}

/**
 * a is worse than b beyond the solver's tolerance: GLPK is exact up to ~1e-7 of the largest
 * objective coefficient (ilp.ts scales the objective to 1), so differences below 1e-6 of it are ties.
 */
function worse(space: SearchSpace, objective: ObjectiveKind, a: number, b: number): boolean {
  const { sense, objective: table } = objectiveTable(space, objective);
  const tol = 1e-6 * Math.max(...table.flat().map(Math.abs));
  return sense === 'min' ? a > b + tol : a < b - tol;
}

test('property: with no binding budget every layer takes its highest bit (perturbation and authors objectives)', () => {
  holds(fc.property(spaceArb, fc.constantFrom<ObjectiveKind>('perturbation', 'authors'), (space, objective) => {
    for (const budgets of [[], [{ kind: 'avg-bits', max: space.bits[0]! }]] as Budget[][]) {
      const got = solve(space, objective, budgets)!;
      assert.equal(got.bits, space.layers.map(() => space.bits[0]), `${objective}, budgets ${JSON.stringify(budgets)}`);
    }
  }));
});

test('property: a larger budget never gives a worse objective, and every answer meets every budget', () => {
  const kinds = BUDGET_KINDS;
  holds(fc.property(spaceArb, fc.constantFrom(...kinds), fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }),
    fc.constantFrom<ObjectiveKind>('perturbation', 'authors'), (space, kind, f1, f2, objective) => {
      const [small, large] = [budgetAt(space, kind, Math.min(f1, f2)), budgetAt(space, kind, Math.max(f1, f2))];
      const a = solve(space, objective, [{ kind, max: small }]);
      const b = solve(space, objective, [{ kind, max: large }]);
      assert.ok(a && b, 'a budget between the reachable extremes is feasible');
      assert.ok(budgetMetric(space, kind, a.bits) <= small * (1 + 1e-9) + 1e-9, `${kind} ${budgetMetric(space, kind, a.bits)} > ${small}`);
      assert.ok(budgetMetric(space, kind, b.bits) <= large * (1 + 1e-9) + 1e-9);
      assert.not.ok(worse(space, objective, b.objective, a.objective), `budget ${large}: ${b.objective} worse than ${a.objective} at ${small}`);
    }));
});

test('property: several budgets together are all met (or the ILP says infeasible and no assignment meets them)', () => {
  holds(fc.property(spaceArb, fc.subarray([...BUDGET_KINDS], { minLength: 1 }), fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 5, maxLength: 5 }),
    (space, kinds, fs) => {
      const budgets: Budget[] = kinds.map((kind, i) => ({ kind, max: budgetAt(space, kind, fs[i]!) }));
      const problem = searchProblem(space, 'perturbation', budgets);
      const got = solve(space, 'perturbation', budgets);
      if (got) {
        assert.ok(isFeasible(problem, got.choice));
        for (const b of budgets) assert.ok(budgetMetric(space, b.kind, got.bits) <= b.max! * (1 + 1e-9) + 1e-9, `${b.kind}`);
      } else {
        // Exhaustive check that nothing is feasible (at most 4^5 assignments).
        const n = space.bits.length, L = space.layers.length;
        for (let k = 0; k < n ** L; k++) {
          const choice = space.layers.map((_, l) => Math.floor(k / n ** l) % n);
          assert.not.ok(isFeasible(problem, choice), `feasible assignment ${choice} missed`);
        }
      }
    }));
});

test('property: adding a latency or BitOps budget never loosens another budget or improves the objective', () => {
  holds(fc.property(spaceArb, fc.constantFrom<BudgetKind>('avg-bits', 'model-bytes', 'avg-bits-param'), fc.constantFrom<BudgetKind>('latency', 'bitops'),
    fc.double({ min: 0, max: 1, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (space, base, extra, f1, f2) => {
      const first: Budget = { kind: base, max: budgetAt(space, base, f1) };
      const added: Budget = { kind: extra, max: budgetAt(space, extra, f2) };
      const a = solve(space, 'perturbation', [first])!;
      const b = solve(space, 'perturbation', [first, added]);
      if (!b) return; // the two caps cannot be met together: nothing to compare
      assert.ok(budgetMetric(space, base, b.bits) <= first.max! * (1 + 1e-9) + 1e-9, `${base} loosened by ${extra}`);
      assert.ok(budgetMetric(space, extra, b.bits) <= added.max! * (1 + 1e-9) + 1e-9);
      assert.not.ok(worse(space, 'perturbation', a.objective, b.objective), `adding ${extra} improved the objective: ${b.objective} < ${a.objective}`);
    }));
});

test('property: the roulette and the ILP read the same sensitivities', () => {
  holds(fc.property(spaceArb, (space) => {
    const section = space.layers.map((l) => ({ layer: l.name, hessianTrace: l.hessianTrace, hessianTraceStdErr: l.hessianTraceStdErr, params: l.params, macs: l.macs }));
    const s = sectionSensitivities(section, space.layers.map((l) => l.name));
    assert.equal(layerSensitivities(space), s);
    const authors = objectiveTable(space, 'authors').objective;
    const perturbation = objectiveTable(space, 'perturbation').objective;
    space.layers.forEach((_, l) => space.bits.forEach((b, j) => {
      assert.is(authors[l]![j], s[l]! * b);
      assert.is(perturbation[l]![j], s[l]! * space.perturbation![l]![j]!);
    }));
  }));
});

test.run();
