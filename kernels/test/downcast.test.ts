import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packSigned, packedRowBytes, signedRange, unpackSigned } from '@bitswitch/format';
import { downcastRef } from '../src/index.ts';
import { KERNELS, assertSame, randomInts, readVectors, rng } from './helpers.ts';

// k around each SIMD block (16 values for 8-bit output, 32 for 4-bit, 64 for 2-bit containers)
const KS = [1, 2, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 129, 200];

function stored(values: Int8Array, h: number, n: number, k: number): Uint8Array {
  return packSigned(values, h, n, k);
}

for (const kern of KERNELS) {
  test(`${kern.build}: eq. 2 down-cast matches packSigned(doubleRoundAll(…)) for every h ≥ l ≥ 2 and k around the blocks`, () => {
    const rand = rng(3);
    for (let h = 2; h <= 8; h++) {
      const [lo, hi] = signedRange(h);
      for (let l = 2; l <= h; l++) {
        for (const k of KS) {
          const n = 1 + Math.floor(rand() * 3);
          const src = stored(randomInts(Int8Array, n * k, lo, hi, rand), h, n, k);
          assertSame(kern.downcast(src, h, l, n, k), downcastRef(src, h, l, n, k), `h${h} l${l} n${n} k${k}`);
        }
      }
    }
  });

  test(`${kern.build}: down-cast of extreme, zero and all-tie values`, () => {
    for (const [h, l] of [[8, 2], [8, 4], [8, 6], [8, 7], [8, 8], [6, 3], [4, 2]]) {
      const [lo, hi] = signedRange(h);
      const k = 130;
      for (const fill of [lo, hi, 0, -1, 1]) {
        const src = stored(new Int8Array(2 * k).fill(fill), h, 2, k);
        assertSame(kern.downcast(src, h, l, 2, k), downcastRef(src, h, l, 2, k), `h${h} l${l} fill ${fill}`);
      }
      // every value of the range, so each tie (odd multiple of 2^(h-l-1)) is hit in both signs
      const all = Int8Array.from({ length: hi - lo + 1 }, (_, i) => lo + i);
      const src = stored(all, h, 1, all.length);
      assertSame(kern.downcast(src, h, l, 1, all.length), downcastRef(src, h, l, 1, all.length), `h${h} l${l} full range`);
    }
  });

  test(`${kern.build}: down-cast matches the shared Double Rounding vectors`, () => {
    for (const c of readVectors<{ h: number; wh: number[]; low: Record<string, { wl: number[] }> }>('double_rounding.json').cases) {
      const k = c.wh.length;
      const src = stored(Int8Array.from(c.wh), c.h, 1, k);
      for (const [l, v] of Object.entries(c.low)) {
        if (Number(l) < 2) continue;
        assertSame(unpackSigned(kern.downcast(src, c.h, Number(l), 1, k), Number(l), 1, k), v.wl, `h${c.h} l${l}`);
      }
    }
  });

  test(`${kern.build}: down-cast from a resident buffer and misuse`, () => {
    const src = stored(Int8Array.from([100, -100, 3, 5]), 8, 2, 2);
    const buf = kern.resident(src);
    assertSame(kern.downcast(buf, 8, 4, 2, 2), downcastRef(src, 8, 4, 2, 2), 'resident');
    const outBuf = kern.resident(new Uint8Array(2 * packedRowBytes(2, 4)));
    const outView = new Uint8Array(kern.memory.buffer, outBuf.ptr, outBuf.bytes);
    assert.ok(kern.downcast(buf, 8, 4, 2, 2, outView) === outView, 'written in place');
    assertSame(new Uint8Array(kern.memory.buffer, outBuf.ptr, outBuf.bytes), downcastRef(src, 8, 4, 2, 2), 'in place');
    const plain = new Uint8Array(outBuf.bytes);
    assert.ok(kern.downcast(src, 8, 4, 2, 2, plain) === plain);
    assertSame(plain, downcastRef(src, 8, 4, 2, 2), 'into a JS array');
    assert.throws(() => kern.downcast(src, 8, 4, 2, 2, new Uint8Array(3)), /out.length: expected 32, got 3/);
    kern.free(buf); kern.free(outBuf);
    assert.throws(() => kern.downcast(src, 8, 1, 2, 2), /l: expected an integer in 2..8/);
    assert.throws(() => kern.downcast(src, 4, 6, 2, 2), /l: expected an integer in 2..4/);
    assert.throws(() => kern.downcast(src, 9, 4, 2, 2), /h: expected an integer in 2..8/);
    assert.throws(() => kern.downcast(src, 8, 4, 3, 2), new RegExp(`stored.length: expected ${3 * packedRowBytes(2, 8)}`));
    assert.throws(() => kern.downcast(src, 8, 4, 2, 0), /k: expected an integer in 1/);
    assert.is(kern.residentBytes, 0);
  });
}

test.run();
