// `pnpm reproduce --check`, the quick form CI runs: every published model gives its card's counts
// on the first 1,000 test images (a SuperNet's frontier SubNets too), a changed card or file is
// caught, and results/REPORT.md is what the committed logs and cards give; the mixed-precision
// section's arithmetic (frontier read at each budget, mean ± spread over seeds, the verdict) and
// the runner's --plan and stage summaries.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantizedLayers, readModel } from '@bitswitch/format';
import { FRONTIER_PLOT, bestWithin, claimVerdict, compare, ilpPick, mixedSection, summarize, sweptBudgets, type ParetoSummary, type SubnetPoint } from '../scripts/mixed.ts';
import { check, publish, publishedFiles, readCards, runtimeAccuracy, subsetIndices, SUBSET, type Card } from '../scripts/models.ts';
import { buildReport } from '../scripts/report.ts';

const root = new URL('..', import.meta.url).pathname;
const cards = readCards(root);

test('the committed models are published with cards', () => {
  assert.ok(cards.some((c) => c.name === 'mnist-cnn-w8642'), cards.map((c) => c.name).join(', '));
  for (const c of cards) assert.equal(Object.keys(c.runtime).sort(), c.bits.map((b) => `w${b}a${b}`).sort(), `${c.name}: one count per stored precision`);
});

test('every published model gives its card\'s counts on the first 1,000 test images', async () => {
  const lines: string[] = [];
  const problems = await check(root, true, (l) => lines.push(l));
  assert.equal(problems, [], problems.join('\n'));
  assert.is(lines.length, cards.length);
});

test('the quick check\'s spread subset takes every class of a split stored class by class', () => {
  assert.equal(subsetIndices(10000, 'first').slice(0, 3), [0, 1, 2]);
  const spread = subsetIndices(10000, 'spread');
  assert.is(spread.length, SUBSET);
  assert.equal([spread[0], spread[1], spread[999]], [0, 10, 9990]);
  assert.equal(subsetIndices(600, 'spread'), Array.from({ length: 600 }, (_, i) => i), 'a split smaller than SUBSET is run whole');
});

