// switchBits from resident values (W̃_h as the format reader delivers it: int8 [n][k]) against
// the scalar references, every h ≥ l, every family of every build, shapes off the tile sizes.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { doubleRoundAll } from '@bitswitch/format';
import { familiesOf, gemmRef } from '../src/index.ts';
import { KERNELS, assertSame, randomInts, rng } from './helpers.ts';

for (const kern of KERNELS) {
  test(`${kern.build}: switchBits(residentValues) = gemmRef of doubleRoundAll for h 2..8, every l ≤ h, every family`, () => {
    const rand = rng(1711);
    for (const family of familiesOf(kern.build)) {
      for (let h = 2; h <= 8; h++) {
        for (let l = 2; l <= h; l++) {
          if (!family.supports(l, l)) continue;
          const n = 1 + Math.floor(rand() * 40), k = 1 + Math.floor(rand() * 90), m = 1 + Math.floor(rand() * 9);
          const wh = randomInts(Int8Array, n * k, -(2 ** (h - 1)), 2 ** (h - 1) - 1, rand);
          const a = randomInts(Uint8Array, m * k, 0, 2 ** l - 1, rand);
          const values = kern.residentValues(wh, h, n, k);
          const pw = kern.switchBits(values, h, l, n, k, { abits: l, family: family.name });
          assertSame(kern.gemm({ a, m, k, weights: pw, abits: l }) as Int32Array, gemmRef(a, m, k, k, doubleRoundAll(wh, h, l), n),
            `${family.name} h${h} l${l} m${m} n${n} k${k}`);
          assertSame(new Uint8Array(kern.memory.buffer, pw.ptr, pw.bytes), family.packRef(doubleRoundAll(wh, h, l), l, n, k), `panels h${h} l${l}`);
          pw.dispose();
          kern.free(values);
        }
      }
    }
  });

  test(`${kern.build}: residentValues refuses values outside the h-bit range and switchBits a mismatched shape`, () => {
    assert.throws(() => kern.residentValues(Int8Array.of(0, 8), 4, 1, 2), /valuesNK\[1\]: expected an integer in -8..7, got 8/);
    const v = kern.residentValues(Int8Array.of(1, -2, 3, -4), 4, 2, 2);
    assert.throws(() => kern.switchBits(v, 5, 2, 2, 2), /values: expected resident values of h=5/);
    kern.free(v);
  });
}

test.run();
