import { test } from 'uvu';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { quantizedLayers, readModel, tinyModelV11, writeModel } from '@bitswitch/format';
import { layerSensitivities, objectiveTable, searchSpaceFromModel, sectionSensitivities } from '@bitswitch/search';
import { rouletteProbabilities } from '../src/math/roulette.ts';
import type { Dataset } from '../src/data/datasets.ts';
import { sampleLayerBits, switchProbability, SupernetTrainer } from '../src/loops/supernet.ts';
import { InterruptedError } from '../src/loops/train.ts';
import { resolveSupernetRecipe, type SupernetRecipe } from '../src/loops/supernet-recipe.ts';
import { smallCnn } from '../src/nn/models.ts';
import { Network } from '../src/nn/network.ts';
import { Rng, deriveRng } from '../src/math/rng.ts';
import { SuperNetwork } from '../src/nn/supernet.ts';
import { networkToModel } from '../src/io/export.ts';

await tf.setBackend('cpu');

test('σ_e = σ · (e + 1) / E grows linearly to σ', async () => {
  assert.equal([0, 1, 2, 3].map((e) => switchProbability(0.5, e, 4)), [0.125, 0.25, 0.375, 0.5]);
  assert.is(switchProbability(1, 0, 1), 1);
  assert.is(switchProbability(0, 2, 3), 0);
  assert.throws(() => switchProbability(1.5, 0, 2), /sigma: expected a number in \[0, 1\], got 1.5/);
  assert.throws(() => switchProbability(0.5, 2, 2), /epoch: expected an integer in 0..1, got 2/);
  assert.throws(() => switchProbability(0.5, 0, 0), /epochs: expected a positive integer/);
});

test('per-parameter traces in layer order; a missing layer is named', async () => {
  const section = [{ layer: 'b', hessianTrace: 6, params: 3, macs: 1 }, { layer: 'a', hessianTrace: 10, params: 5, macs: 1 }];
  assert.equal(sectionSensitivities(section, ['a', 'b']), [2, 2]);
  assert.throws(() => sectionSensitivities(section, ['a', 'c']), /sensitivity: expected an entry for quantized layer c/);
});

test('the roulette reads the same bounded sensitivities as the search ILP (a negative trace included)', async () => {
  const model = tinyModelV11(1);
  const layers = quantizedLayers(model).map((l) => l.name);
  const traces = sectionSensitivities(model.sensitivity!, layers);
  assert.ok(model.sensitivity!.some((s) => s.hessianTrace < 0));
  assert.ok(traces.every((t) => t > 0), `[${traces}]`);
  const space = searchSpaceFromModel(model);
  assert.equal(traces, layerSensitivities(space));
  const authors = objectiveTable(space, 'authors').objective;
  layers.forEach((_, l) => space.bits.forEach((b, j) => assert.is(authors[l]![j], traces[l]! * b)));
});

// Chi-square critical values for a false-failure probability of 1e-6 per test, by degrees of
// freedom (scipy.stats.chi2.isf(1e-6, df)). Across the 4 statistical tests below: ≤ 4e-6.
const CHI2_1E6: Record<number, number> = { 1: 23.928, 2: 27.631, 3: 30.665 };

function chiSquare(counts: number[], probs: number[]): number {
  const n = counts.reduce((a, b) => a + b, 0);
  return counts.reduce((s, c, i) => s + (c - n * probs[i]) ** 2 / (n * probs[i]), 0);
}

/** Expected bit probabilities of one layer: (1 − σ_e)·[bit = b] + σ_e·roulette. */
function expected(bits: number[], b: number, sensitive: boolean, sigmaE: number): number[] {
  const p = rouletteProbabilities(bits, sensitive);
  return bits.map((x, i) => (x === b ? 1 - sigmaE : 0) + sigmaE * p[i]);
}

