// The scalar references themselves, against sources that do not share their code: the shared
// vectors (gemm.json, double_rounding.json, eq. 4 codes decided by exact comparison), closed forms
// worked by hand, the panel layout as kernels/README.md describes it, and convolution written as
// "pad the image with zeros, then slide the window" instead of im2col's bounds checks.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exactActivationCode, packSigned, seededRandom as rng, tieAdjacentActivations, unpackSigned } from '@bitswitch/format';
import { readVectors } from '@bitswitch/format/node';
import { tfGeometry, zeroPadSlide } from '../../test/mutation-oracles.ts';
import { convGeometry, downcastRef, epilogueRef, gemmF32Ref, gemmRef, im2colRef, packPanelsRef } from '../src/index.ts';

// (not helpers.ts: it instantiates every wasm build on import, which these scalar checks do not need)
function assertSame(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.is(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) if (!Object.is(actual[i], expected[i])) assert.unreachable(`${what}: index ${i}: got ${actual[i]}, expected ${expected[i]}`);
}
function randomInts<T extends Int8Array | Uint8Array>(Type: { new(n: number): T }, len: number, lo: number, hi: number, rand: () => number): T {
  const out = new Type(len);
  for (let i = 0; i < len; i++) out[i] = lo + Math.floor(rand() * (hi - lo + 1));
  return out;
}

const f32 = Math.fround;

interface GemmCase { M: number; N: number; K: number; a_unsigned_row_major_MxK: number[]; w_signed_row_major_KxN: number[]; c_int32_row_major_MxN: number[] }

test('gemmRef: every case of gemm.json, with A read through a row stride larger than K', () => {
  const cases = (readVectors('gemm.json').cases as GemmCase[]);
  assert.ok(cases.length > 0);
  for (const c of cases) {
    const w = new Int8Array(c.N * c.K); // [n][k] from the file's [k][n]
    for (let k = 0; k < c.K; k++) for (let n = 0; n < c.N; n++) w[n * c.K + k] = c.w_signed_row_major_KxN[k * c.N + n];
    const a = Uint8Array.from(c.a_unsigned_row_major_MxK);
    assertSame(gemmRef(a, c.M, c.K, c.K, w, c.N), c.c_int32_row_major_MxN, `M${c.M} N${c.N} K${c.K}`);
    // the same rows with 3 extra columns of 255 each: the stride skips them
    const lda = c.K + 3;
    const padded = new Uint8Array(c.M * lda).fill(255);
    for (let m = 0; m < c.M; m++) padded.set(a.subarray(m * c.K, (m + 1) * c.K), m * lda);
    assertSame(gemmRef(padded, c.M, c.K, lda, w, c.N), c.c_int32_row_major_MxN, `M${c.M} N${c.N} K${c.K} lda ${lda}`);
  }
});

test('gemmF32Ref: sums in k order, one float32 rounding per add and per multiply (no FMA)', () => {
  // 2^24 + 1 + 1 in float32, left to right: each +1 is a tie that rounds back to 2^24 (even);
  // float64 or any other order would give 2^24 + 2.
  const big = 2 ** 24;
  assertSame(gemmF32Ref(Float32Array.of(big, 1, 1), 1, 3, 3, Float32Array.of(1, 1, 1), 1), [big], 'k order');
  assertSame(gemmF32Ref(Float32Array.of(1, 1, big), 1, 3, 3, Float32Array.of(1, 1, 1), 1), [big + 2], 'small terms first');
  // (1 + 2^-12)² = 1 + 2^-11 + 2^-24 rounds (a tie, to even) to 1 + 2^-11 before the add, so the sum is 0;
  // a fused multiply-add would keep 2^-24.
  const e = 1 + 2 ** -12;
  assertSame(gemmF32Ref(Float32Array.of(-(1 + 2 ** -11), e), 1, 2, 2, Float32Array.of(1, e), 1), [0], 'rounded product');
  // 2×2 by 2 outputs with a row stride of 3: C[i][j] = Σ_k A[i][k]·W[j][k]
  const a = Float32Array.of(1, 2, 99, 3, -4, 99);
  const w = Float32Array.of(0.5, 0.25, -1, 2);
  assertSame(gemmF32Ref(a, 2, 2, 3, w, 2), [1, 3, 0.5, -11], 'C = A·Wᵀ');
});

