// A sensitivity section with a deliberately noisy layer (a negative trace within noise of zero,
// as Hutchinson gives for a layer whose true trace is small): the search must not reward its
// quantization error.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelFile, writeModelFile } from '@bitswitch/format/node';
import type { LayerSensitivity, Model } from '@bitswitch/format';
import { runSearch } from '../src/run.ts';
import {
  budgetMetric, includesZero, loadGlpk, objectiveTable, objectiveValue, parseBudgetValues, searchProblem,
  searchSpaceFromModel, solveIlp, sweepSubNets, type SearchSpace,
} from '../src/index.ts';
import { resnet20Convs, syntheticModel } from './fixtures.ts';

const glpk = await loadGlpk();
const NOISY = 7;

/** 8 quantized convs (ResNet-8-sized), bits [8, 6, 4, 2]; the last one's trace is -2.25 ± se. */
function noisyModel(se: number | undefined): Model {
  const model = syntheticModel(resnet20Convs().slice(0, 8), [8, 6, 4, 2], 3);
  model.sensitivity = model.sensitivity!.map((s, l): LayerSensitivity => (l === NOISY
    ? { ...s, hessianTrace: -2.25, ...(se === undefined ? {} : { hessianTraceStdErr: se, probes: 8 }) }
    : { ...s, hessianTraceStdErr: 0.05 * Math.abs(s.hessianTrace), probes: 40 }));
  return model;
}

/** Objective of the swept optima (names without a pin), in budget order. */
function frontier(space: SearchSpace, subnets: { name: string; bits: number[]; budget: Record<string, number> }[]) {
  const { objective } = searchProblem(space, 'perturbation', []);
  return subnets.filter((s) => !s.name.includes('/')).map((s) => ({
    budget: s.budget['avg-bits'], bits: s.bits,
    objective: objectiveValue({ objective } as never, s.bits.map((b) => space.bits.indexOf(b))),
  }));
}

for (const se of [1.23, undefined]) {
  const what = se === undefined ? 'no std error (a 1.0 file)' : `std error ${se}`;
  test(`noisy layer (trace -2.25, ${what}): the 8-bit budget gives all 8 bits and the frontier is monotone`, async () => {
    const model = noisyModel(se);
    const space = searchSpaceFromModel(model);
    const noisy = space.layers[NOISY]!;
    assert.ok(noisy.hessianTrace < 0);
    if (se !== undefined) assert.ok(includesZero(noisy), 'the estimate is within noise of zero');
    // The raw estimate as a coefficient: the unbounded objective rewards this layer's error, so an
    // ILP on it puts the layer at 2 bits even under the 8-bit budget (what this test guards against).
    const raw = searchProblem(space, 'perturbation', [{ kind: 'avg-bits', max: 8 }]);
    raw.objective = space.layers.map((l, i) => space.bits.map((_, j) => (l.hessianTrace / l.params) * space.perturbation![i]![j]!));
    assert.is(solveIlp(glpk, raw).bits[NOISY], 2, 'raw traces reward quantization error');

    const at8 = solveIlp(glpk, searchProblem(space, 'perturbation', [{ kind: 'avg-bits', max: 8 }]));
    assert.equal(at8.bits, Array(8).fill(8));
    assert.ok(objectiveTable(space, 'perturbation').objective[NOISY]!.slice(1).every((c) => c > 0), 'every lower bit of the noisy layer costs');

    const { subnets } = await sweepSubNets(space, { sweep: { kind: 'avg-bits', values: parseBudgetValues('2..8:1') } });
    const front = frontier(space, subnets);
    assert.equal(front[front.length - 1]!.bits, Array(8).fill(8));
    for (let i = 1; i < front.length; i++) {
      assert.ok(front[i]!.budget > front[i - 1]!.budget);
      assert.ok(front[i]!.objective <= front[i - 1]!.objective, `objective rises from ${front[i - 1]!.objective} at ${front[i - 1]!.budget} to ${front[i]!.objective} at ${front[i]!.budget}`);
    }
    for (const s of subnets) assert.ok(budgetMetric(space, 'avg-bits', s.bits) <= s.budget['avg-bits']! + 1e-12);
  });
}

test('bitswitch search on a model file with a noisy layer: avg-bits<=8 is all 8 bits', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-noisy-'));
  try {
    const path = join(dir, 'noisy.bsw');
    writeModelFile(path, noisyModel(1.23));
    const lines: string[] = [];
    await runSearch(path, { budget: ['avg-bits=2..8:1'], pin: false }, (l) => lines.push(l));
    const subnets = readModelFile(path).subnets!;
    assert.equal(subnets.find((s) => s.name === 'avg-bits<=8')?.bits, Array(8).fill(8));
    assert.ok(lines.some((l) => /avg-bits<=8 +\[8,8,8,8,8,8,8,8\] +avg 8\.000/.test(l)), lines.join('\n'));
    const notes = lines.filter((l) => l.startsWith('note: '));
    assert.is(notes.length, 1, notes.join('\n'));
    assert.match(notes[0]!, /^note: s1b0c1: tr\(H\) -2\.250e\+0 ± 1\.23e\+0 is not distinguishable from zero; its sensitivity is bounded below at [0-9.]+e-\d+ per parameter$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