const SAMPLER_CASES: [number[], number, number, number][] = [[[8, 6, 4, 2], 8, 1, 11], [[8, 6, 4, 2], 4, 0.5, 12], [[4, 3, 2], 2, 0.3, 13]];
for (const [bits, b, sigmaE, seed] of SAMPLER_CASES) {
  test(`HASB sampler: bit frequencies match the roulette (sensitive: b/Σb, insensitive: uniform), B=[${bits}], b=${b}, σ_e=${sigmaE}`, async () => {
    const traces = [5, 0.1, 3, 0.2, 0.05]; // mean 1.67: layers 0 and 2 sensitive
    const sensitive = traces.map((t) => t >= traces.reduce((a, c) => a + c) / traces.length);
    const rng = new Rng(seed);
    const N = 20000;
    const counts = traces.map(() => bits.map(() => 0));
    for (let k = 0; k < N; k++) sampleLayerBits(bits, b, sensitive, sigmaE, 'hasb', rng).forEach((x, l) => counts[l][bits.indexOf(x)]++);
    counts.forEach((c, l) => {
      const stat = chiSquare(c, expected(bits, b, sensitive[l], sigmaE));
      assert.ok(stat < CHI2_1E6[bits.length - 1], `layer ${l} (${sensitive[l] ? 'sensitive' : 'insensitive'}): χ² = ${stat.toFixed(2)}, counts [${c}]`);
    });
    // the two kinds differ: a sensitive layer draws the highest bit more often than an insensitive one
    if (sigmaE === 1) assert.ok(counts[0][0] > counts[1][0] * 1.3, `sensitive ${counts[0][0]} vs insensitive ${counts[1][0]}`);
  });
}

test('uniform sampling (Bit-Mixer-style baseline) ignores sensitivity', async () => {
  const bits = [8, 6, 4, 2];
  const rng = new Rng(21);
  const counts = [0, 1].map(() => bits.map(() => 0));
  for (let k = 0; k < 20000; k++) sampleLayerBits(bits, 6, [true, false], 1, 'uniform', rng).forEach((x, l) => counts[l][bits.indexOf(x)]++);
  for (const c of counts) assert.ok(chiSquare(c, [0.25, 0.25, 0.25, 0.25]) < CHI2_1E6[3], `counts [${c}]`);
});

test('σ_e = 0 never switches', async () => {
  const rng = new Rng(3);
  for (let k = 0; k < 100; k++) assert.equal(sampleLayerBits([8, 4, 2], 4, [true, false, true], 0, 'hasb', rng), [4, 4, 4]);
});

test('recipe validation names the field', async () => {
  assert.throws(() => resolveSupernetRecipe({ sampling: 'random' as never }), /supernet\.sampling: expected one of hasb, uniform, got "random"/);
  assert.throws(() => resolveSupernetRecipe({ sigma: 2 }), /supernet\.sigma: expected a number in 0..1, got 2/);
  assert.throws(() => resolveSupernetRecipe({ epochs: 0 }), /supernet\.epochs/);
});

/** 8×8 grey images of 3 classes (class = which third of the image is bright) with noise. */
function tinyDataset(count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const make = (n: number) => {
    const images = new Uint8Array(n * 64);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3;
      for (let p = 0; p < 64; p++) images[i * 64 + p] = Math.min(255, Math.floor(rng.uniform() * 60 + ((p % 8) * 3 >= labels[i] * 8 && (p % 8) * 3 < (labels[i] + 1) * 8 ? 180 : 0)));
    }
    return { images, labels, count: n };
  };
  return { name: 'mnist', height: 8, width: 8, channels: 1, classes: 3, mean: [0.3], std: [0.3], train: make(count), test: make(30) };
}

