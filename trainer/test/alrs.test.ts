import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readVectors } from '@bitswitch/format/node';
import { alrsCodeRate, alrsEta, alrsPaperRate, clippedMaxAbs } from '../src/math/alrs.ts';
import { cosineRate } from '../src/math/schedule.ts';

test('eq. 7 η_b matches alrs.json for every delta', () => {
  const { eta_by_delta } = readVectors('alrs.json').cases as { eta_by_delta: Record<string, number> };
  const entries = Object.entries(eta_by_delta);
  assert.ok(entries.length > 0);
  for (const [d, eta] of entries) assert.ok(Math.abs(alrsEta(Number(d)) - eta) < 1e-12 * eta, `delta ${d}`);
  assert.throws(() => alrsEta(-1), /delta/);
});

test('clip_grad then max_abs: norm above 1 scales the gradient down', () => {
  assert.is(clippedMaxAbs([0.3, -0.4]), 0.4);
  assert.ok(Math.abs(clippedMaxAbs([3, -4]) - 0.8) < 1e-12);
});

test('eq. 6 as written, floored at zero and flagged', () => {
  const small = alrsPaperRate(1e-3, 0.1, [[1e-5], [2e-5, -3e-5]]);
  assert.ok(!small.floored);
  assert.ok(Math.abs(small.rate - 0.1 * (1e-3 - (1e-5 + 3e-5) / 2)) < 1e-15);
  const big = alrsPaperRate(5e-4, 1, [[0.5], [3, 4]]);
  assert.equal(big, { rate: 0, floored: true });
});

test('code variant λ·0.1^rank and cosine schedule', () => {
  assert.ok(Math.abs(alrsCodeRate(5e-4, 3) - 5e-7) < 1e-18);
  assert.is(cosineRate(1, 0, 10), 1);
  assert.ok(Math.abs(cosineRate(1, 5, 10) - 0.5) < 1e-12);
  assert.ok(Math.abs(cosineRate(1, 10, 10)) < 1e-12);
});

test.run();
