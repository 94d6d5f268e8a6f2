import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { layerCosts, readModel, tinyModel, weightBytes, writeModel, type IntWeights } from '@bitswitch/format';
import { budgetMetric, searchSpaceFromModel, weightPerturbation } from '../src/index.ts';
import { resnet20Convs, syntheticModel } from './fixtures.ts';
import { readCases } from './vectors.ts';

const intWeights = (values: number[], scale: number[], bits = 8): IntWeights =>
  ({ kind: 'int', bits, values: Int8Array.from(values), scale: Float32Array.from(scale), actScales: new Float32Array(4) });

test('weightPerturbation: ‖Ŵ_h − Ŵ_l‖² by hand, with ties and clipping', () => {
  // l = 6: W̃_h/4 = 2.5 → 2, -0.75 → -1, 31.75 → 32 → clip 31, -32; Ŵ_6 = W̃_6 · 0.5 · 4, Ŵ_8 = W̃_8 · 0.5.
  // Differences 5-4, -1.5+2, 63.5-62, -64+64 → 1 + 0.25 + 2.25 + 0.
  assert.is(weightPerturbation(intWeights([10, -3, 127, -128], [0.5]), 1, 6), 3.5);
  assert.is(weightPerturbation(intWeights([10, -3, 127, -128], [0.5]), 1, 8), 0);
  // Per output channel: rows [10, -3] (s 0.5) and [127, -128] (s 1): 1 + 0.25 + (127-124)² + 0.
  assert.is(weightPerturbation(intWeights([10, -3, 127, -128], [0.5, 1]), 2, 6), 10.25);
});

test('weightPerturbation matches every case of double_rounding.json', () => {
  interface DrCase { h: number; scale: number; wh: number[]; low: Record<string, { wl: number[]; dequant: number[] }> }
  const { cases } = readCases<DrCase>('double_rounding.json');
  assert.ok(cases.length > 0);
  for (const c of cases) {
    for (const [l, { dequant }] of Object.entries(c.low)) {
      const want = c.wh.reduce((s, wh, i) => s + (wh * c.scale - dequant[i]) ** 2, 0);
      const got = weightPerturbation(intWeights(c.wh, [c.scale], c.h), 1, Number(l));
      assert.ok(Math.abs(got - want) <= 1e-6 * Math.max(want, 1e-12), `h ${c.h} l ${l}: ${got} vs ${want}`);
    }
  }
});

test('searchSpaceFromModel: layers in graph order, shapes, MACs, fixed float bytes, perturbation falls with bits', () => {
  const model = syntheticModel(resnet20Convs(), [8, 6, 4, 2]);
  const space = searchSpaceFromModel(model);
  assert.is(space.layers.length, 19);
  assert.equal(space.layers.map((l) => l.name), model.sensitivity!.map((s) => s.layer));
  assert.equal([space.layers[0].rows, space.layers[0].cols], [16, 144]);
  assert.is(space.fixedBytes, 4 * (16 * 27 + 64 * 10));
  for (const row of space.perturbation!) {
    assert.is(row[0], 0); // 8 bits = h: no perturbation
    for (let j = 1; j < row.length; j++) assert.ok(row[j] > row[j - 1], `perturbation not increasing: ${row}`);
  }
  assert.is(budgetMetric(space, 'avg-bits', space.layers.map(() => 4)), 4);
  // The fixture is a valid model file (the format's writer validates it) with the graph's MACs.
  const back = readModel(writeModel(model));
  assert.equal(layerCosts(back).filter((c) => c.quantized).map((c) => c.macs), model.sensitivity!.map((s) => s.macs));
});

test('model-bytes and MACs agree with the format package (weightBytes, layerCosts) on its tiny model', () => {
  const model = tinyModel();
  const space = searchSpaceFromModel(model);
  const costs = layerCosts(model).filter((c) => c.quantized);
  assert.equal(space.layers.map((l) => l.macs), costs.map((c) => c.macs));
  for (const bits of [[8, 8, 8, 8], [8, 4, 2, 2], [2, 6, 4, 8]]) {
    assert.is(budgetMetric(space, 'model-bytes', bits), weightBytes(model, bits));
  }
});

test('searchSpaceFromModel names what is missing', () => {
  const model = syntheticModel(resnet20Convs().slice(0, 3), [8, 4]);
  assert.throws(() => searchSpaceFromModel({ ...model, sensitivity: undefined }), /model\.sensitivity: expected one entry per quantized layer/);
  assert.throws(() => searchSpaceFromModel({ ...model, sensitivity: model.sensitivity!.slice(1) }), /expected an entry for quantized layer s0b0c0/);
  const wrong = model.sensitivity!.map((s, i) => (i === 1 ? { ...s, params: 7 } : s));
  assert.throws(() => searchSpaceFromModel({ ...model, sensitivity: wrong }), /sensitivity\[s0b0c1\]\.params: expected 2304, got 7/);
});

test.run();