test('a tiny SuperNet training run: finite loss, counts per layer, only the drawn TBN sets move, exports a file readModel accepts', async () => {
  const spec = smallCnn([8, 8, 1], 3, { channels: [4, 4, 4], hidden: 6 });
  const bits = [8, 4, 2];
  const multi = new Network(spec, { bits, quantizer: 'double-rounding', perChannel: false }, new Rng(2));
  multi.copyFloatBnToBits();
  for (const [n, v] of multi.vars) if (n.includes('scale')) v.assign(tf.fill(v.shape, 0.05));
  const sup = SuperNetwork.fromMulti(multi);
  const before = await sup.snapshot();
  const ds = tinyDataset(16, 4);
  const trainer = new SupernetTrainer(sup, ds, { data: 'mnist', sampling: 'hasb', sigma: 0.5, epochs: 1, batchSize: 8, lr: 1e-3, augment: { pad: 0, flip: false } }, [2, 0.1, 0.5]);
  const steps: number[] = [];
  const history = await trainer.run({ onStep: (s) => steps.push(s.loss) });
  assert.is(steps.length, 2);
  assert.ok(steps.every(Number.isFinite));
  assert.equal(history.map((h) => h.sigmaE), [0.5]);
  for (const q of sup.quantized) assert.is(Object.values(trainer.counts[q.name]).reduce((a, b) => a + b), 2 * bits.length, q.name);
  const after = await sup.snapshot();
  assert.ok(after['l1_conv/kernel'].some((v, i) => v !== before['l1_conv/kernel'][i]), 'weights moved');
  // l2_bn's set (p, b) moves exactly when l1 ran at p and l2 at b in some step: replay the draws
  const replay = deriveRng(1, 3); // the trainer's sampling stream for seed 1
  const drawn = new Set<string>();
  for (let step = 0; step < 2; step++) for (const b of bits) { const lb = sampleLayerBits(bits, b, trainer.sensitive, 0.5, 'hasb', replay); drawn.add(`b${lb[0]}-b${lb[1]}`); }
  const changed = (n: string) => after[n].some((v, i) => v !== before[n][i]);
  const moved = Object.keys(after).filter((n) => n.startsWith('l2_bn/var@') && (changed(n) || changed(n.replace('/var@', '/mean@')))).map((n) => n.split('@')[1]);
  assert.equal(moved.sort(), [...drawn].sort());
  assert.ok(drawn.size < bits.length ** 2, 'some sets were not drawn (the check above is not vacuous)');
  const model = readModel(writeModel(await networkToModel(sup, { metadata: { sampling: 'hasb' } })));
  assert.is(model.mode, 'mixed');
  assert.is(model.metadata?.sampling, 'hasb');
  const acc = await trainer.evaluateUniform();
  assert.equal(Object.keys(acc), ['w8a8', 'w4a4', 'w2a2']);
  trainer.dispose(); sup.dispose(); multi.dispose();
});

