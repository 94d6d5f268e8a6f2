// The ts-scalar backend alone (fast; backend.test.ts runs every backend on random cases), through its
// IntBackend interface, against sources none of its code shares: gemm.json and double_rounding.json,
// eq. 4 codes decided by exact comparison, im2col as "zero-pad, then slide" on both of its copy
// paths (32-bit words and bytes), epilogues and float sums worked by hand, and its workspace rules.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readVectors } from '@bitswitch/format/node';
import { exactActivationCode, seededRandom, tieAdjacentActivations } from '@bitswitch/format';
import { createTsBackend, type ConvGeometry } from '../src/index.ts';
import { tfGeometry, thrownMessage as message, zeroPadSlide } from '../../test/mutation-oracles.ts';

const be = createTsBackend();
const f32 = Math.fround;
const list = (a: ArrayLike<number>) => Array.from(a);


interface GemmCase { M: number; N: number; K: number; wbits: number; abits: number; a_unsigned_row_major_MxK: number[]; w_signed_row_major_KxN: number[]; c_int32_row_major_MxN: number[] }
interface DrCase { h: number; wh: number[]; low: Record<string, { wl: number[] }> }

test('name, and eq. 2 weights + int32 GEMM against gemm.json and double_rounding.json', () => {
  assert.is(be.name, 'ts-scalar');
  for (const c of readVectors('gemm.json').cases as GemmCase[]) {
    const w = new Int8Array(c.N * c.K);
    for (let k = 0; k < c.K; k++) for (let n = 0; n < c.N; n++) w[n * c.K + k] = c.w_signed_row_major_KxN[k * c.N + n];
    const pw = be.prepareWeights(w, c.wbits, c.wbits, c.N, c.K);
    assert.equal([pw.n, pw.k, pw.bits], [c.N, c.K, c.wbits]);
    assert.equal(list(be.gemmInt32(Uint8Array.from(c.a_unsigned_row_major_MxK), c.M, c.abits, pw)), c.c_int32_row_major_MxN, `M${c.M} N${c.N} K${c.K}`);
  }
  // one-hot activation rows read the eq. 2 weights back: C[i][j] = W̃_l[j][i]
  for (const c of readVectors('double_rounding.json').cases as DrCase[]) {
    const k = c.wh.length;
    const eye = new Uint8Array(k * k);
    for (let i = 0; i < k; i++) eye[i * k + i] = 1;
    for (const [ls, exp] of Object.entries(c.low)) {
      const pw = be.prepareWeights(Int8Array.from(c.wh), c.h, Number(ls), 1, k);
      assert.is(pw.bits, Number(ls));
      assert.is(pw.bytes, k, 'the scalar backend holds one byte per eq. 2 weight');
      assert.equal(list(be.gemmInt32(eye, k, 8, pw)), exp.wl, `h=${c.h} l=${ls}`);
    }
  }
});

test('eq. 4 quantize: the codes decided by exact comparison next to every .5 tie, into out when given', () => {
  for (const c of tieAdjacentActivations()) {
    const want = list(c.x).map((x) => exactActivationCode(x, c.scale, c.bits));
    assert.equal(list(be.quantize(c.x, c.scale, c.bits)), want, `s=${c.scale} b=${c.bits}`);
    const out = new Uint8Array(c.x.length);
    assert.ok(be.quantize(c.x, c.scale, c.bits, out) === out);
    assert.equal(list(out), want);
  }
});

function geometry(batch: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid'): ConvGeometry {
  return { batch, h, w, c, kh, kw, sh, sw, padding, ...tfGeometry(h, w, kh, kw, sh, sw, padding) };
}

test('im2col (word and byte copies) and im2colFloat equal zero-pad-then-slide', () => {
  const rand = seededRandom(11);
  const cases = [
    // batch, h, w, c, kh, kw, sh, sw: c = 4, 8 take the 32-bit word path, the others bytes
    [1, 5, 5, 4, 3, 3, 1, 1], [2, 6, 7, 8, 3, 2, 2, 1], [1, 4, 4, 4, 4, 4, 1, 1], [1, 7, 6, 3, 3, 3, 2, 2], [2, 5, 4, 1, 2, 3, 1, 2],
    [1, 1, 1, 4, 3, 3, 1, 1], [1, 9, 3, 5, 1, 1, 3, 1], [1, 6, 6, 12, 5, 5, 2, 3],
  ];
  for (const [batch, h, w, c, kh, kw, sh, sw] of cases) {
    for (const padding of ['same', 'valid'] as const) {
      if (padding === 'valid' && (kh > h || kw > w)) continue;
      const g = geometry(batch, h, w, c, kh, kw, sh, sw, padding);
      const x = Uint8Array.from({ length: batch * h * w * c }, () => 1 + Math.floor(rand() * 255));
      const want = zeroPadSlide(x, batch, h, w, c, kh, kw, sh, sw, padding);
      const what = `${[batch, h, w, c, kh, kw, sh, sw]} ${padding}`;
      assert.equal(list(be.im2col(x, g)), want, what);
      // the same codes at an odd byte offset take the byte path; `out` is filled (stale contents overwritten)
      const shifted = new Uint8Array(x.length + 1).subarray(1);
      shifted.set(x);
      const out = new Uint8Array(want.length).fill(77);
      assert.ok(be.im2col(shifted, g, out) === out);
      assert.equal(list(out), want, `${what} byte path`);
      const outOdd = new Uint8Array(want.length + 1).fill(77).subarray(1);
      be.im2col(x, g, outOdd);
      assert.equal(list(outOdd), want, `${what} into an odd offset`);
      const words = new Uint8Array(want.length).fill(77);
      be.im2col(x, g, words);
      assert.equal(list(words), want, `${what} into a used buffer`);
      const xf = Float32Array.from(x, (v) => v / 8 - 3);
      const outF = new Float32Array(want.length).fill(5);
      assert.ok(be.im2colFloat(xf, g, outF) === outF);
      assert.equal(list(outF), zeroPadSlide(xf, batch, h, w, c, kh, kw, sh, sw, padding), `${what} float`);
    }
  }
});