test('epilogueRef: scales per channel and shared, bias, then ·mul, +add, +residual, ReLU, in that order', () => {
  const acc = Int32Array.of(1, 2, 3, -4); // [m=2][n=2]
  const base = { wScale: [0.5, 0.25], aScale: 2 }; // column scales 1 and 0.5
  assertSame(epilogueRef(acc, 2, 2, base), [1, 1, 3, -2], 'scales');
  assertSame(epilogueRef(acc, 2, 2, { wScale: [0.5], aScale: 2 }), [1, 2, 3, -4], 'one scale for every column');
  const full = { ...base, bias: [1, -1], mul: [2, 3], add: [0.5, 1], residual: [1, 1, 1, 1] };
  // (y + bias)·mul + add + residual: [[1,1],[3,-2]] → [[2,0],[4,-3]] → [[4,0],[8,-9]] → [[4.5,1],[8.5,-8]] → [[5.5,2],[9.5,-7]]
  assertSame(epilogueRef(acc, 2, 2, full), [5.5, 2, 9.5, -7], 'affine and residual');
  assertSame(epilogueRef(acc, 2, 2, { ...full, relu: true }), [5.5, 2, 9.5, 0], 'ReLU');
  assertSame(epilogueRef(acc, 2, 2, { ...full, relu: false }), [5.5, 2, 9.5, -7], 'relu: false');
  const out = epilogueRef(acc, 2, 2, { ...full, relu: true, requant: { scale: 2, bits: 2 } });
  assert.instance(out, Uint8Array);
  // y / 2 = 2.75, 1, 4.75, 0 → 3, 1, 5, 0 → clipped to 2^2 − 1 = 3
  assertSame(out, [3, 1, 3, 0], 'requant clip');
  // negative y clips to 0 without ReLU; halves round to even
  assertSame(epilogueRef(Int32Array.of(-3, 1, 3, 5), 1, 4, { wScale: [0.5], aScale: 1, requant: { scale: 1, bits: 8 } }), [0, 0, 2, 2], 'ties and negatives');
  // each step rounds to float32: f32(aScale) · f32(wScale), f32(acc · s), f32(y + bias)
  const y = epilogueRef(Int32Array.of(3), 1, 1, { wScale: [0.1], aScale: 0.1, bias: [1e-9] });
  assert.is(y[0], f32(f32(3 * f32(f32(0.1) * f32(0.1))) + f32(1e-9)));
  assert.is.not(y[0], 3 * 0.1 * 0.1 + 1e-9);
});

test('epilogueRef re-quantization is eq. 4 in float64: the code decided by exact comparison, next to every .5 tie', () => {
  let checked = 0;
  for (const c of tieAdjacentActivations()) {
    // acc 1 and aScale 1 make y = f32(x) in column j (wScale[j] = x[j])
    const n = c.x.length;
    const got = epilogueRef(new Int32Array(n).fill(1), 1, n, { wScale: c.x, aScale: 1, requant: { scale: c.scale, bits: c.bits } });
    for (let j = 0; j < n; j++) {
      assert.is(got[j], exactActivationCode(c.x[j], c.scale, c.bits), `x=${c.x[j]} s=${c.scale} b=${c.bits}`);
      checked++;
    }
  }
  assert.ok(checked > 1000);
  // the example: f32(0.35) / f32(0.1) = 3.4999999…, code 3 (a float32 division would round to 3.5 and give 4)
  assert.equal(Array.from(epilogueRef(Int32Array.of(1), 1, 1, { wScale: [0.35], aScale: 1, requant: { scale: 0.1, bits: 4 } })), [3]);
});

interface DrCase { h: number; wh: number[]; low: Record<string, { wl: number[] }> }

test('downcastRef: eq. 2 on packed rows equals double_rounding.json for every lower bit', () => {
  const cases = (readVectors('double_rounding.json').cases as DrCase[]);
  let checked = 0;
  for (const c of cases) {
    const k = c.wh.length;
    // two rows: the vector, then the vector reversed
    const wh = Int8Array.from([...c.wh, ...[...c.wh].reverse()]);
    const stored = packSigned(wh, c.h, 2, k);
    for (const [ls, exp] of Object.entries(c.low)) {
      const l = Number(ls);
      const got = unpackSigned(downcastRef(stored, c.h, l, 2, k), l, 2, k);
      assertSame(got, [...exp.wl, ...[...exp.wl].reverse()], `h=${c.h} l=${l}`);
      checked++;
    }
  }
  assert.ok(checked > 0);
});

