// The search against the runtime package's real outputs: its latency table and its Runtime as a classifier.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tinyModel } from '@bitswitch/format';
import { createRuntime, measureLayerLatency, randomImages } from '@bitswitch/runtime';
import {
  accuracyEvaluator, bruteForce, budgetMetric, loadGlpk, objectiveValue, parseLatencyTable, parseBudgetValues, searchProblem, searchSpaceFromModel,
  solveIlp, sweepSubNets,
} from '../src/index.ts';

const model = tinyModel();

test('a latency table from measureLayerLatency drives the latency budget', async () => {
  const rt = await createRuntime(model, { backend: 'ts-scalar' });
  const rows = measureLayerLatency(rt, { minMs: 1 });
  const table = parseLatencyTable(JSON.parse(JSON.stringify(rows)), 'measureLayerLatency');
  const space = searchSpaceFromModel(model, table);
  // The median latency over all 4^4 SubNets: reachable, and about half the SubNets exceed it,
  // whichever precision happens to be faster on this machine.
  const all = Array.from({ length: space.bits.length ** space.layers.length }, (_, k) =>
    space.layers.map((_l, l) => space.bits[Math.floor(k / space.bits.length ** l) % space.bits.length]!));
  const latencies = all.map((bits) => budgetMetric(space, 'latency', bits)).sort((a, b) => a - b);
  const cap = latencies[latencies.length >> 1]!;
  assert.ok(latencies[latencies.length - 1]! > cap, 'the cap excludes some SubNets');
  // The ILP under the cap alone (avg-bits <= 8 does not bind) agrees with brute force over the measured table.
  const problem = searchProblem(space, 'perturbation', [{ kind: 'avg-bits', max: 8 }, { kind: 'latency', max: cap }]);
  const glpk = await loadGlpk();
  const got = solveIlp(glpk, problem);
  const best = bruteForce(problem).best;
  assert.ok(Math.abs(got.objective - best.objective) <= 1e-9 * Math.max(1, best.objective), `ILP ${got.objective} vs brute force ${best.objective}`);
  assert.ok(budgetMetric(space, 'latency', got.bits) <= cap * (1 + 1e-9));
  const { subnets } = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values: parseBudgetValues('2..8:1') }, fixed: [{ kind: 'latency', max: cap }] });
  assert.ok(subnets.length > 0);
  for (const s of subnets) assert.ok(budgetMetric(space, 'latency', s.bits) <= cap * (1 + 1e-9), `${s.name} exceeds the latency cap`);
  // The sweep's best swept optimum (at avg-bits <= 8) reaches the capped optimum found above.
  const swept = subnets.filter((s) => !s.name.includes('/')).map((s) => objectiveValue(problem, s.bits.map((b) => space.bits.indexOf(b))));
  assert.ok(Math.abs(Math.min(...swept) - best.objective) <= 1e-9 * Math.max(1, best.objective));
});

test('the runtime is a Classifier: accuracy against its own 8-bit predictions is 1 at 8 bits', async () => {
  const rt = await createRuntime(model, { backend: 'ts-scalar' });
  const count = 16;
  const images = randomImages(model.inputShape, count, 5);
  const labels = rt.classify(images, count); // at the highest bit
  const evaluate = accuracyEvaluator({ images, labels, count }, () => rt, 5);
  const q = searchSpaceFromModel(model).layers.length;
  assert.is(await evaluate(model, Array(q).fill(8)), 1);
  const low = await evaluate(model, Array(q).fill(2));
  assert.ok(low >= 0 && low <= 1);
});

test.run();