test('a card whose count differs, or a changed file, is reported', async () => {
  const card = cards.find((c) => c.name === 'mnist-cnn-w8642')!;
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-check-'));
  try {
    mkdirSync(join(dir, 'models'));
    const wrong: Card = structuredClone(card);
    wrong.runtime.w2a2.correctInSubset += 1;
    writeFileSync(join(dir, 'models', `${card.name}.card.json`), JSON.stringify(wrong));
    copyFileSync(join(root, 'models', card.file), join(dir, 'models', card.file));
    const problems = await check(dir, true, () => {});
    assert.is(problems.length, 1, problems.join('\n'));
    assert.match(problems[0], `models/${card.file} w2a2: card says ${card.runtime.w2a2.correctInSubset + 1}/1000`);

    const bytes = new Uint8Array(readFileSync(join(root, 'models', card.file)));
    bytes[bytes.length - 1] ^= 1;
    writeFileSync(join(dir, 'models', card.file), bytes);
    const changed = await check(dir, true, () => {});
    assert.equal(changed, [`models/${card.file}: sha256 differs from its card (${card.sha256.slice(0, 12)}…)`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('results/REPORT.md is what the committed logs and cards give', async () => {
  const { markdown } = await buildReport(root);
  assert.ok(markdown === readFileSync(join(root, 'results/REPORT.md'), 'utf8'), 'results/REPORT.md is stale: run pnpm reproduce --report and commit it');
  assert.match(markdown, /mnist-cnn-w8642\.bsw/);
});

test('a SuperNet card\'s SubNets are run again, and a wrong SubNet count is reported by name', async () => {
  const card = cards.find((c) => c.name === 'mnist-cnn-w8642')!;
  const bytes = new Uint8Array(readFileSync(join(root, 'models', card.file)));
  const model = readModel(bytes);
  const mixed = { name: 'mixed', bits: quantizedLayers(model).map((_, i) => (i % 2 ? 2 : 8)) };
  const [got] = Object.values(await runtimeAccuracy(bytes, model, card.data, { quick: true, subset: card.subset ?? 'first', precisions: [mixed] }));
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-check-'));
  try {
    mkdirSync(join(dir, 'models'));
    copyFileSync(join(root, 'models', card.file), join(dir, 'models', card.file));
    const withSubnet: Card = { ...structuredClone(card), subnets: { mixed: { bits: mixed.bits, ...got } } };
    writeFileSync(join(dir, 'models', `${card.name}.card.json`), JSON.stringify(withSubnet));
    assert.equal(await check(dir, true, () => {}), []);
    withSubnet.subnets!.mixed.correctInSubset -= 1;
    writeFileSync(join(dir, 'models', `${card.name}.card.json`), JSON.stringify(withSubnet));
    assert.equal(await check(dir, true, () => {}), [`models/${card.file} mixed: card says ${got.correctInSubset - 1}/${SUBSET}, runtime gives ${got.correctInSubset}/${SUBSET}`]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const point = (name: string, avgBits: number, accuracy: number): SubnetPoint => ({ name, bits: [], avgBits, bitops: 0, accuracy });
const run = (sampling: string, seed: number, points: SubnetPoint[]): ParetoSummary => ({
  command: 'pareto', recipe: { model: 'resnet8', data: 'fashion-mnist', sampling, seed }, split: 's', testImages: 10000, backend: 'wasm', workers: 2,
  seconds: 3600, accuracy: { w8a8: 0.9, w2a2: 0.8 }, points, frontier: points.map((p) => p.name),
});

test('the frontier is read at each swept budget: the best point whose average bits fit', () => {
  const pts = [point('avg-bits<=2', 2, 0.80), point('avg-bits<=3', 2.875, 0.85), point('avg-bits<=3/l1@8', 3, 0.84), point('avg-bits<=4', 4, 0.83)];
  assert.equal(sweptBudgets([{ points: pts }, { points: [point('avg-bits<=2.5', 2.5, 0.1)] }]), [2, 2.5, 3, 4]);
  assert.is(bestWithin(pts, 1.5), undefined);
  assert.is(bestWithin(pts, 2), 0.80);
  assert.is(bestWithin(pts, 3), 0.85);
  assert.is(bestWithin(pts, 4), 0.85, 'a cheaper better SubNet stays the best at a larger budget');
});

test('the ILP\'s own pick at a cap is the SubNet named for it, not a pinned one beside it', () => {
  const pts = [{ ...point('avg-bits<=3', 3, 0.85), bits: [4, 2] }, { ...point('avg-bits<=3/l1@2', 2.5, 0.86), bits: [2, 2] }];
  assert.equal(ilpPick(pts, 3)?.bits, [4, 2]);
  assert.is(ilpPick(pts, 2.5), undefined);
  assert.is(bestWithin(pts, 3), 0.86, 'the pinned SubNet is the best within the cap');
});

test('HASB vs uniform: a side is named at a budget only when every seed agrees, and the claim from the budgets', () => {
  const h = new Map([[1, run('hasb', 1, [point('avg-bits<=2', 2, 0.80), point('avg-bits<=3', 3, 0.86)])], [2, run('hasb', 2, [point('avg-bits<=2', 2, 0.79), point('avg-bits<=3', 3, 0.85)])]]);
  const u = new Map([[1, run('uniform', 1, [point('avg-bits<=2', 2, 0.78), point('avg-bits<=3', 3, 0.87)])], [2, run('uniform', 2, [point('avg-bits<=2', 2, 0.77), point('avg-bits<=3', 3, 0.84)])]]);
  const rows = compare(h, u, [2, 3]);
  assert.equal(rows.map((r) => r.verdict), ['HASB', 'within spread']);
  assert.equal(rows[0].deltas.map((d) => Number(d.toFixed(4))), [0.02, 0.02]);
  assert.match(claimVerdict(rows, 2), /^not shown: HASB leads on every seed at some budgets/);
  // each seed's Δ averaged over the budgets: seed 1 (+0.02 − 0.01) / 2, seed 2 (+0.02 + 0.01) / 2
  assert.match(claimVerdict(rows, 2), /uniform sampling at 0; Δ averaged over 2 budgets, each seed: \+0\.50, \+1\.50 pp; 2 seeds\)$/);
  assert.match(claimVerdict([rows[0], rows[0], rows[1]], 2), /^holds \(every seed favours HASB at 2 of 3 budgets, uniform sampling at 0/);
  assert.match(claimVerdict([{ deltas: [-0.01, -0.02], verdict: 'uniform' }], 2), /^does not hold/);
  const uni = { deltas: [-0.01, -0.02], verdict: 'uniform' as const };
  assert.match(claimVerdict([uni, rows[1], rows[1]], 2), /^not shown: uniform sampling leads on every seed at some budgets and HASB at none, but at too few/, 'one budget of three is not enough for either side');
  assert.match(claimVerdict([uni, rows[0], rows[1]], 2), /^not shown: the difference is within the seed spread/, 'each side leads at a budget');
  assert.match(claimVerdict([uni, uni, rows[1]], 2), /^does not hold/);
  assert.match(claimVerdict([rows[0]], 1), /^not decided: one seed pair only/);
  assert.is(claimVerdict([{ deltas: [], verdict: 'within spread' }], 0), 'not run yet');
});

test('the mixed-precision section: "not run yet", then tables and a plot from pareto summaries', async () => {
  const stages = [
    { name: 'sens', args: ['sensitivity', 'm.bsw', '--out', 'RUN/multi.bsw'] },
    ...['hasb', 'uniform'].flatMap((s) => [1, 2].map((seed) => ({ name: `p-${s}-${seed}`, args: ['pareto', 'x.bsw'] }))),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-mixed-'));
  try {
    const empty = await mixedSection(dir, stages);
    assert.is(empty.claim, 'not run yet');
    assert.ok(empty.lines.includes('Sensitivity: not run yet.'));
    assert.ok(empty.lines.some((l) => l.startsWith('SubNet evaluations: not run yet')));
    assert.equal(Object.keys(empty.plots), []);
    mkdirSync(join(dir, 'results/checkpoints'), { recursive: true });
    const write = (name: string, s: object) => writeFileSync(join(dir, 'results/checkpoints', `${name}.summary.json`), JSON.stringify(s));
    write('p-hasb-1', run('hasb', 1, [point('avg-bits<=2', 2, 0.80), point('avg-bits<=3', 3, 0.86)]));
    write('p-hasb-2', run('hasb', 2, [point('avg-bits<=2', 2, 0.78), point('avg-bits<=3', 3, 0.85)]));
    write('p-uniform-1', run('uniform', 1, [{ ...point('avg-bits<=2', 2, 0.77), trainerAccuracy: 0.765 }, point('avg-bits<=3', 3, 0.87)]));
    const partial = await mixedSection(dir, stages);
    assert.ok(partial.lines.some((l) => l.includes('3 of 4 (not run yet: p-uniform-2)')), partial.lines.join('\n'));
    assert.ok(partial.lines.includes('| 2.00 | 79.00 ± 1.00 (2) | 77.00 | +3.00 | HASB |'), partial.lines.join('\n'));
    assert.ok(partial.lines.includes('| 3.00 | 85.50 ± 0.50 (2) | 87.00 | −1.00 | uniform |'), partial.lines.join('\n'));
    assert.match(partial.claim, /^not decided: one seed pair only/);
    // the ILP's own pick at each cap: runtime / trainer, the trainer's figure where an eval stage gave one
    assert.ok(partial.lines.includes('| 2.00 | [] | 79.00 ± 1.00 (2) / — | 77.00 / 76.50 |'), partial.lines.join('\n'));
    assert.ok(partial.lines.includes('| 3.00 | [] | 85.50 ± 0.50 (2) / — | 87.00 / — |'), partial.lines.join('\n'));
    assert.ok(partial.lines.some((l) => l.includes('within its cap at 6 of 6 (SuperNet, cap) pairs')), partial.lines.join('\n'));
    assert.match(partial.plots[FRONTIER_PLOT], /^<svg/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the mixed-precision section: pareto stages on recalibrated files are reported apart, beside the same ILP picks with moving averages', async () => {
  const stages = [
    ...['hasb', 'uniform'].flatMap((s) => [1, 2].flatMap((seed) => [
      { name: `p-${s}-${seed}`, args: ['pareto', 'x.bsw'] },
      { name: `r-${s}-${seed}`, args: ['recalibrate', `runs/reproduce/search-${s}-${seed}/model.bsw`, '--out', 'RUN/model.bsw'] },
      { name: `pr-${s}-${seed}`, args: ['pareto', `runs/reproduce/r-${s}-${seed}/model.bsw`, '--sweep-only'] },
    ])),
  ];
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-mixed-'));
  try {
    mkdirSync(join(dir, 'results/checkpoints'), { recursive: true });
    const write = (name: string, s: object) => writeFileSync(join(dir, 'results/checkpoints', `${name}.summary.json`), JSON.stringify(s));
    // moving averages: a pinned SubNet is the best within cap 3 for HASB seed 1, and is left out of the like-for-like column
    const pinned = { ...point('avg-bits<=3/l1@2', 2.5, 0.90), bits: [2, 2] };
    write('p-hasb-1', run('hasb', 1, [point('avg-bits<=2', 2, 0.80), point('avg-bits<=3', 3, 0.84), pinned]));
    write('p-hasb-2', run('hasb', 2, [point('avg-bits<=2', 2, 0.78), point('avg-bits<=3', 3, 0.85)]));
    write('p-uniform-1', run('uniform', 1, [point('avg-bits<=2', 2, 0.81), point('avg-bits<=3', 3, 0.86)]));
    write('p-uniform-2', run('uniform', 2, [point('avg-bits<=2', 2, 0.79), point('avg-bits<=3', 3, 0.87)]));
    const none = await mixedSection(dir, stages);
    assert.ok(none.lines.some((l) => l.startsWith('Recalibrated runs done: 0 of 4')), none.lines.join('\n'));
    assert.match(none.claim, /With each ILP pick's own BatchNorm statistics \(bitswitch recalibrate\): not run yet$/);
    assert.ok(none.lines.some((l) => l.includes('4 of 4')), 'the recalibrated stages do not count among the moving-average ones');
    const recal = (sampler: string, seed: number, a2: number, a3: number) => ({ ...run(sampler, seed, [point('avg-bits<=2', 2, a2), point('avg-bits<=3', 3, a3)]), bnStatistics: 'per SubNet' });
    write('pr-hasb-1', recal('hasb', 1, 0.82, 0.88));
    write('pr-hasb-2', recal('hasb', 2, 0.81, 0.89));
    write('pr-uniform-1', recal('uniform', 1, 0.81, 0.86));
    write('pr-uniform-2', recal('uniform', 2, 0.80, 0.87));
    const both = await mixedSection(dir, stages);
    // cap 2: HASB 0.80/0.78 → 0.82/0.81; uniform 0.81/0.79 → 0.81/0.80; Δ own +1, +1; Δ moving −1, −1
    assert.ok(both.lines.includes('| 2.00 | 79.00 ± 1.00 (2) → 81.50 ± 0.50 (2) | 80.00 ± 1.00 (2) → 80.50 ± 0.50 (2) | +1.00 (+1.00, +1.00) | HASB | −1.00 (−1.00, −1.00) |'), both.lines.join('\n'));
    // cap 3: the pinned 0.90 is not an ILP pick, so HASB seed 1 reads 0.84 in the moving-average column
    assert.ok(both.lines.includes('| 3.00 | 84.50 ± 0.50 (2) → 88.50 ± 0.50 (2) | 86.50 ± 0.50 (2) → 86.50 ± 0.50 (2) | +2.00 (+2.00, +2.00) | HASB | −2.00 (−2.00, −2.00) |'), both.lines.join('\n'));
    assert.match(both.claim, /With each ILP pick's own BatchNorm statistics \(bitswitch recalibrate\): holds \(every seed favours HASB at 2 of 2 budgets/);
    assert.ok(both.lines.some((l) => l.startsWith('**HASB + ILP beats uniform sampling, each ILP pick with its own BatchNorm statistics: holds')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a search stage\'s summary carries where its SuperNet was trained on to the pareto stage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-summary-'));
  try {
    copyFileSync(join(root, 'models/mnist-cnn-w8642.bsw'), join(dir, 'model.bsw'));
    const s = summarize(['search', 'x.bsw', '--budget', 'avg-bits=2..4:1', '--out', join(dir, 'model.bsw')], dir, 1.24, [{ command: 'supernet', backend: 'wasm', workers: 2 }]) as Record<string, unknown>;
    assert.equal(s, { command: 'search', wallSeconds: 1.2, workers: s.workers, budget: 'avg-bits=2..4:1', subnets: 0, trainedOn: { backend: 'wasm', workers: 2 } });
    assert.is(summarize(['train', '--out', dir], dir, 1), undefined, 'train writes its own summary');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a recalibrate stage\'s summary counts the SubNets given statistics and carries where the SuperNet was trained', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-summary-'));
  try {
    const m = readModel(readFileSync(join(root, 'format/test/golden/tiny-v1.3.bsw')));
    writeFileSync(join(dir, 'model.bsw'), readFileSync(join(root, 'format/test/golden/tiny-v1.3.bsw')));
    const s = summarize(['recalibrate', 'x.bsw', '--data', 'mnist', '--out', join(dir, 'model.bsw')], dir, 3, [{ command: 'search', trainedOn: { backend: 'wasm', workers: 2 } }]) as Record<string, unknown>;
    assert.equal(s, { command: 'recalibrate', wallSeconds: 3, workers: 1, images: 4096, subnets: m.subnets!.filter((x) => x.bn).length, trainedOn: { backend: 'wasm', workers: 2 } });
    assert.is(s.subnets, 1);
    const named = m.subnets!.find((x) => x.bn)!.name;
    const only = (re: string) => (summarize(['recalibrate', 'x.bsw', '--data', 'mnist', '--subnets', re, '--out', join(dir, 'model.bsw')], dir, 3, []) as Record<string, unknown>).subnets;
    assert.is(only(`^${named.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`), 1);
    assert.is(only('^no SubNet has this name$'), 0, 'a SubNet --subnets did not name was not measured by this command');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an eval stage\'s summary carries the trainer\'s SubNet accuracies (and where the SuperNet was trained) to the pareto stage', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-summary-'));
  try {
    const json = join(dir, 'trainer.json');
    writeFileSync(json, JSON.stringify({ file: 'x.bsw', data: 'fashion-mnist', testImages: 10000, math: 'tfjs', accuracy: { w8a8: 0.9, 'avg-bits<=3': 0.87 } }));
    const s = summarize(['eval', 'x.bsw', '--subnets', '^avg', '--json', json], dir, 2, [{ command: 'search', trainedOn: { backend: 'wasm', workers: 2 } }]) as Record<string, unknown>;
    assert.equal(s, { command: 'eval', wallSeconds: 2, workers: s.workers, math: 'tfjs', testImages: 10000, accuracy: { w8a8: 0.9, 'avg-bits<=3': 0.87 }, trainedOn: { backend: 'wasm', workers: 2 } });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a separately trained run publishes one file per bit, each with its own card, run by the runtime', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-publish-'));
  try {
    const recipe = join(dir, 'recipe.json');
    writeFileSync(recipe, JSON.stringify({
      model: 'small-cnn', modelOptions: { channels: [4, 6, 8], hidden: 8 }, data: 'mnist', bits: [8, 2], algorithm: 'separate', pretrainEpochs: 1, epochs: 1,
      batchSize: 16, trainLimit: 64, testLimit: 40, checkpointEvery: 0, bnReestimate: 32,
    }));
    const run = join(dir, 'run');
    const r = spawnSync(process.execPath, ['cli/bin/bitswitch.mjs', 'train', '--recipe', recipe, '--out', run, '--backend', 'cpu', '--workers', '1', '--no-progress'], { cwd: root, encoding: 'utf8' });
    assert.is(r.status, 0, r.stderr);
    assert.equal(publishedFiles(['pareto', 'x/supernet.bsw'], run, 'p'), [{ name: 'p', file: 'x/supernet.bsw' }]);
    const files = publishedFiles(['train'], run, 'sep');
    assert.equal(files, [{ name: 'sep-w8', file: join(run, 'model-w8.bsw') }, { name: 'sep-w2', file: join(run, 'model-w2.bsw') }]);
    const summary = JSON.parse(readFileSync(join(run, 'summary.json'), 'utf8')) as { accuracy: Record<string, number> };
    for (const [i, f] of files.entries()) {
      const b = [8, 2][i]!;
      const k = `w${b}a${b}`;
      const card = await publish(dir, f.name, run, 'bitswitch train …', f.file);
      assert.equal(card.bits, [b]);
      assert.equal(card.trainer, { [k]: summary.accuracy[k] }, 'the card keeps the trainer accuracy of its own bit only');
      assert.equal(Object.keys(card.runtime), [k]);
      assert.is(card.runtime[k]!.total, 10000);
      assert.ok(readFileSync(join(dir, 'models', `${f.name}.md`), 'utf8').includes(`trained alone at ${b} bits`));
    }
    assert.equal(await check(dir, true, () => {}), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reproduce --plan: a missing plan file is one line naming the flag, exit 1', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/reproduce.ts'), '--plan', '/nonexistent/plan.json', '--status'], { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 1);
  assert.is(r.stderr.trim(), 'reproduce: --plan: expected a plan file (JSON with a stages list), got "/nonexistent/plan.json"');
  assert.ok(existsSync(join(root, 'test/fixtures/reproduce-smoke-plan.json')));
});

test('reproduce --status: a stage finished in the commit but not unpacked here reads "committed", not "pending"', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(root, 'scripts/reproduce.ts'), '--status'], { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  const plan = JSON.parse(readFileSync(join(root, 'results/plan.json'), 'utf8')) as { stages: { name: string; done?: string }[] };
  const saved = join(root, 'results/checkpoints');
  for (const s of plan.stages) {
    const line = r.stdout.split('\n').find((l) => l.startsWith(`${s.name} `));
    assert.ok(line, `${s.name}: no status line`);
    const state = line!.slice(s.name.length).trim().split(/\s+/)[0];
    const dir = join(root, 'runs/reproduce', s.name);
    const expected = existsSync(join(dir, s.done ?? 'summary.json')) ? 'done'
      : existsSync(join(dir, 'checkpoint.json')) ? 'started'
      : existsSync(join(saved, `${s.name}.json.gz`)) ? 'saved'
      : existsSync(join(saved, 'products', s.name)) || (!s.done && existsSync(join(saved, `${s.name}.summary.json`))) ? 'committed' : 'pending';
    assert.is(state, expected, line);
  }
});

test.run();
