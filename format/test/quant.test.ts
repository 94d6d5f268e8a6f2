import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  dequantizeActivation, dequantizeWeight, dequantizeWeights, doubleRound, doubleRoundAll, quantizeActivation, quantizeActivations,
  quantizeWeight, quantizeWeights, roundHalfEven,
} from '../src/index.ts';
import { vectorFiles } from '../src/node.ts';

const f32 = (x: number) => Math.fround(x);
/** |a - b| within one float32 ulp of b. */
function withinUlp(a: number, b: number): boolean {
  const fb = f32(b);
  const next = new Float32Array([fb]);
  const bits = new Int32Array(next.buffer);
  bits[0] += fb >= 0 ? 1 : -1;
  const ulp = Math.abs(next[0] - fb) || Number.MIN_VALUE;
  return Math.abs(f32(a) - fb) <= ulp;
}

test('roundHalfEven: ties go to the even neighbour', () => {
  const table: [number, number][] = [[0.5, 0], [1.5, 2], [2.5, 2], [3.5, 4], [-0.5, -0], [-1.5, -2], [-2.5, -2], [2.4999, 2], [2.5001, 3], [-7, -7]];
  for (const [x, want] of table) assert.is(roundHalfEven(x), want, `round(${x})`);
});

test('doubleRound: shift ties of eq. 2 round half to even', () => {
  // W̃_8 / 2^2: 6/4 = 1.5 → 2, 10/4 = 2.5 → 2, -6/4 = -1.5 → -2, -10/4 = -2.5 → -2
  assert.is(doubleRound(6, 8, 6), 2);
  assert.is(doubleRound(10, 8, 6), 2);
  assert.is(doubleRound(-6, 8, 6), -2);
  assert.is(doubleRound(-10, 8, 6), -2);
  assert.is(doubleRound(127, 8, 2), 1); // 127/64 = 1.98 → 2, clipped to 1
  assert.is(doubleRound(-128, 8, 2), -2);
  assert.throws(() => doubleRound(3, 4, 6), /l: expected an integer in 1..4/);
});

test('eq. 1-3 match every double_rounding vector case', () => {
  const files = vectorFiles('double_rounding');
  assert.ok(files.length > 0, 'no double_rounding vectors found');
  let checked = 0;
  for (const { file, data } of files) {
    for (const [ci, c] of data.cases.entries()) {
      const where = `${file} case ${ci}`;
      const wh = c.w.map((w: number) => quantizeWeight(w, c.scale, c.h));
      assert.equal(wh, c.wh, `${where}: wh`);
      for (const [l, expect] of Object.entries<any>(c.low)) {
        const wl = wh.map((v: number) => doubleRound(v, c.h, Number(l)));
        assert.equal(wl, expect.wl, `${where}: wl at ${l} bits`);
        wl.forEach((v: number, i: number) => {
          const dq = dequantizeWeight(v, c.scale, c.h, Number(l));
          assert.ok(withinUlp(dq, expect.dequant[i]), `${where}: dequant[${i}] at ${l} bits: ${dq} vs ${expect.dequant[i]}`);
        });
        checked++;
      }
    }
  }
  assert.ok(checked > 0);
});

test('eq. 4-5 match every activation vector case', () => {
  const files = vectorFiles('activation');
  assert.ok(files.length > 0, 'no activation vectors found');
  for (const { file, data } of files) {
    for (const [ci, c] of data.cases.entries()) {
      for (const [b, expect] of Object.entries<any>(c.bits)) {
        const xq = c.x.map((x: number) => quantizeActivation(x, expect.scale, Number(b)));
        assert.equal(xq, expect.xq, `${file} case ${ci}: xq at ${b} bits`);
        xq.forEach((q: number, i: number) => {
          assert.ok(withinUlp(dequantizeActivation(q, expect.scale), expect.dequant[i]), `${file} case ${ci}: dequant[${i}] at ${b} bits`);
        });
      }
    }
  }
});

test('quantize functions reject bad bits and scales', () => {
  assert.throws(() => quantizeWeight(1, 0.1, 9), /bits: expected an integer in 1..8, got 9/);
  assert.throws(() => quantizeActivation(1, 0.1, 0), /bits: expected an integer in 1..8, got 0/);
});

