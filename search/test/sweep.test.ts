import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  budgetMetric, bruteForce, InfeasibleBudgetError, parseBudgetSpec, parseBudgetValues, searchProblem,
  searchSpaceFromModel, sweepSubNets,
} from '../src/index.ts';
import { resnet20Convs, syntheticModel } from './fixtures.ts';

// 5 quantized layers × 4 bits: small enough to check every ILP against brute force.
const space = searchSpaceFromModel(syntheticModel(resnet20Convs().slice(0, 5), [8, 6, 4, 2], 7));
const values = parseBudgetValues('2..8:0.5');

test('Algorithm 2: distinct SubNets, each within its budget, each an optimum of its (pinned) ILP', async () => {
  const { subnets, solves, reused, infeasiblePins } = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values } });
  const keys = subnets.map((s) => s.bits.join(','));
  assert.is(new Set(keys).size, keys.length, 'bit lists are distinct');
  assert.is(solves + reused, values.length * (1 + space.layers.length * (space.bits.length - 1)));
  assert.ok(reused > 0 && solves > reused, `solved ${solves}, reused ${reused}`);
  assert.ok(subnets.length > values.length, `pinning adds SubNets: ${subnets.length}`);
  for (const s of subnets) {
    const value = s.budget['avg-bits'];
    assert.ok(values.includes(value));
    assert.ok(budgetMetric(space, 'avg-bits', s.bits) <= value + 1e-12, `${s.name}: ${s.bits} over budget`);
    // Name says which ILP found it: "avg-bits<=V" or "avg-bits<=V/LAYER@B".
    const m = /^avg-bits<=([\d.]+)(?:\/(.+)@(\d+))?$/.exec(s.name);
    assert.ok(m, s.name);
    const pins = new Map<number, number>();
    if (m![2]) {
      const l = space.layers.findIndex((x) => x.name === m![2]);
      assert.is(s.bits[l], Number(m![3]));
      pins.set(l, space.bits.indexOf(Number(m![3])));
    }
    const problem = searchProblem(space, 'perturbation', [{ kind: 'avg-bits', max: value }], pins);
    const best = bruteForce(problem).best.objective;
    const got = s.bits.reduce((sum, b, l) => sum + problem.objective[l][space.bits.indexOf(b)], 0);
    assert.ok(Math.abs(got - best) <= 1e-9 * Math.max(1, best), `${s.name}: objective ${got}, optimum ${best}`);
  }
  // At the lowest budget every layer is at 2 bits and no pin fits; at the highest all pins fit.
  assert.ok(infeasiblePins >= space.layers.length * (space.bits.length - 1));
  assert.ok(subnets.some((s) => s.bits.every((b) => b === 2)));
  assert.ok(subnets.some((s) => s.bits.every((b) => b === 8)));
});

test('without pinning: one SubNet per distinct sweep optimum', async () => {
  const { subnets, solves, reused } = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values }, pinned: false });
  assert.is(solves + reused, values.length);
  assert.ok(subnets.length <= values.length);
  assert.is(new Set(subnets.map((s) => s.bits.join())).size, subnets.length);
});

test('reusing a larger cap\'s optimum changes nothing: same SubNets as solving every value on its own', async () => {
  const all = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values } });
  const one = (await Promise.all(values.map((v) => sweepSubNets(space, { sweep: { kind: 'avg-bits', values: [v] } })))).flatMap((r) => r.subnets);
  const objective = (bits: number[], v: number) => {
    const p = searchProblem(space, 'perturbation', [{ kind: 'avg-bits', max: v }]);
    return bits.reduce((s, b, l) => s + p.objective[l][space.bits.indexOf(b)], 0);
  };
  // Same optimal values per (budget, pin) — ties may pick different bit lists, so compare objectives.
  const byName = (list: typeof one) => new Map(list.map((s) => [s.name, objective(s.bits, s.budget['avg-bits'])]));
  const a = byName(all.subnets), b = byName(one);
  for (const [name, v] of a) if (b.has(name)) assert.ok(Math.abs(v - b.get(name)!) <= 1e-9 * Math.max(1, v), name);
  assert.equal(new Set(all.subnets.map((s) => s.bits.join())), new Set(one.map((s) => s.bits.join())));
});

test('fixed budgets hold at every sweep point and are recorded', async () => {
  const cap = 0.5 * (budgetMetric(space, 'bitops', space.layers.map(() => 8)) + budgetMetric(space, 'bitops', space.layers.map(() => 2)));
  const { subnets } = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values: [4, 6, 8] }, fixed: [{ kind: 'bitops', max: cap }] });
  for (const s of subnets) {
    assert.ok(budgetMetric(space, 'bitops', s.bits) <= cap);
    assert.is(s.budget.bitops, cap);
  }
});

test('a band keeps each SubNet within [value − band, value]', async () => {
  const { subnets } = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values: [4, 5, 6], band: 0.5 }, objective: 'paper' });
  for (const s of subnets) {
    const avg = budgetMetric(space, 'avg-bits', s.bits);
    assert.ok(avg <= s.budget['avg-bits'] + 1e-12 && avg >= s.budget['avg-bits'] - 0.5 - 1e-12, `${s.name}: ${avg}`);
  }
});

test('infeasible sweep values are skipped and reported; a sweep with none feasible fails with the feasible range', async () => {
  const r = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values: [1, 1.5, 4] } });
  assert.equal(r.infeasible.values, [1, 1.5]);
  assert.match(r.infeasible.reason, 'feasible range of avg-bits is 2..8 bits');
  assert.equal(r.subnets, (await sweepSubNets(space, { sweep: { kind: 'avg-bits', values: [4] } })).subnets);
  try {
    await sweepSubNets(space, { sweep: { kind: 'avg-bits', values: [1, 1.5] } });
    assert.unreachable();
  } catch (e) {
    assert.instance(e, InfeasibleBudgetError);
    assert.match((e as Error).message, 'feasible range of avg-bits is 2..8 bits');
  }
});

test('budget specs parse ranges and name bad fields', () => {
  assert.equal(parseBudgetValues('3..4:0.25'), [3, 3.25, 3.5, 3.75, 4]);
  assert.equal(parseBudgetValues('5'), [5]);
  assert.equal(parseBudgetValues('1..3'), [1, 2, 3]);
  assert.equal(parseBudgetValues('0.1..0.3:0.1'), [0.1, 0.2, 0.3]);
  assert.equal(parseBudgetSpec('latency=1.5e1'), { kind: 'latency', values: [15] });
  assert.throws(() => parseBudgetSpec('speed=3'), /--budget: expected KIND=VALUES with KIND one of avg-bits/);
  assert.throws(() => parseBudgetSpec('avg-bits=x..4'), /--budget avg-bits: expected FROM to be a number, got "x"/);
  assert.throws(() => parseBudgetValues('4..3'), /FROM <= TO/);
  assert.throws(() => parseBudgetValues('3..4:-1'), /STEP > 0/);
});

test.run();
