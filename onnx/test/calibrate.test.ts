import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quantizeActivation, seededRandom } from '@bitswitch/format';
import { absmaxWeightScales, mseActivationScale } from '../src/index.ts';

const mse = (x: Float64Array, s: number, b: number) => x.reduce((a, v) => a + (v - quantizeActivation(v, s, b) * s) ** 2, 0);

test('values spread evenly are not clipped at 8 bits; a long tail is clipped, harder at fewer bits', () => {
  const rand = seededRandom(7);
  const even = Float64Array.from({ length: 20000 }, () => rand());
  const s8 = mseActivationScale(even, 8);
  assert.ok(Math.abs(s8 * 255 - 1) < 0.01, `8-bit clip ${s8 * 255}`);
  const tail = Float64Array.from({ length: 20000 }, () => -Math.log(1 - rand())); // exponential: max ≈ 10
  let max = 0;
  for (const v of tail) max = Math.max(max, v);
  const clip = [8, 4, 2].map((b) => mseActivationScale(tail, b) * (2 ** b - 1));
  assert.ok(clip[0] < max && clip[1] < clip[0] && clip[2] < clip[1], `clips ${clip} of max ${max}`);
  // the chosen scale beats no clipping on the real squared error, not only on the histogram
  for (const b of [8, 4, 2]) assert.ok(mse(tail, mseActivationScale(tail, b), b) < mse(tail, max / (2 ** b - 1), b));
});

test('all-zero or negative input gives scale 1; weights get per-row absmax / 127', () => {
  assert.is(mseActivationScale(new Float64Array([0, -1, 0]), 4), 1);
  const s = absmaxWeightScales(Float32Array.of(0.5, -1.27, 0, 0, 0.254, 0.1), 3, 8);
  assert.equal(Array.from(s), [Math.fround(1.27 / 127), 1, Math.fround(0.254 / 127)]);
});

test.run();