test('tensor forms match every vector case, per tensor and per output channel', () => {
  let checked = 0;
  for (const { file, data } of vectorFiles('double_rounding')) {
    for (const [ci, c] of data.cases.entries()) {
      const where = `${file} case ${ci}`;
      const w = Float32Array.from(c.w);
      const n = w.length % 2 === 0 ? 2 : 1;
      const k = w.length / n;
      assert.equal(Array.from(quantizeWeights(w, [c.scale], c.h, n)), c.wh, `${where}: quantizeWeights per tensor`);
      // per channel: row 1 at twice the scale (its codes from eq. 1 on each element, checked above)
      if (n === 2) {
        const perChannel = Array.from(quantizeWeights(w, [c.scale, 2 * c.scale], c.h, 2));
        assert.equal(perChannel.slice(0, k), c.wh.slice(0, k), `${where}: row 0`);
        assert.equal(perChannel.slice(k), Array.from(w.subarray(k), (v) => quantizeWeight(v, 2 * c.scale, c.h)), `${where}: row 1`);
      }
      for (const [l, expect] of Object.entries<any>(c.low)) {
        const wl = doubleRoundAll(Int8Array.from(c.wh), c.h, Number(l));
        assert.equal(Array.from(wl), expect.wl, `${where}: doubleRoundAll at ${l} bits`);
        const dq = dequantizeWeights(wl, [c.scale], c.h, Number(l), n);
        assert.equal(Array.from(dq), Array.from(Float32Array.from(expect.dequant)), `${where}: dequantizeWeights at ${l} bits`);
        if (n === 2) {
          const dq2 = dequantizeWeights(wl, [c.scale, 2 * c.scale], c.h, Number(l), 2);
          assert.equal(Array.from(dq2.subarray(k)), Array.from(Float32Array.from(expect.dequant.slice(k), (v: number) => 2 * v)), `${where}: row 1 at twice the scale`);
        }
        checked++;
      }
    }
  }
  for (const { file, data } of vectorFiles('activation')) {
    for (const c of data.cases) {
      for (const [b, expect] of Object.entries<any>(c.bits)) {
        assert.equal(Array.from(quantizeActivations(Float32Array.from(c.x), expect.scale, Number(b))), expect.xq, `${file}: quantizeActivations at ${b} bits`);
        checked++;
      }
    }
  }
  assert.ok(checked > 0);
});

test('tensor forms reject bad shapes, bits and scales, naming the argument', () => {
  const w = new Float32Array(6);
  const msg = (fn: () => unknown) => { try { fn(); } catch (e) { return (e as Error).message; } return 'no error'; };
  assert.is(msg(() => quantizeWeights(w, [1], 8, 0)), 'n: expected a divisor of w.length 6, got 0');
  assert.is(msg(() => quantizeWeights(w, [1], 8, 4)), 'n: expected a divisor of w.length 6, got 4');
  assert.is(msg(() => quantizeWeights(w, [1], 8, -2)), 'n: expected a divisor of w.length 6, got -2');
  // one row: 0.25 / 0.1 = 2.5 in float64 → 2 (tie to even); f32(-0.35) / 0.1 = -3.49999994 → -3
  assert.equal(Array.from(quantizeWeights(Float32Array.of(0.25, -0.35), [0.1], 8, 1)), [2, -3]);
  assert.is(msg(() => quantizeWeights(w, [1, 1], 8, 3)), 'scale.length: expected 1 or 3, got 2');
  assert.is(msg(() => quantizeWeights(w, [1, 1, 0], 8, 3)), 'scale[2]: expected a finite number > 0, got 0');
  assert.is(msg(() => quantizeWeights(w, [-1], 8, 3)), 'scale[0]: expected a finite number > 0, got -1');
  assert.is(msg(() => quantizeWeights(w, [Infinity], 8, 3)), 'scale[0]: expected a finite number > 0, got Infinity');
  assert.is(msg(() => quantizeWeights(w, [NaN], 8, 3)), 'scale[0]: expected a finite number > 0, got NaN');
  assert.is(msg(() => quantizeWeights(w, [1], 9, 3)), 'h: expected an integer in 2..8, got 9');
  assert.equal(Array.from(quantizeWeights(Float32Array.of(0.3, -0.3, 1, 2, 3, 4), [0.1, 1, 2], 8, 3)), [3, -3, 1, 2, 2, 2]);
  assert.is(msg(() => doubleRoundAll(new Int8Array(2), 9, 2)), 'h: expected an integer in 2..8, got 9');
  assert.is(msg(() => doubleRoundAll(new Int8Array(2), 8, 0)), 'l: expected an integer in 1..8, got 0');
  assert.is(msg(() => quantizeActivations(w, 0.1, 9)), 'bits: expected an integer in 1..8, got 9');
  assert.is(msg(() => quantizeActivations(w, 0, 8)), 'scale: expected a finite number > 0, got 0');
  assert.is(msg(() => quantizeActivations(w, NaN, 8)), 'scale: expected a finite number > 0, got NaN');
  assert.is(msg(() => quantizeActivations(w, Infinity, 8)), 'scale: expected a finite number > 0, got Infinity');
  assert.equal(Array.from(quantizeActivations(Float32Array.of(-1, 0.25, 0.75, 9), 0.5, 3)), [0, 0, 2, 7]);
});

test('Math.round does not appear in the quantization sources', async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const dir = new URL('../src/', import.meta.url);
  for (const f of readdirSync(dir)) {
    const src = readFileSync(new URL(f, dir), 'utf8');
    assert.not.match(src, /Math\.round\(/, `${f} uses Math.round`);
  }
});

test.run();