test('gemm epilogue by hand: per-channel and shared scales, (y + bias)·mul + add + residual, ReLU, requant with clip', () => {
  // a = [[1, 0], [0, 1]] picks the weight columns: acc = [[1, 3], [2, -4]] (w [n][k] = [[1, 2], [3, -4]])
  const pw = be.prepareWeights(Int8Array.of(1, 2, 3, -4), 8, 8, 2, 2);
  const a = Uint8Array.of(1, 0, 0, 1);
  assert.equal(list(be.gemmInt32(a, 2, 8, pw)), [1, 3, 2, -4]);
  const ep = { wScale: Float32Array.of(0.5, 0.25), aScale: 2, relu: false }; // column scales 1, 0.5
  const y = be.gemm(a, 2, 8, pw, ep);
  assert.instance(y, Float32Array);
  assert.equal(list(y), [1, 1.5, 2, -2]);
  assert.equal(list(be.gemm(a, 2, 8, pw, { ...ep, wScale: Float32Array.of(0.5) })), [1, 3, 2, -4]);
  const full = { ...ep, bias: Float32Array.of(1, -1), mul: Float32Array.of(2, 3), add: Float32Array.of(0.5, 1), residual: Float32Array.of(1, 1, 1, 1) };
  // [[1, 1.5], [2, −2]] → +bias [[2, 0.5], [3, −3]] → ·mul [[4, 1.5], [6, −9]] → +add [[4.5, 2.5], [6.5, −8]] → +residual
  assert.equal(list(be.gemm(a, 2, 8, pw, full)), [5.5, 3.5, 7.5, -7]);
  assert.equal(list(be.gemm(a, 2, 8, pw, { ...full, relu: true })), [5.5, 3.5, 7.5, 0]);
  const q = be.gemm(a, 2, 8, pw, { ...full, relu: true, requant: { scale: 2, bits: 2 } });
  assert.instance(q, Uint8Array);
  // y / 2 = 2.75, 1.75, 3.75, 0 → 3, 2, 4, 0 → clip 3
  assert.equal(list(q), [3, 2, 3, 0]);
  // y = [[0.5, 1.5], [1, −2]]: halves round to even, a negative code clips to 0 without ReLU
  assert.equal(list(be.gemm(a, 2, 8, pw, { ...ep, wScale: Float32Array.of(0.25), requant: { scale: 1, bits: 8 } })), [0, 2, 1, 0]);
  // f32 at each step: f32(aScale)·wScale rounded, acc·s rounded, + bias rounded
  const one = be.prepareWeights(Int8Array.of(3), 8, 8, 1, 1);
  const r = be.gemm(Uint8Array.of(1), 1, 8, one, { wScale: Float32Array.of(0.1), aScale: 0.1, bias: Float32Array.of(1e-9), relu: false });
  assert.is(r[0], f32(f32(3 * f32(f32(0.1) * f32(0.1))) + f32(1e-9)));
  // ReLU is max(y, 0): a zero that the BatchNorm multiplier made negative (0 · −2 = −0) comes out +0, as in the kernels
  const zero = be.gemm(Uint8Array.of(1, 1), 1, 8, be.prepareWeights(Int8Array.of(0, 0), 8, 8, 1, 2), { wScale: Float32Array.of(0.5), aScale: 1, mul: Float32Array.of(-2), relu: true });
  assert.ok(Object.is(zero[0], 0), `got ${Object.is(zero[0], -0) ? '-0' : zero[0]}`);
  const negZero = be.gemm(Uint8Array.of(1, 1), 1, 8, be.prepareWeights(Int8Array.of(0, 0), 8, 8, 1, 2), { wScale: Float32Array.of(0.5), aScale: 1, mul: Float32Array.of(-2), relu: false });
  assert.ok(Object.is(negZero[0], -0), 'without ReLU the −0 stays');
  // into `out`, of the type the epilogue produces
  const out = new Float32Array(4);
  assert.ok(be.gemm(a, 2, 8, pw, ep, out) === out);
  assert.equal(list(out), [1, 1.5, 2, -2]);
  const codes = new Uint8Array(4);
  assert.ok(be.gemm(a, 2, 8, pw, { ...full, relu: true, requant: { scale: 2, bits: 2 } }, codes) === codes);
  assert.equal(list(codes), [3, 2, 3, 0]);
  assert.is(message(() => be.gemm(a, 2, 8, pw, ep, new Uint8Array(4))), 'out: expected a Float32Array, got a Uint8Array');
  assert.is(message(() => be.gemmFloat(Float32Array.of(1), 1, be.prepareFloatWeights(Float32Array.of(1), 1, 1), { relu: false }, new Uint8Array(1))), 'out: expected a Float32Array, got a Uint8Array');
});