/** Panel value (n, c) read back as kernels/README.md lays it out; container width cb, tile width nr. */
function readPanel(bytes: Uint8Array, bits: number, n: number, c: number, path: 0 | 1, kp: number): number {
  const nr = path === 0 ? 8 : 16;
  const cb = bits <= 2 ? 2 : bits <= 4 ? 4 : 8;
  const nl = n % nr;
  const [p, j] = [Math.floor(c / 2), c % 2];
  const idx = path === 0 ? 16 * p + 2 * nl + j : 32 * p + 16 * Math.floor(nl / 8) + 2 * (nl % 8) + j;
  const perGroup = (16 * 8) / cb;
  const group = Math.floor(idx / perGroup);
  const plane = Math.floor((idx % perGroup) / 16);
  const byte = Math.floor(n / nr) * (kp * nr * cb) / 8 + group * 16 + (idx % perGroup) % 16;
  const raw = (bytes[byte] >> (plane * cb)) & ((1 << cb) - 1);
  return raw >= 1 << (cb - 1) ? raw - (1 << cb) : raw;
}

test('packPanelsRef: bytes worked by hand from the README layout', () => {
  // one row, 8-bit, dot16: value (0, c) at byte c; the tile is kp·nr = 8·8 bytes
  const p8 = packPanelsRef(Int8Array.of(5, -3), 8, 1, 2, 0);
  assert.is(p8.length, 64);
  assertSame(p8.subarray(0, 3), [5, 253, 0], '8-bit');
  assert.ok(p8.subarray(2).every((b) => b === 0));
  // 4-bit: values 0, 1 (pair 0) in the low nibbles of bytes 0, 1; values 2, 3 (pair 1, idx 16, 17) in their high nibbles
  const p4 = packPanelsRef(Int8Array.of(3, -2, 5, -1), 4, 1, 4, 0);
  assert.is(p4.length, 32);
  assertSame(p4.subarray(0, 3), [0x53, 0xfe, 0], '4-bit planes');
  // 2-bit: pairs 0..3 are planes 0..3 of bytes 0 and 1
  const p2 = packPanelsRef(Int8Array.of(1, -1, -2, 0, 1, 1, -1, -2), 2, 1, 8, 0);
  assert.is(p2.length, 16);
  assertSame(p2.subarray(0, 3), [0b11_01_10_01, 0b10_01_00_11, 0], '2-bit planes');
  // dot8: row 9 is n_local 9 → (9 >> 3)·16 + (9 & 7)·2 = 18 for c = 0
  const rows = new Int8Array(10 * 1);
  rows[9] = 7;
  const d8 = packPanelsRef(rows, 8, 10, 1, 1);
  assert.is(d8.length, 8 * 16);
  assert.is(d8[18], 7);
  assert.is(d8.reduce((s, b) => s + b, 0), 7);
});

test('packPanelsRef: every value is where the README says, padding is zero, tiles are kp·nr·cb/8 bytes', () => {
  const rand = rng(21);
  for (const path of [0, 1] as const) {
    for (const bits of [8, 7, 6, 5, 4, 3, 2]) {
      for (const [n, k] of [[1, 1], [8, 8], [9, 13], [17, 2], [33, 40], [5, 64]]) {
        const lo = -(2 ** (bits - 1));
        const values = randomInts(Int8Array, n * k, lo, -lo - 1, rand);
        const nr = path === 0 ? 8 : 16;
        const cb = bits <= 2 ? 2 : bits <= 4 ? 4 : 8;
        const kp = Math.ceil(k / 8) * 8;
        const packed = packPanelsRef(values, bits, n, k, path);
        const what = `path ${path} bits ${bits} ${n}×${k}`;
        assert.is(packed.length, Math.ceil(n / nr) * kp * nr * cb / 8, what);
        const decoded = [];
        for (let r = 0; r < n; r++) for (let c = 0; c < k; c++) decoded.push(readPanel(packed, bits, r, c, path, kp));
        assertSame(decoded, values, what);
        for (let r = n; r < Math.ceil(n / nr) * nr; r++) for (let c = 0; c < kp; c++) assert.is(readPanel(packed, bits, r, c, path, kp), 0, `${what} padding row ${r}`);
        for (let r = 0; r < n; r++) for (let c = k; c < kp; c++) assert.is(readPanel(packed, bits, r, c, path, kp), 0, `${what} padding column ${c}`);
      }
    }
  }
});

