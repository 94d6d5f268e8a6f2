// The report's claim verdicts (scripts/claims.ts) from synthetic arm summaries in a scratch folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ablationClaims, armRuns, deltaText, headlineClaim, pairedDeltas, STEP_COST_FILE, stepCost, verdict } from '../scripts/claims.ts';
import { ablations, armRuntime, reestimation } from '../scripts/report.ts';
import type { Card } from '../scripts/models.ts';

const ARMS = ['alrs-code', 'alrs-off', 'alrs-paper', 'floor', 'a1', 'separate-scales', 'separate-training', 'distill'];
const STAGES = ARMS.flatMap((a) => [1, 2].map((s) => ({ name: `fashion-r8-${a}-s${s}`, args: ['train'] })));

function scratch(runs: Record<string, { w2: number; w4?: number; seconds?: number; cpuSeconds?: number; floorHits?: number; floorHits8?: number }>): string {
  const root = mkdtempSync(join(tmpdir(), 'bitswitch-claims-'));
  mkdirSync(join(root, 'results/checkpoints'), { recursive: true });
  for (const [stage, r] of Object.entries(runs)) {
    const summary = {
      accuracy: { w8a8: 0.9, w6a6: 0.9, w4a4: r.w4 ?? 0.9, w2a2: r.w2 }, seconds: r.seconds ?? 1000, ...(r.cpuSeconds === undefined ? {} : { cpuSeconds: r.cpuSeconds }),
      ...(r.floorHits === undefined ? {} : { alrsFloorHits: { 2: r.floorHits, 8: r.floorHits8 ?? 0 }, alrsSteps: { 2: 100, 8: 100 } }),
    };
    writeFileSync(join(root, 'results/checkpoints', `fashion-r8-${stage}.summary.json`), JSON.stringify(summary));
  }
  return root;
}

test('verdicts: none, one seed, every seed one way, seeds disagreeing', () => {
  assert.is(verdict([]), 'not run yet');
  assert.is(verdict([0.01]), 'one seed');
  assert.is(verdict([0.01, 0.002]), 'holds');
  assert.is(verdict([-0.01, -0.002]), 'does not hold');
  assert.is(verdict([0.01, -0.002]), 'within the seed spread');
  assert.is(verdict([0.01, 0]), 'within the seed spread');
  assert.is(deltaText([0.0052]), '+0.52 pp');
  assert.is(deltaText([0.004, -0.001]), '+0.15 pp (+0.40, −0.10)');
});

