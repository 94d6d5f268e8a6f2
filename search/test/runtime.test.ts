// The search against the runtime package's real outputs: its latency table and its Runtime as a classifier.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { tinyModel } from '@bitswitch/format';
import { createRuntime, measureLayerLatency, randomImages } from '@bitswitch/runtime';
import {
  accuracyEvaluator, budgetMetric, parseLatencyTable, parseBudgetValues, searchSpaceFromModel, sweepSubNets,
} from '../src/index.ts';

const model = tinyModel();

test('a latency table from measureLayerLatency drives the latency budget', async () => {
  const rt = await createRuntime(model, { backend: 'ts-scalar' });
  const rows = measureLayerLatency(rt, { minMs: 1 });
  const table = parseLatencyTable(JSON.parse(JSON.stringify(rows)), 'measureLayerLatency');
  const space = searchSpaceFromModel(model, table);
  const all8 = budgetMetric(space, 'latency', space.layers.map(() => 8));
  const all2 = budgetMetric(space, 'latency', space.layers.map(() => 2));
  const cap = Math.max(all8, all2); // always reachable, whichever precision is faster here
  const { subnets } = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values: parseBudgetValues('2..8:1') }, fixed: [{ kind: 'latency', max: cap }] });
  assert.ok(subnets.length > 0);
  for (const s of subnets) assert.ok(budgetMetric(space, 'latency', s.bits) <= cap * (1 + 1e-9));
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