test('convGeometry: TensorFlow output sizes and leading padding, worked by hand', () => {
  // 'same': out = ceil(h/s), total padding max((out−1)·s + k − h, 0), the smaller half first
  assert.equal(convGeometry(5, 5, 3, 3, 2, 2, 'same'), { oh: 3, ow: 3, padTop: 1, padLeft: 1 }); // total 2
  assert.equal(convGeometry(4, 6, 3, 3, 2, 2, 'same'), { oh: 2, ow: 3, padTop: 0, padLeft: 0 }); // totals 1, 1
  assert.equal(convGeometry(6, 4, 4, 2, 1, 3, 'same'), { oh: 6, ow: 2, padTop: 1, padLeft: 0 }); // totals 3, 1
  assert.equal(convGeometry(3, 3, 5, 5, 1, 1, 'same'), { oh: 3, ow: 3, padTop: 2, padLeft: 2 }); // totals 4, 4
  assert.equal(convGeometry(2, 9, 1, 1, 4, 4, 'same'), { oh: 1, ow: 3, padTop: 0, padLeft: 0 }); // no padding
  // 'valid': windows that fit, out = ceil((h − k + 1)/s), no padding
  assert.equal(convGeometry(7, 8, 3, 2, 2, 3, 'valid'), { oh: 3, ow: 3, padTop: 0, padLeft: 0 });
  assert.equal(convGeometry(5, 5, 5, 5, 1, 1, 'valid'), { oh: 1, ow: 1, padTop: 0, padLeft: 0 });
  assert.equal(convGeometry(9, 4, 2, 4, 3, 2, 'valid'), { oh: 3, ow: 1, padTop: 0, padLeft: 0 });
  for (let h = 1; h <= 9; h++) {
    for (let k = 1; k <= 5; k++) {
      for (let s = 1; s <= 4; s++) {
        for (const padding of ['same', 'valid'] as const) {
          if (padding === 'valid' && k > h) continue;
          const t = tfGeometry(h, 7, k, 3, s, 2, padding);
          assert.equal(convGeometry(h, 7, k, 3, s, 2, padding), { oh: t.outH, ow: t.outW, padTop: t.padTop, padLeft: t.padLeft }, `${h} ${k} ${s} ${padding}`);
        }
      }
    }
  }
});

test('im2colRef: a 3×3 image by hand, and convolution as "zero-pad, then slide" on random geometries', () => {
  const img = Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9);
  const same = im2colRef(img, 1, 3, 3, 1, 3, 3, 1, 1, 'same');
  assertSame(same.subarray(0, 9), [0, 0, 0, 0, 1, 2, 0, 4, 5], 'top-left window');
  assertSame(same.subarray(36, 45), [1, 2, 3, 4, 5, 6, 7, 8, 9], 'centre window');
  assertSame(same.subarray(72, 81), [5, 6, 0, 8, 9, 0, 0, 0, 0], 'bottom-right window');
  assertSame(im2colRef(img, 1, 3, 3, 1, 2, 2, 1, 1, 'valid'), [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9], 'valid 2×2');
  assert.instance(im2colRef(Float32Array.from(img), 1, 3, 3, 1, 1, 1, 1, 1, 'same'), Float32Array);

  const rand = rng(5);
  const cases = [
    // batch, h, w, c, kh, kw, sh, sw
    [2, 5, 6, 2, 3, 3, 1, 1], [1, 7, 5, 3, 3, 2, 2, 3], [3, 4, 4, 1, 4, 4, 1, 1], [1, 6, 9, 2, 2, 3, 3, 2], [1, 1, 1, 3, 3, 3, 1, 1],
  ];
  for (const [batch, h, w, c, kh, kw, sh, sw] of cases) {
    for (const padding of ['same', 'valid'] as const) {
      if (padding === 'valid' && (kh > h || kw > w)) continue;
      const x = randomInts(Uint8Array, batch * h * w * c, 1, 255, rand);
      const expected = zeroPadSlide(x, batch, h, w, c, kh, kw, sh, sw, padding);
      assertSame(im2colRef(x, batch, h, w, c, kh, kw, sh, sw, padding), expected, `${[batch, h, w, c, kh, kw, sh, sw]} ${padding}`);
    }
  }
});

test.run();
