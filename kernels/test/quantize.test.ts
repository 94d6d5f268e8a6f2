import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quantizeActivationsRef, quantizeWeightsRef } from '../src/index.ts';
import { KERNELS, assertSame, readVectors, rng } from './helpers.ts';

/** Weights with many exact ties: multiples of scale/2 for a power-of-two scale, plus random and extreme values. */
function weightCase(n: number, k: number, scale: number, rand: () => number): Float32Array {
  const w = new Float32Array(n * k);
  for (let i = 0; i < w.length; i++) {
    const r = rand();
    w[i] = r < 0.4 ? (Math.floor(rand() * 600) - 300) * scale / 2 : r < 0.9 ? (rand() - 0.5) * 400 * scale : (rand() < 0.5 ? -1 : 1) * 1e6;
  }
  return w;
}

for (const kern of KERNELS) {
  test(`${kern.build}: eq. 1 weights match the reference (per tensor and per channel, h = 2..8, ties)`, () => {
    const rand = rng(1);
    for (const [n, k] of [[1, 1], [3, 17], [8, 64], [5, 33]]) {
      for (let h = 2; h <= 8; h++) {
        const w = weightCase(n, k, 0.25, rand);
        assertSame(kern.quantizeWeights(w, [0.25], h, n), quantizeWeightsRef(w, [0.25], h, n), `n${n} k${k} h${h}`);
        const scales = Float32Array.from({ length: n }, () => 0.01 + rand());
        assertSame(kern.quantizeWeights(w, scales, h, n), quantizeWeightsRef(w, scales, h, n), `per-channel n${n} k${k} h${h}`);
      }
    }
  });

  test(`${kern.build}: eq. 4 activations match the reference (bits 1..8, ties, negatives)`, () => {
    const rand = rng(2);
    for (let bits = 1; bits <= 8; bits++) {
      for (const len of [1, 15, 16, 17, 1000]) {
        const x = Float32Array.from({ length: len }, () => (rand() < 0.5 ? Math.floor(rand() * 1200 - 100) / 2 * 0.125 : (rand() - 0.3) * 80));
        assertSame(kern.quantizeActivations(x, 0.125, bits), quantizeActivationsRef(x, 0.125, bits), `bits ${bits} len ${len}`);
        assertSame(kern.quantizeActivations(x, 0.37, bits), quantizeActivationsRef(x, 0.37, bits), `bits ${bits} len ${len} s 0.37`);
      }
    }
  });

  test(`${kern.build}: eq. 4 SIMD lanes match the reference on ties, clip boundaries, extremes and odd lengths`, () => {
    const rand = rng(12);
    for (const scale of [0.1, 0.125, 0.3, 1 / 3, 7.5e-3, 1e-30, 3e30]) {
      for (const bits of [1, 2, 4, 6, 8]) {
        const hi = 2 ** bits - 1;
        const len = 1 + Math.floor(rand() * 90);
        const x = Float32Array.from({ length: len }, () => {
          const r = rand();
          if (r < 0.3) return (Math.floor(rand() * 2 * hi + 4) - 2 + 0.5) * scale; // near .5 ties
          if (r < 0.45) return (hi + (rand() - 0.5)) * scale; // around the upper clip
          if (r < 0.55) return [0, -0, -1e-45, 1e-45, 3.4e38, -3.4e38, Infinity, -Infinity][Math.floor(rand() * 8)];
          return (rand() - 0.2) * 1.5 * hi * scale;
        });
        assertSame(kern.quantizeActivations(x, scale, bits), quantizeActivationsRef(x, scale, bits), `s ${scale} bits ${bits} len ${len}`);
      }
    }
  });

  test(`${kern.build}: eq. 4 within 1e-6 of .5 ties (where x · 1/s and x / s can round apart) matches the reference`, () => {
    const rand = rng(14);
    for (let r = 0; r < 12; r++) {
      const scale = Math.fround(10 ** (rand() * 8 - 5));
      const bits = 1 + Math.floor(rand() * 8);
      const x = Float32Array.from({ length: 20000 + r }, () => (Math.floor(rand() * (2 ** bits + 2)) - 1 + 0.5 + (rand() - 0.5) * 2e-6) * scale);
      assertSame(kern.quantizeActivations(x, scale, bits), quantizeActivationsRef(x, scale, bits), `s ${scale} bits ${bits}`);
    }
  });

  test(`${kern.build}: eq. 4 reads and writes views on wasm memory in place`, () => {
    const rand = rng(13);
    const x = Float32Array.from({ length: 37 }, () => (rand() - 0.2) * 20);
    kern.quantizeActivations(x, 0.1, 8); // warm the allocator so the views below stay live
    const xb = kern.resident(new Uint8Array(x.buffer));
    const ob = kern.resident(new Uint8Array(x.length));
    const xView = new Float32Array(kern.memory.buffer, xb.ptr, x.length);
    const oView = new Uint8Array(kern.memory.buffer, ob.ptr, x.length);
    const got = kern.quantizeActivations(xView, 0.1, 8, oView);
    assert.ok(got === oView);
    assertSame(got, quantizeActivationsRef(x, 0.1, 8), 'in place');
    const js = new Uint8Array(x.length);
    assert.ok(kern.quantizeActivations(x, 0.1, 8, js) === js);
    assertSame(js, quantizeActivationsRef(x, 0.1, 8), 'into a JS out');
    kern.free(xb); kern.free(ob);
    assert.throws(() => kern.quantizeActivations(x, 0.1, 8, new Uint8Array(3)), /out.length: expected 37, got 3/);
    assert.is(kern.residentBytes, 0);
  });

  test(`${kern.build}: eq. 1 and eq. 4 match the shared vectors`, () => {
    for (const c of readVectors<{ h: number; scale: number; w: number[]; wh: number[] }>('double_rounding.json').cases) {
      const w = Float32Array.from(c.w);
      assertSame(kern.quantizeWeights(w, [c.scale], c.h, 1), c.wh, `h ${c.h}`);
    }
    for (const c of readVectors<{ x: number[]; bits: Record<string, { scale: number; xq: number[] }> }>('activation.json').cases) {
      const x = Float32Array.from(c.x);
      for (const [bits, v] of Object.entries(c.bits)) {
        assertSame(kern.quantizeActivations(x, v.scale, Number(bits)), v.xq, `bits ${bits}`);
      }
    }
  });

  test(`${kern.build}: misuse raises RangeError naming the field`, () => {
    const w = new Float32Array(6);
    assert.throws(() => kern.quantizeWeights(w, [1], 9, 2), /h: expected an integer in 2..8/);
    assert.throws(() => kern.quantizeWeights(w, [1, 1, 1], 8, 2), /scale.length: expected 1 or 2/);
    assert.throws(() => kern.quantizeWeights(w, [0], 8, 2), /scale\[0\]: expected a finite number > 0/);
    assert.throws(() => kern.quantizeWeights(w, [1], 8, 4), /n: expected a divisor/);
    assert.throws(() => kern.quantizeActivations(w, 1, 0), /bits: expected an integer in 1..8/);
    assert.throws(() => kern.quantizeActivations([1] as never, 1, 4), /x: expected a Float32Array/);
    assert.is(kern.residentBytes, 0);
  });
}

test.run();
