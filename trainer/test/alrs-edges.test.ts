// Edge cases of eq. 6-7 and the cosine schedule, from their closed forms: the clipping limit other
// than 1, a gradient exactly at the limit, a rate exactly zero, and a schedule of zero steps.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { alrsPaperRate, alrsRate, clippedMaxAbs, cosineRate } from '../src/index.ts';

test('clip_grad to a limit other than 1: max|g| · limit / ‖g‖', () => {
  // ‖(3, −4)‖ = 5 > 2, so the gradient is scaled by 2/5: max |g| 4 → 1.6
  assert.ok(Math.abs(clippedMaxAbs([3, -4], 2) - 1.6) < 1e-15);
  // ‖(0.3, 0.4)‖ = 0.5 ≤ 2: unchanged
  assert.is(clippedMaxAbs([0.3, 0.4], 2), 0.4);
});

test('a gradient whose norm equals the limit is not rescaled (exactly its max |g|)', () => {
  // ‖(0.1)‖ = 0.1 = limit; rescaling would give (0.1·0.1)/0.1 = 0.10000000000000002
  assert.is(clippedMaxAbs([0.1], 0.1), 0.1);
  assert.is(clippedMaxAbs([-0.1], 0.1), 0.1);
});

test('eq. 6: a rate of exactly zero is not flagged as floored', () => {
  // λ = 0.5, one layer with max |g| = 0.5: η·(0.5 − 0.5) = 0
  assert.equal(alrsPaperRate(0.5, 1, [[0.5]]), { rate: 0, floored: false });
  // no layers: the sum is empty and the rate is η·λ
  assert.equal(alrsPaperRate(0.5, 0.1, []), { rate: 0.05, floored: false });
});

test('cosine schedule: zero or negative total steps keep the base rate; steps past the end stay at 0', () => {
  assert.is(cosineRate(0.3, 0, 0), 0.3);
  assert.is(cosineRate(0.3, 7, 0), 0.3);
  assert.is(cosineRate(0.3, 7, -1), 0.3);
  assert.ok(Math.abs(cosineRate(2, 15, 10)) < 1e-15);
  // λ0·(1 + cos(π/4))/2 at a quarter of the run
  assert.ok(Math.abs(cosineRate(2, 25, 100) - (1 + Math.SQRT1_2)) < 1e-15);
});

test('alrsRate: off gives λ, code λ·0.1^rank, paper eq. 6 with η of eq. 7; gradients are read in paper mode only', () => {
  let reads = 0;
  const grads = () => { reads++; return [[0.3, -0.4], [2e-4]]; }; // clipped max-abs 0.4 and 2e-4
  assert.equal(alrsRate('off', 5e-4, 2, 4, grads), { rate: 5e-4, floored: false });
  const code = alrsRate('code', 5e-4, 2, 4, grads);
  assert.ok(Math.abs(code.rate - 5e-6) < 1e-18 && !code.floored, JSON.stringify(code));
  assert.is(reads, 0);
  // Δ = 4: η = 10^−2; term = (0.4 + 2e-4) / 2 = 0.2001 < λ = 0.5, so rate = 0.01 · (0.5 − 0.2001)
  const paper = alrsRate('paper', 0.5, 2, 4, grads);
  assert.ok(Math.abs(paper.rate - 0.01 * (0.5 - 0.2001)) < 1e-15 && !paper.floored, JSON.stringify(paper));
  assert.is(reads, 1);
  // Δ = 3: η = 5·10^−2; λ = 1e-4 below the term, so eq. 6 is negative and floored at 0
  assert.equal(alrsRate('paper', 1e-4, 1, 3, grads), { rate: 0, floored: true });
  assert.equal(alrsRate('paper', 1e-4, 1, 3, grads), alrsPaperRate(1e-4, 0.05, grads()));
});

test.run();
