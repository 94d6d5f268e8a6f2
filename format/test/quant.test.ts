import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  dequantizeActivation, dequantizeWeight, doubleRound, quantizeActivation, quantizeWeight, roundHalfEven,
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

test('Math.round does not appear in the quantization sources', async () => {
  const { readFileSync, readdirSync } = await import('node:fs');
  const dir = new URL('../src/', import.meta.url);
  for (const f of readdirSync(dir)) {
    const src = readFileSync(new URL(f, dir), 'utf8');
    assert.not.match(src, /Math\.round\(/, `${f} uses Math.round`);
  }
});

test.run();