test('the same seed gives the same SuperNet (sampling, shuffling and augmentation are seeded)', async () => {
  const spec = smallCnn([8, 8, 1], 3, { channels: [4, 4, 4], hidden: 6 });
  const runOnce = async () => {
    const multi = new Network(spec, { bits: [8, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(2));
    multi.copyFloatBnToBits();
    const sup = SuperNetwork.fromMulti(multi);
    const t = new SupernetTrainer(sup, tinyDataset(16, 4), { data: 'mnist', sampling: 'uniform', sigma: 1, epochs: 1, batchSize: 8 });
    await t.run();
    const snap = await sup.snapshot();
    t.dispose(); sup.dispose(); multi.dispose();
    return snap;
  };
  const a = await runOnce();
  const b = await runOnce();
  for (const k of Object.keys(a)) assert.equal(Array.from(a[k]), Array.from(b[k]), k);
});

test('HASB sampling without traces is refused', async () => {
  const spec = smallCnn([8, 8, 1], 3, { channels: [4, 4, 4], hidden: 6 });
  const sup = new SuperNetwork(spec, { bits: [8, 4], quantizer: 'double-rounding', perChannel: false }, new Rng(1));
  assert.throws(() => new SupernetTrainer(sup, tinyDataset(16, 1), { data: 'mnist', sampling: 'hasb', batchSize: 8 }), /traces: HASB sampling needs per-layer Hessian traces/);
  assert.throws(() => new SupernetTrainer(sup, tinyDataset(16, 1), { data: 'mnist', sampling: 'hasb', batchSize: 8 }, [1, 2]), /traces: expected 3 entries/);
  sup.dispose();
});

/** A fresh tiny SuperNet and its trainer, the same weights, data and traces at every call: runs to stop, resume and compare. */
function tinySupernetRun(recipe: Partial<SupernetRecipe>): { sup: SuperNetwork; t: SupernetTrainer } {
  const spec = smallCnn([8, 8, 1], 3, { channels: [4, 4, 4], hidden: 6 });
  const multi = new Network(spec, { bits: [8, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(2));
  multi.copyFloatBnToBits();
  const sup = SuperNetwork.fromMulti(multi);
  multi.dispose();
  return { sup, t: new SupernetTrainer(sup, tinyDataset(32, 4), recipe, [2, 0.1, 0.5]) };
}

test('a SuperNet run stopped after a checkpoint and resumed ends exactly as an uninterrupted run', async () => {
  const recipe = { data: 'mnist', sampling: 'hasb' as const, sigma: 0.8, epochs: 2, batchSize: 8, lr: 1e-3, alrs: 'paper' as const };
  const dir = mkdtempSync(join(tmpdir(), 'supernet-resume-'));
  const make = () => tinySupernetRun(recipe);
  const whole = make();
  const wholeHistory = await whole.t.run();
  const want = await whole.sup.snapshot();

  const ck = join(dir, 'checkpoint.json');
  const first = make();
  let seen = 0;
  const stop = await first.t.run({ onStep: (st) => { if (st.epoch === 1 && st.step === 3) throw new Error('stopped'); seen++; } }, ck, 2).then(() => 'finished', (e: Error) => e.message);
  assert.is(stop, 'stopped');
  assert.ok(seen > 4 && existsSync(ck), 'stopped in the second epoch, after its step-2 checkpoint');
  first.t.dispose(); first.sup.dispose();

  const second = make();
  assert.throws(() => new SupernetTrainer(second.sup, tinyDataset(32, 4), { ...recipe, sigma: 0.5 }, [2, 0.1, 0.5]).resume(ck), /another recipe \(sigma differ/);
  second.t.resume(ck);
  const history = await second.t.run({}, ck, 2);
  const got = await second.sup.snapshot();
  for (const k of Object.keys(want)) assert.equal(Array.from(got[k]), Array.from(want[k]), k);
  assert.equal(second.t.counts, whole.t.counts);
  assert.equal(second.t.alrs.steps, whole.t.alrs.steps);
  assert.equal(history.map((h) => h.loss), wholeHistory.map((h) => h.loss));
  assert.is(history[1].resumedAtStep, 2);
  whole.t.dispose(); whole.sup.dispose(); second.t.dispose(); second.sup.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('requestStop (Ctrl-C) saves the position after the step in progress, mid-epoch or at its end; resuming ends exactly as an uninterrupted run', async () => {
  const recipe = { data: 'mnist', sampling: 'hasb' as const, sigma: 0.8, epochs: 2, batchSize: 8, lr: 1e-3 };
  const dir = mkdtempSync(join(tmpdir(), 'supernet-stop-'));
  const ck = join(dir, 'checkpoint.json');
  const make = () => tinySupernetRun(recipe);
  const whole = make();
  const wholeHistory = await whole.t.run();
  const want = await whole.sup.snapshot();
  const position = () => { const c = JSON.parse(readFileSync(ck, 'utf8')) as { epoch: number; step: number }; return [c.epoch, c.step]; };

  // 4 steps per epoch; no periodic checkpoint (every 50), so only the stops write one
  const stops: [number, number, number[]][] = [[0, 4, [1, 0]], [1, 2, [1, 2]]];
  for (const [epoch, step, at] of stops) {
    const run = make();
    if (existsSync(ck)) run.t.resume(ck);
    const r = await run.t.run({ onStep: (st) => { if (st.epoch === epoch && st.step === step) run.t.requestStop(); } }, ck).then(() => undefined, (e: unknown) => e);
    assert.instance(r, InterruptedError, `stop at epoch ${epoch} step ${step}`);
    assert.equal(position(), at, `position saved by the stop at epoch ${epoch} step ${step}`);
    run.t.dispose(); run.sup.dispose();
  }
  const last = make();
  last.t.resume(ck);
  const history = await last.t.run({}, ck);
  const got = await last.sup.snapshot();
  for (const k of Object.keys(want)) assert.equal(Array.from(got[k]), Array.from(want[k]), k);
  assert.equal(last.t.counts, whole.t.counts);
  assert.equal(history.map((h) => h.loss), wholeHistory.map((h) => h.loss));
  whole.t.dispose(); whole.sup.dispose(); last.t.dispose(); last.sup.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test.run();