test('arms pair by seed; a seed only one arm has is left out', () => {
  const root = scratch({ 'alrs-code-s1': { w2: 0.85 }, 'alrs-code-s2': { w2: 0.86 }, 'alrs-off-s2': { w2: 0.84 } });
  try {
    const code = armRuns(root, STAGES, 'r8-alrs-code');
    const off = armRuns(root, STAGES, 'r8-alrs-off');
    assert.equal([...code.keys()], [1, 2]);
    const d = pairedDeltas(code, off, 'w2a2');
    assert.is(d.length, 1);
    assert.ok(Math.abs(d[0]! - 0.02) < 1e-12);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('ablation lines: holds with two agreeing seeds, first answer with one, floor-hit rate of eq. 6, joint time saving', () => {
  const root = scratch({
    'alrs-code-s1': { w2: 0.86, w4: 0.91, seconds: 2000 }, 'alrs-code-s2': { w2: 0.87, w4: 0.90, seconds: 2200, cpuSeconds: 4200 },
    'alrs-off-s1': { w2: 0.85, w4: 0.90 }, 'alrs-off-s2': { w2: 0.86, w4: 0.91 },
    'alrs-paper-s1': { w2: 0.80, floorHits: 50 },
    'floor-s1': { w2: 0.88 }, 'floor-s2': { w2: 0.88 },
    'a1-s1': { w2: 0.87 }, 'a1-s2': { w2: 0.85 },
    'separate-training-s1': { w2: 0.87, seconds: 4000 }, 'separate-training-s2': { w2: 0.88, seconds: 4400, cpuSeconds: 4000 },
  });
  try {
    const lines = ablationClaims(root, STAGES);
    const find = (t: string) => lines.find((l) => l.includes(t))!;
    assert.match(find('ALRS helps'), 'holds at w2a2 (+1.00 pp (+1.00, +1.00); 2 seeds); w4a4 +0.00 pp (+1.00, −1.00)');
    assert.match(find('code form'), 'not decided: one seed so far (w2a2 +6.00 pp)');
    assert.match(find('code form'), 'floored to 0 on 25.0 % of the scale steps');
    assert.match(find('Double Rounding'), 'does not hold at w2a2');
    assert.match(find('A.2'), 'not shown at w2a2: the seeds disagree');
    assert.match(find('self-distillation'), 'not run yet');
    // seed 2 recorded CPU time in both runs (5 % more), seed 1 only wall time (50 % less): the summary figure is the CPU time's
    assert.match(find('Joint training'), 'joint training took 5 % more CPU time than the four separate runs together (seed 1: 50 % less wall time; seed 2: 5 % more CPU time; whole runs, each on the machine and under the load its session had)');
    assert.match(find('Joint training'), 'w2a2 −1.00 pp (−1.00, −1.00)');
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('eq. 6 floored on every step: the line says the arm kept its initial scales', () => {
  const root = scratch({ 'alrs-code-s1': { w2: 0.86 }, 'alrs-paper-s1': { w2: 0.86, floorHits: 100, floorHits8: 100 } });
  try {
    const line = ablationClaims(root, STAGES).find((l) => l.includes('code form'))!;
    assert.match(line, 'floored to 0 on every scale step (100.0 %), so that arm never moved its scales from their initial values: the comparison is learned scales against frozen ones');
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('joint vs separate time: no summary figure from wall time alone', () => {
  const root = scratch({ 'alrs-code-s1': { w2: 0.86, seconds: 2000 }, 'separate-training-s1': { w2: 0.87, seconds: 4000, cpuSeconds: 7000 } });
  try {
    const line = ablationClaims(root, STAGES).find((l) => l.includes('Joint training'))!;
    assert.match(line, 'run times in wall time only so far (seed 1: 50 % less wall time), which on the shared machine also count other jobs: not a measure of cost; one seed so far');
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('joint vs separate: the committed per-step measurement is quoted, with or without finished runs', () => {
  const root = scratch({});
  try {
    assert.is(stepCost(root), '');
    assert.match(ablationClaims(root, STAGES).at(-1)!, 'accuracy not run yet (paper');
    mkdirSync(join(root, 'bench/results'), { recursive: true });
    writeFileSync(join(root, STEP_COST_FILE), JSON.stringify({
      date: '2026-11-30T16:39:30.765Z',
      rows: [{ model: 'resnet8', workers: 2, jointMsPerStep: 899.2, separateMsPerStep: 895.0, jointVsSeparateWall: 1.00474, jointVsSeparateCpu: 0.99729, loadavg: [2.84, 2.67, 2.7] }],
    }));
    const want = 'ResNet-8 899 / 895 ms = 1.005 (CPU time 0.997, 2 workers, load 2.84)';
    assert.match(stepCost(root), want);
    assert.match(ablationClaims(root, STAGES).at(-1)!, `accuracy not run yet; per batch of 128, one joint A.2 step against one step of each of the four separate networks, alternated in one process (${STEP_COST_FILE}, 2026-11-30): ${want} (paper`);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('ablation table: mean ± half-range per arm, wall time and CPU time per seed (a seed without CPU time is left out and the cell names the seeds it covers); runtime rows only for arms the plan publishes', () => {
  const root = scratch({
    'alrs-code-s1': { w2: 0.86, seconds: 3600, cpuSeconds: 7200 }, 'alrs-code-s2': { w2: 0.88, seconds: 5400, cpuSeconds: 9000 },
    'alrs-off-s1': { w2: 0.85, seconds: 3600, cpuSeconds: 7200 }, 'alrs-off-s2': { w2: 0.85, seconds: 3600 },
  });
  try {
    // the plan publishes the ALRS arms, not the floor arm
    const rows = ablations(root, STAGES.map((s) => ({ ...s, args: ['train'], ...(s.name.includes('alrs') ? { publish: s.name } : {}) })), []);
    assert.ok(rows.includes('| A.2, Double Rounding, ALRS code form (λ·0.1^rank) | 90.00 ± 0.00 (2) | 90.00 ± 0.00 (2) | 90.00 ± 0.00 (2) | 87.00 ± 1.00 (2) | 1.25 h | 2.25 h |'), rows.join('\n'));
    assert.ok(rows.includes('| A.2, ALRS off | 90.00 ± 0.00 (2) | 90.00 ± 0.00 (2) | 90.00 ± 0.00 (2) | 85.00 ± 0.00 (2) | 1.00 h | 2.00 h (seed 1 only) |'), rows.join('\n'));
    assert.ok(rows.includes('| A.1 (accumulate, one step) | — | — | — | — | — | — |'), rows.join('\n'));
    // runtime table: a published arm without cards yet, an arm the plan does not publish
    assert.ok(rows.includes('| A.2, ALRS off | — | — | — | — |'), rows.join('\n'));
    assert.ok(rows.includes('| floor-based switching (Bit-Mixer) | no file: a .bsw stores Double Rounding\'s int8 weights only | | | |'), rows.join('\n'));
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('headline: met, partly met and missed goals against FP32', () => {
  const goals = { w8a8: 0.3, w4a4: 0.3, w2a2: 1.5 };
  assert.is(headlineClaim('{8,4,2}', undefined, undefined, goals), '{8,4,2}: not finished yet');
  assert.is(headlineClaim('{8,4,2}', 0.94, { w8a8: 0.939, w4a4: 0.938, w2a2: 0.93 }, goals),
    '{8,4,2}: holds (against FP32: w8a8 −0.10 pp, w4a4 −0.20 pp, w2a2 −1.00 pp; goals: w8a8/w4a4 within 0.3 pp, w2a2 within 1.5 pp)');
  assert.match(headlineClaim('{8,4,2}', 0.94, { w8a8: 0.9415, w4a4: 0.935, w2a2: 0.92 }, goals), '{8,4,2}: holds at w8a8, not at w4a4, w2a2 (against FP32: w8a8 +0.15 pp');
  assert.match(headlineClaim('{8,4,2}', 0.94, { w8a8: 0.93, w4a4: 0.93, w2a2: 0.9 }, goals), '{8,4,2}: does not hold');
});

test('BatchNorm re-estimation table: moving averages → re-estimated for the stages that did it', () => {
  const root = scratch({ 'alrs-code-s1': { w2: 0.9 } });
  try {
    assert.equal(reestimation(root, STAGES), ['No finished stage has re-estimated statistics yet.']);
    writeFileSync(join(root, 'results/checkpoints/fashion-r8-a1-s1.summary.json'), JSON.stringify({
      accuracy: { w8a8: 0.93, w2a2: 0.91 }, seconds: 1, bnReestimate: { images: 4096, movingAverages: { w8a8: 0.925, w2a2: 0.88 } },
    }));
    assert.equal(reestimation(root, STAGES), ['| stage | images | w8a8 | w2a2 |', '|---|---|---|---|', '| fashion-r8-a1-s1 | 4096 | 92.50 → 93.00 | 88.00 → 91.00 |']);
  } finally { rmSync(root, { recursive: true, force: true }); }
});

test('runtime figures of an arm: joint files by seed, per-bit files of one seed merged, other arms and names left out', () => {
  const card = (name: string, runtime: Record<string, number>) => ({ name, runtime: Object.fromEntries(Object.entries(runtime).map(([k, c]) => [k, { correct: c, total: 10000, correctInSubset: 0 }])) }) as unknown as Card;
  const cards = [
    card('fashion-r8-alrs-code-s1', { w8a8: 9100, w2a2: 8800 }), card('fashion-r8-alrs-code-s2', { w8a8: 9200, w2a2: 8700 }),
    card('fashion-r8-alrs-code-s1-extra', { w8a8: 1 }), card('fashion-r8-alrs-off-s1', { w8a8: 1 }),
    card('fashion-r8-separate-training-s1-w8', { w8a8: 9150 }), card('fashion-r8-separate-training-s1-w2', { w2a2: 8900 }),
  ];
  assert.equal([...armRuntime(cards, 'r8-alrs-code')], [[1, { w8a8: 0.91, w2a2: 0.88 }], [2, { w8a8: 0.92, w2a2: 0.87 }]]);
  assert.equal([...armRuntime(cards, 'r8-separate-training')], [[1, { w8a8: 0.915, w2a2: 0.89 }]]);
  assert.equal([...armRuntime(cards, 'r8-distill')], []);
});

test.run();
