import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readVectors } from '@bitswitch/format/node';
import { rouletteBit, rouletteProbabilities, sensitiveLayers } from '../src/math/roulette.ts';
import { chiSquare, gammaQ, mulberry32 } from './stats.ts';

interface RouletteCase { bits: number[]; insensitive: number[]; sensitive: number[] }
const vectors = readVectors('roulette.json');
const seed = Number(vectors.seed ?? 0);
const cases = ([] as RouletteCase[]).concat(vectors.cases as RouletteCase | RouletteCase[]);

// Each chi-square test rejects a correct sampler with probability ALPHA (seeded, so a given
// seed either always passes or always fails; ALPHA is the chance a fresh seed fails).
const ALPHA = 1e-6;
const DRAWS = 100_000;

function drawCounts(bits: number[], sensitive: boolean, rand: () => number): number[] {
  const counts = bits.map(() => 0);
  for (let i = 0; i < DRAWS; i++) {
    const r = 1 - rand(); // (0, 1]
    counts[bits.indexOf(rouletteBit(bits, sensitive, r))]++;
  }
  return counts;
}

test('rouletteProbabilities matches every case of roulette.json', () => {
  assert.ok(cases.length > 0);
  for (const c of cases) {
    for (const [sensitive, want] of [[false, c.insensitive], [true, c.sensitive]] as const) {
      const got = rouletteProbabilities(c.bits, sensitive);
      assert.is(got.length, want.length);
      got.forEach((p, i) => assert.ok(Math.abs(p - want[i]) < 1e-12, `bits ${c.bits} sensitive=${sensitive} [${i}]: ${p} vs ${want[i]}`));
    }
  }
});

test('gammaQ reproduces known chi-square tails', () => {
  assert.ok(Math.abs(gammaQ(1.5, 7.814727903251178 / 2) - 0.05) < 1e-9); // df 3, 95 %
  assert.ok(Math.abs(gammaQ(1, 9.210340371976184 / 2) - 0.01) < 1e-9); // df 2, 99 %
  assert.ok(Math.abs(gammaQ(5, 3.940299136119 / 2) - 0.95) < 1e-9); // df 10, 5 %
});

test(`rouletteBit draws follow rouletteProbabilities (chi-square, false-failure probability ${ALPHA} per check)`, () => {
  const rand = mulberry32(seed);
  for (const c of cases) {
    for (const sensitive of [false, true]) {
      const want = sensitive ? c.sensitive : c.insensitive;
      const { stat, df, p } = chiSquare(drawCounts(c.bits, sensitive, rand), want);
      assert.ok(p > ALPHA, `bits ${c.bits} sensitive=${sensitive}: chi2 ${stat.toFixed(2)} (df ${df}), p = ${p}`);
    }
  }
});

test('the chi-square check rejects the wrong wheel (the test can fail)', () => {
  const rand = mulberry32(seed + 1);
  for (const c of cases) {
    if (c.sensitive.every((p, i) => Math.abs(p - c.insensitive[i]) < 1e-3)) continue;
    const { p } = chiSquare(drawCounts(c.bits, true, rand), c.insensitive);
    assert.ok(p < ALPHA, `sensitive draws tested against the uniform wheel: p = ${p}`);
  }
});

test('rouletteBit picks by cumulative probability and validates r', () => {
  assert.is(rouletteBit([8, 6, 4, 2], true, 0.4), 8);
  assert.is(rouletteBit([8, 6, 4, 2], true, 0.41), 6);
  assert.is(rouletteBit([8, 6, 4, 2], true, 1), 2);
  assert.is(rouletteBit([8, 6, 4, 2], false, 0.26), 6);
  assert.is(rouletteBit([4, 3, 2], false, 1e-12), 4);
  assert.throws(() => rouletteBit([8, 4], true, 0), /r: expected a number in \(0, 1\]/);
  assert.throws(() => rouletteBit([8, 4], true, 1.5), /r: expected/);
  assert.throws(() => rouletteProbabilities([], true), /bits: expected a non-empty/);
  assert.throws(() => rouletteProbabilities([8, 0.5], true), /bits\[1\]/);
  assert.throws(() => rouletteProbabilities([8, 0], true), /^bits\[1\]: expected an integer in 1..32, got 0$/);
  assert.throws(() => rouletteProbabilities([33, 8], false), /^bits\[0\]: expected an integer in 1..32, got 33$/);
  assert.equal(rouletteProbabilities([32, 1], true), [32 / 33, 1 / 33]);
});

test('sensitiveLayers marks t_l >= t_m', () => {
  assert.equal(sensitiveLayers([1, 2, 3, 6]), [false, false, true, true]);
  assert.equal(sensitiveLayers([2, 2]), [true, true]);
  assert.throws(() => sensitiveLayers([]), /traces/);
  assert.throws(() => sensitiveLayers([1, NaN]), /traces\[1\]/);
});

test.run();