test('eq. 4 in the epilogue divides in float64: the exact code next to .5 ties', () => {
  for (const c of tieAdjacentActivations().slice(0, 8)) {
    const n = c.x.length;
    const pw = be.prepareWeights(new Int8Array(n).fill(1), 8, 8, n, 1);
    // acc 1 in every column, scale x[j]: y[j] = f32(x[j])
    const got = be.gemm(Uint8Array.of(1), 1, 8, pw, { wScale: c.x, aScale: 1, relu: false, requant: { scale: c.scale, bits: c.bits } });
    assert.equal(list(got), list(c.x).map((x) => exactActivationCode(x, c.scale, c.bits)), `s=${c.scale} b=${c.bits}`);
  }
});

test('gemmFloat: k-ordered float32 sums without FMA, then bias, mul, add, ReLU, requant', () => {
  const big = 2 ** 24;
  const wf = be.prepareFloatWeights(Float32Array.of(1, 1, 1), 1, 3);
  assert.equal([wf.n, wf.k, wf.bits, wf.bytes], [1, 3, 32, 12]);
  assert.equal(list(be.gemmFloat(Float32Array.of(big, 1, 1), 1, wf, { relu: false })), [big]);
  assert.equal(list(be.gemmFloat(Float32Array.of(1, 1, big), 1, wf, { relu: false })), [big + 2]);
  const e = 1 + 2 ** -12;
  assert.equal(list(be.gemmFloat(Float32Array.of(-(1 + 2 ** -11), e), 1, be.prepareFloatWeights(Float32Array.of(1, e), 1, 2), { relu: false })), [0]);
  // [[1, 2], [3, −4]] · [[0.5, 0.25], [−1, 2]]ᵀ = [[1, 3], [0.5, −11]]
  const w2 = be.prepareFloatWeights(Float32Array.of(0.5, 0.25, -1, 2), 2, 2);
  const a = Float32Array.of(1, 2, 3, -4);
  assert.equal(list(be.gemmFloat(a, 2, w2, { relu: false })), [1, 3, 0.5, -11]);
  const ep = { bias: Float32Array.of(1, 1), mul: Float32Array.of(2, 1), add: Float32Array.of(0, -1), relu: true };
  // (y + 1)·mul + add: [[4, 3], [3, −11]] → ReLU
  assert.equal(list(be.gemmFloat(a, 2, w2, ep)), [4, 3, 3, 0]);
  assert.equal(list(be.gemmFloat(a, 2, w2, { ...ep, requant: { scale: 2, bits: 1 } })), [1, 1, 1, 0]);
  const out = new Float32Array(4);
  assert.ok(be.gemmFloat(a, 2, w2, { relu: false }, out) === out);
  assert.equal(list(out), [1, 3, 0.5, -11]);
});

test('workspace: reserved slots only, 16-byte rounded, grow-only, views of the asked length', () => {
  const ws = createTsBackend().workspace;
  assert.is(message(() => ws.u8(3, 1)), 'workspace slot 3: expected a reserved slot');
  assert.is(message(() => ws.f32(0, 1)), 'workspace slot 0: expected a reserved slot');
  ws.reserve(3, 20);
  const u = ws.u8(3, 20);
  assert.is(u.length, 20);
  assert.is(u.buffer.byteLength, 32);
  u[0] = 9;
  ws.reserve(3, 8); // smaller: the same buffer
  assert.is(ws.u8(3, 1)[0], 9);
  ws.reserve(3, 32); // equal: the same buffer
  assert.is(ws.u8(3, 1)[0], 9);
  ws.reserve(3, 33); // larger: a new buffer
  assert.is(ws.u8(3, 1)[0], 0);
  assert.is(ws.f32(3, 12).length, 12);
  assert.is(ws.f32(3, 12).buffer.byteLength, 48);
  ws.reserve(0, 0);
  assert.is(ws.u8(0, 0).length, 0);
});

test.run();
