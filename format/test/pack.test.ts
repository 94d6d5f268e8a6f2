import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { containerBits, packSigned, packedBytes, packedRowBytes, seededRandom, signedRange, unpackSigned } from '../src/index.ts';

test('container widths: 8 for 5..8 bits, 4 for 3..4, 2 for 1..2', () => {
  assert.equal([1, 2, 3, 4, 5, 6, 7, 8].map(containerBits), [2, 2, 4, 4, 8, 8, 8, 8]);
});

test('packedBytes is n rows of packedRowBytes', () => {
  assert.is(packedBytes(3, 5, 4), 48);
  assert.is(packedBytes(2, 40, 8), 96);
  assert.is(packedBytes(1, 65, 2), 32);
  assert.is(packedBytes(0, 7, 8), 0);
});

test('rows are padded to 16 bytes', () => {
  assert.is(packedRowBytes(1, 8), 16);
  assert.is(packedRowBytes(16, 8), 16);
  assert.is(packedRowBytes(17, 8), 32);
  assert.is(packedRowBytes(32, 4), 16);
  assert.is(packedRowBytes(33, 4), 32);
  assert.is(packedRowBytes(64, 2), 16);
  assert.is(packedRowBytes(65, 2), 32);
});

test('documented byte examples (LSB first, two\'s complement)', () => {
  const p4 = packSigned([-1, 2, 3], 4, 1, 3);
  assert.equal([...p4.subarray(0, 2)], [0x2f, 0x03]);
  const p2 = packSigned([1, -2, -1, 0, 1], 2, 1, 5);
  assert.equal([...p2.subarray(0, 2)], [0b00111001, 0b01]);
  const p8 = packSigned([-128, 127], 8, 1, 2);
  assert.equal([...p8.subarray(0, 2)], [0x80, 0x7f]);
  assert.ok(p8.subarray(2).every((b) => b === 0), 'padding is zero');
});

test('pack/unpack round-trips every bit width on random shapes', () => {
  const rand = seededRandom(7);
  for (let bits = 1; bits <= 8; bits++) {
    const [lo, hi] = signedRange(bits);
    for (let trial = 0; trial < 30; trial++) {
      const n = 1 + Math.floor(rand() * 9);
      const k = 1 + Math.floor(rand() * 70);
      const vals = Int8Array.from({ length: n * k }, () => lo + Math.floor(rand() * (hi - lo + 1)));
      const packed = packSigned(vals, bits, n, k);
      assert.is(packed.length, n * packedRowBytes(k, bits));
      assert.equal(unpackSigned(packed, bits, n, k), vals, `bits ${bits} n ${n} k ${k}`);
    }
  }
});

test('pack rejects out-of-range values and wrong lengths', () => {
  assert.throws(() => packSigned([8], 4, 1, 1), /values\[0\]: expected an integer in -8..7, got 8/);
  const msg = (fn: () => unknown) => { try { fn(); } catch (e) { return (e as Error).message; } return 'no error'; };
  // the index names the element of [n][k] (here r = 1, c = 2 of k = 3)
  for (const bad of [8, -9, 1.5, NaN]) assert.is(msg(() => packSigned([0, 0, 0, 0, 0, bad], 4, 2, 3)), `values[5]: expected an integer in -8..7, got ${bad}`);
  assert.is(msg(() => packSigned([7, -8], 4, 1, 2)), 'no error');
  assert.is(msg(() => packSigned([1], 9, 1, 1)), 'bits: expected an integer in 1..8, got 9');
  assert.is(msg(() => containerBits(0)), 'bits: expected an integer in 1..8, got 0');
  assert.throws(() => packSigned([1, 2], 4, 1, 3), /values.length: expected n\*k = 3, got 2/);
  assert.throws(() => unpackSigned(new Uint8Array(8), 8, 1, 3), /bytes.length: expected at least 16/);
});

test.run();
