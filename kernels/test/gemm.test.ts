// GEMM tester: the same case set on every family of every build, exact against the scalar reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { doubleRoundAll, packSigned, signedRange } from '@bitswitch/format';
import { acc16Chunk, dot4Unsigned8, epilogueRef, familiesOf, gemmRef, lutChunk, quantizeActivationsRef, type Epilogue, type GemmFamily, type Kernels } from '../src/index.ts';
import { KERNELS, assertSame, randomInts, readVectors, rng } from './helpers.ts';

const BIT_PAIRS: [number, number][] = [[8, 8], [6, 6], [4, 4], [2, 2], [8, 4], [4, 8], [2, 8], [6, 4], [3, 3], [5, 5], [7, 7], [4, 2], [2, 4], [8, 1], [1, 1], [1, 8]];

/** M×N×K around the tiles (MR 4, NR 8/16), the K padding (8) and the 16-bit chunk of the family. */
function shapes(f: GemmFamily, wbits: number, abits: number): [number, number, number][] {
  const base: [number, number, number][] = [
    [1, 1, 1], [1, 8, 16], [3, 7, 7], [4, 8, 8], [5, 9, 9], [4, 16, 15], [8, 17, 17], [13, 33, 64], [2, 5, 100], [6, 24, 31],
    [70, 9, 1000], // more rows than one A block (128 KiB of int16 rows)
  ];
  if (f.path === 1 || f.path === 2) {
    // K around the depth after which the 16-bit (dot8) or uint8 (lut16) sums are widened
    const kc = f.path === 1 ? 2 * acc16Chunk(wbits, abits) : 4 * lutChunk(abits);
    base.push([5, 17, kc - 1], [2, 16, kc], [3, 3, kc + 1], [1, 20, 2 * kc + 3]);
  }
  return base;
}

function pairsOf(f: GemmFamily): [number, number][] { return BIT_PAIRS.filter(([w, a]) => f.supports(w, a)); }

function run(kern: Kernels, f: GemmFamily, a: Uint8Array, m: number, k: number, lda: number, w: Int8Array, n: number, wbits: number, abits: number) {
  const pw = kern.packGemmWeights(w, wbits, n, k, { abits, family: f.name });
  try {
    return kern.gemm({ a, m, k, lda, weights: pw, abits }) as Int32Array;
  } finally {
    pw.dispose();
  }
}

for (const kern of KERNELS) {
  for (const f of familiesOf(kern.build)) {
    test(`${kern.build} ${f.name}: random shapes, all bit pairs, strided A — exact int32`, () => {
      const rand = rng(4);
      for (const [wbits, abits] of pairsOf(f)) {
        const [lo, hi] = signedRange(wbits);
        for (const [m, n, k] of shapes(f, wbits, abits)) {
          for (const pad of [0, 5]) {
            const lda = k + pad;
            const a = randomInts(Uint8Array, (m - 1) * lda + k, 0, 2 ** abits - 1, rand);
            const w = randomInts(Int8Array, n * k, lo, hi, rand);
            const got = run(kern, f, a, m, k, lda, w, n, wbits, abits);
            assertSame(got, gemmRef(a, m, k, lda, w, n), `w${wbits}a${abits} ${m}x${n}x${k} lda ${lda}`);
          }
        }
      }
      assert.is(kern.residentBytes, 0);
    });

    test(`${kern.build} ${f.name}: all-zero and extreme values`, () => {
      for (const [wbits, abits] of pairsOf(f)) {
        const [lo, hi] = signedRange(wbits);
        const amax = 2 ** abits - 1;
        const [m, n] = [5, 19];
        const k = f.path === 1 ? 2 * acc16Chunk(wbits, abits) * 3 + 1 : 301;
        for (const [av, wv] of [[0, 0], [amax, lo], [amax, hi], [0, lo], [amax, 0]]) {
          const a = new Uint8Array(m * k).fill(av);
          const w = new Int8Array(n * k).fill(wv);
          assertSame(run(kern, f, a, m, k, k, w, n, wbits, abits), gemmRef(a, m, k, k, w, n), `w${wbits}a${abits} a=${av} w=${wv}`);
        }
        // alternating extremes: most negative pairs in some rows, most positive in others
        const rand = rng(wbits * 10 + abits);
        const a = randomInts(Uint8Array, m * k, 0, 1, rand).map((x) => x * amax);
        const w = randomInts(Int8Array, n * k, 0, 1, rand).map((x) => (x ? lo : hi));
        assertSame(run(kern, f, a, m, k, k, w, n, wbits, abits), gemmRef(a, m, k, k, w, n), `w${wbits}a${abits} mixed extremes`);
      }
    });

    test(`${kern.build} ${f.name}: packing equals the family's reference packing, from values, stored layout and bit switch`, () => {
      const rand = rng(5);
      for (const [wbits, abits] of pairsOf(f)) {
        const [lo, hi] = signedRange(wbits);
        for (const [n, k] of [[1, 1], [9, 13], [17, 40], [16, 64], [33, 72], [8, 200]]) {
          const w = randomInts(Int8Array, n * k, lo, hi, rand);
          const expected = f.packRef(w, wbits, n, k);
          const pw = kern.packGemmWeights(w, wbits, n, k, { abits, family: f.name });
          assertSame(kern.u8().slice(pw.ptr, pw.ptr + pw.bytes), expected, `values w${wbits} ${n}x${k}`);
          pw.dispose();
          const ps = kern.packGemmWeightsStored(packSigned(w, wbits, n, k), wbits, n, k, { abits, family: f.name });
          assertSame(kern.u8().slice(ps.ptr, ps.ptr + ps.bytes), expected, `stored w${wbits} ${n}x${k}`);
          ps.dispose();
          // bit switch: stored int_h → eq. 2 → panels (h = 8, 6: fused SIMD path; h = 4: down-cast then pack)
          for (const h of [8, 6, 4]) {
            if (h < wbits || wbits < 2) continue; // eq. 2 targets l in 2..h
            const [hlo, hhi] = signedRange(h);
            const wh = randomInts(Int8Array, n * k, hlo, hhi, rand);
            const sw = kern.switchBits(packSigned(wh, h, n, k), h, wbits, n, k, { abits, family: f.name });
            assertSame(kern.u8().slice(sw.ptr, sw.ptr + sw.bytes), f.packRef(doubleRoundAll(wh, h, wbits), wbits, n, k), `switch ${h}→${wbits} ${n}x${k}`);
            sw.dispose();
          }
        }
      }
      assert.is(kern.residentBytes, 0);
    });

    test(`${kern.build} ${f.name}: every case of the shared gemm vectors`, () => {
      type Case = { M: number; N: number; K: number; wbits: number; abits: number; a_unsigned_row_major_MxK: number[]; w_signed_row_major_KxN: number[]; c_int32_row_major_MxN: number[] };
      const cases = readVectors<Case>('gemm.json').cases;
      assert.ok(cases.length > 0);
      let ran = 0;
      for (const c of cases) {
        if (!f.supports(c.wbits, c.abits)) continue;
        const w = new Int8Array(c.N * c.K);
        for (let i = 0; i < c.K; i++) for (let j = 0; j < c.N; j++) w[j * c.K + i] = c.w_signed_row_major_KxN[i * c.N + j];
        const got = run(kern, f, Uint8Array.from(c.a_unsigned_row_major_MxK), c.M, c.K, c.K, w, c.N, c.wbits, c.abits);
        assertSame(got, c.c_int32_row_major_MxN, `vector ${c.M}x${c.N}x${c.K} w${c.wbits}a${c.abits}`);
        ran++;
      }
      // every case runs on the build's general family (any w, a ≤ 8), so no case is skipped by every family
      if (f.supports(8, 8)) assert.is(ran, cases.length);
    });

    test(`${kern.build} ${f.name}: fused epilogue (scales, bias, affine, ReLU, re-quantization) matches the float32 reference`, () => {
      const rand = rng(6);
      for (const [wbits, abits] of pairsOf(f).slice(0, 4)) {
        const [lo, hi] = signedRange(wbits);
        for (const [m, n, k] of [[1, 1, 3], [5, 19, 37], [9, 8, 64]]) {
          const a = randomInts(Uint8Array, m * k, 0, 2 ** abits - 1, rand);
          const w = randomInts(Int8Array, n * k, lo, hi, rand);
          const acc = gemmRef(a, m, k, k, w, n);
          const perCh = Float32Array.from({ length: n }, () => 0.001 + rand() * 0.05);
          const vec = (s: number) => Float32Array.from({ length: n }, () => (rand() - 0.5) * s);
          const eps: Epilogue[] = [
            { wScale: [0.02], aScale: 0.1 },
            { wScale: perCh, aScale: 0.05, bias: vec(2) },
            { wScale: perCh, aScale: 0.05, bias: vec(2), mul: vec(3), add: vec(1), relu: true },
            { wScale: [0.03], aScale: 0.07, relu: true, requant: { scale: 0.05, bits: abits } },
            { wScale: perCh, aScale: 0.5, mul: vec(2), add: vec(4), relu: true, requant: { scale: 0.25, bits: 8 } },
            // power-of-two scales and integer accumulators put y/s exactly on .5 ties
            { wScale: [0.5], aScale: 1, requant: { scale: 1, bits: 8 } },
            // residual connection before ReLU, float and re-quantized output
            { wScale: perCh, aScale: 0.05, mul: vec(3), add: vec(1), residual: Float32Array.from({ length: m * n }, () => (rand() - 0.5) * 4), relu: true },
            { wScale: [0.5], aScale: 1, residual: Float32Array.from({ length: m * n }, () => Math.floor(rand() * 9) - 4 + 0.5), relu: true, requant: { scale: 1, bits: abits } },
          ];
          const pw = kern.packGemmWeights(w, wbits, n, k, { abits, family: f.name });
          for (const ep of eps) {
            const got = kern.gemm({ a, m, k, weights: pw, abits, epilogue: ep });
            assert.ok(ep.requant ? got instanceof Uint8Array : got instanceof Float32Array);
            assertSame(got, epilogueRef(acc, m, n, ep), `w${wbits}a${abits} ${m}x${n}x${k} ${JSON.stringify(Object.keys(ep))}`);
          }
          pw.dispose();
        }
      }
      assert.is(kern.residentBytes, 0);
    });

    test(`${kern.build} ${f.name}: a float epilogue's codes output is eq. 4 of its float output (ties, every width)`, () => {
      const rand = rng(16);
      for (const [wbits, abits] of pairsOf(f).slice(0, 4)) {
        const [lo, hi] = signedRange(wbits);
        for (const [m, n, k] of [[1, 1, 3], [5, 19, 37], [9, 8, 64], [13, 33, 70]]) {
          const a = randomInts(Uint8Array, m * k, 0, 2 ** abits - 1, rand);
          const w = randomInts(Int8Array, n * k, lo, hi, rand);
          const acc = gemmRef(a, m, k, k, w, n);
          const pw = kern.packGemmWeights(w, wbits, n, k, { abits, family: f.name });
          const perCh = Float32Array.from({ length: n }, () => 0.001 + rand() * 0.05);
          const residual = Float32Array.from({ length: m * n }, () => (rand() - 0.5) * 4);
          const cases: [Omit<Epilogue, 'codes'>, number, number][] = [
            [{ wScale: perCh, aScale: 0.05, residual, relu: true }, 0.02, abits],
            // power-of-two scales: y / s lands exactly on .5 ties
            [{ wScale: [0.5], aScale: 1 }, 1, 8],
            [{ wScale: [0.5], aScale: 1, relu: true }, 2, 1 + Math.floor(rand() * 8)],
          ];
          for (const [base, scale, bits] of cases) {
            const codes = new Uint8Array(m * n).fill(77);
            const got = kern.gemm({ a, m, k, weights: pw, abits, epilogue: { ...base, codes: { out: codes, scale, bits } } }) as Float32Array;
            const what = `w${wbits}a${abits} ${m}x${n}x${k} s ${scale} b ${bits}`;
            assertSame(got, epilogueRef(acc, m, n, base), `${what} float output`);
            assertSame(codes, quantizeActivationsRef(got, scale, bits), `${what} codes`);
          }
          pw.dispose();
        }
      }
      assert.is(kern.residentBytes, 0);
    });
  }

  test(`${kern.build}: every combination of epilogue steps and outputs (bias, BatchNorm, residual, ReLU × float, float + codes, requant) matches the reference`, () => {
    const rand = rng(31);
    // n = 37: 16-column blocks, 4-column vectors and a scalar tail in every tile row
    const [m, n, k] = [11, 37, 29];
    for (const f of familiesOf(kern.build)) {
      const pairs = pairsOf(f);
      if (pairs.length === 0) continue; // a family this engine cannot run (dot4 where dot4Reliable is false)
      const [wbits, abits] = pairs[0];
      const [lo, hi] = signedRange(wbits);
      const a = randomInts(Uint8Array, m * k, 0, 2 ** abits - 1, rand);
      const w = randomInts(Int8Array, n * k, lo, hi, rand);
      const acc = gemmRef(a, m, k, k, w, n);
      const pw = kern.packGemmWeights(w, wbits, n, k, { abits, family: f.name });
      const vec = (s: number) => Float32Array.from({ length: n }, () => (rand() - 0.5) * s);
      for (let combo = 0; combo < 16; combo++) {
        const base: Epilogue = {
          wScale: Float32Array.from({ length: n }, () => 0.001 + rand() * 0.05), aScale: 0.05,
          ...(combo & 1 ? { bias: vec(2) } : {}),
          ...(combo & 2 ? { mul: vec(3), add: vec(1) } : {}),
          // a few NaN in the residual: ReLU keeps them NaN (wasm max, Math.max), codes give 0
          ...(combo & 4 ? { residual: Float32Array.from({ length: m * n }, (_, i) => (i % 23 === 5 ? NaN : (rand() - 0.5) * 4)) } : {}),
          ...(combo & 8 ? { relu: true } : {}),
        };
        const what = `${f.name} steps ${combo}`;
        assertSame(kern.gemm({ a, m, k, weights: pw, abits, epilogue: base }), epilogueRef(acc, m, n, base), `${what} float`);
        const codes = new Uint8Array(m * n).fill(77);
        const got = kern.gemm({ a, m, k, weights: pw, abits, epilogue: { ...base, codes: { out: codes, scale: 0.03, bits: 3 } } }) as Float32Array;
        assertSame(got, epilogueRef(acc, m, n, base), `${what} float of float + codes`);
        assertSame(codes, quantizeActivationsRef(got, 0.03, 3), `${what} codes of float + codes`);
        const rq: Epilogue = { ...base, requant: { scale: 0.03, bits: 4 } };
        assertSame(kern.gemm({ a, m, k, weights: pw, abits, epilogue: rq }), epilogueRef(acc, m, n, rq), `${what} requant`);
      }
      pw.dispose();
    }
    assert.is(kern.residentBytes, 0);
  });

  test(`${kern.build}: wide outputs — a block's rows in several passes over its int32 sums, and over 4096 columns tile by tile — match the reference`, () => {
    const rand = rng(41);
    for (const f of familiesOf(kern.build)) {
      const pairs = pairsOf(f);
      if (pairs.length === 0) continue;
      const [wbits, abits] = pairs[0];
      const [lo, hi] = signedRange(wbits);
      for (const [m, n, k] of [[70, 530, 24], [9, 4103, 16]]) {
        const a = randomInts(Uint8Array, m * k, 0, 2 ** abits - 1, rand);
        const w = randomInts(Int8Array, n * k, lo, hi, rand);
        const acc = gemmRef(a, m, k, k, w, n);
        const pw = kern.packGemmWeights(w, wbits, n, k, { abits, family: f.name });
        assertSame(kern.gemm({ a, m, k, weights: pw, abits }), acc, `${f.name} ${m}x${n}x${k} int32`);
        const ep: Epilogue = { wScale: [0.02], aScale: 0.1, bias: Float32Array.from({ length: n }, () => rand() - 0.5), relu: true, requant: { scale: 0.05, bits: abits } };
        assertSame(kern.gemm({ a, m, k, weights: pw, abits, epilogue: ep }), epilogueRef(acc, m, n, ep), `${f.name} ${m}x${n}x${k} requant`);
        pw.dispose();
      }
    }
    assert.is(kern.residentBytes, 0);
  });

  test(`${kern.build}: re-quantization within 1e-6 of .5 ties (fast reciprocal path vs f32 division) matches the reference`, () => {
    const rand = rng(15);
    const [m, n, k] = [64, 16, 8];
    const w = randomInts(Int8Array, n * k, -2, 1, rand);
    const a = randomInts(Uint8Array, m * k, 0, 3, rand);
    const pw = kern.packGemmWeights(w, 2, n, k, { abits: 2 });
    const acc = gemmRef(a, m, k, k, w, n);
    for (let r = 0; r < 12; r++) {
      const scale = Math.fround(10 ** (rand() * 8 - 5));
      const bits = 1 + Math.floor(rand() * 8);
      // tiny dequantization scale: y ≈ residual, placed near the .5 ties of y / scale
      const residual = Float32Array.from({ length: m * n }, () => (Math.floor(rand() * (2 ** bits + 2)) - 1 + 0.5 + (rand() - 0.5) * 2e-6) * scale);
      const ep: Epilogue = { wScale: [scale * 1e-9], aScale: 1, residual, requant: { scale, bits } };
      assertSame(kern.gemm({ a, m, k, weights: pw, abits: 2, epilogue: ep }), epilogueRef(acc, m, n, ep), `s ${scale} bits ${bits}`);
    }
    pw.dispose();
  });

  test(`${kern.build}: activations and output already in wasm memory are used in place`, () => {
    const rand = rng(7);
    const [m, n, k] = [6, 10, 21];
    const w = randomInts(Int8Array, n * k, -8, 7, rand);
    const a = randomInts(Uint8Array, m * k, 0, 15, rand);
    const pw = kern.packGemmWeights(w, 4, n, k, { abits: 4 });
    kern.gemm({ a, m, k, weights: pw, abits: 4 }); // sizes the call scratch, so the views below stay live
    const ab = kern.resident(a);
    const ob = kern.resident(new Uint8Array(m * n * 4));
    const aView = new Uint8Array(kern.memory.buffer, ab.ptr, m * k);
    const oView = new Int32Array(kern.memory.buffer, ob.ptr, m * n);
    const got = kern.gemm({ a: aView, m, k, weights: pw, abits: 4, out: oView });
    assert.ok(got === oView);
    assertSame(new Int32Array(kern.memory.buffer, ob.ptr, m * n), gemmRef(a, m, k, k, w, n), 'in place');
    // residual read in place from wasm memory, written over itself (out === residual)
    const ep = { wScale: [0.01], aScale: 0.5, relu: true };
    const res = Float32Array.from({ length: m * n }, () => (rand() - 0.5) * 2);
    const rb = kern.resident(new Uint8Array(res.buffer));
    const rView = new Float32Array(kern.memory.buffer, rb.ptr, m * n);
    const gotRes = kern.gemm({ a: aView, m, k, weights: pw, abits: 4, epilogue: { ...ep, residual: rView }, out: rView });
    assert.ok(gotRes === rView);
    assertSame(gotRes, epilogueRef(gemmRef(a, m, k, k, w, n), m, n, { ...ep, residual: res }), 'residual in place');
    kern.free(rb);
    kern.free(ab); kern.free(ob);
    // a view detached by memory growth is refused with a clear message
    const stale = new Uint8Array(kern.memory.buffer, 0, 8);
    kern.free(kern.resident(new Uint8Array(kern.memory.buffer.byteLength)));
    assert.throws(() => kern.gemm({ a: stale, m: 1, k, weights: pw, abits: 4 }), /detached/);
    pw.dispose();
    assert.is(kern.residentBytes, 0);
  });

  test(`${kern.build}: misuse raises RangeError before the kernel runs`, () => {
    const w = new Int8Array(3 * 5);
    const pw = kern.packGemmWeights(w, 4, 3, 5);
    const a = new Uint8Array(2 * 5);
    const used = kern.residentBytes;
    const memBefore = kern.u8().slice();
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ a: new Uint8Array(9) }, /a.length: expected at least/],
      [{ k: 6 }, /k: expected an integer in 5..5/],
      [{ m: 0 }, /m: expected an integer in 1/],
      [{ lda: 4 }, /lda: expected an integer in 5/],
      [{ abits: 9 }, /abits: expected an integer in 1..8/],
      [{ a: [1, 2] }, /a: expected a Uint8Array/],
      [{ weights: { ...pw, ptr: 12345 } }, /weights: expected live PackedWeights/],
      [{ epilogue: { wScale: [1, 1], aScale: 1 } }, /epilogue.wScale.length: expected 1 or 3/],
      [{ epilogue: { wScale: [1], aScale: -1 } }, /epilogue.aScale: expected a finite number > 0/],
      [{ epilogue: { wScale: [1], aScale: 1, bias: [1] } }, /epilogue.bias.length: expected 3/],
      [{ epilogue: { wScale: [1], aScale: 1, requant: { scale: 1, bits: 0 } } }, /epilogue.requant.bits/],
      [{ epilogue: { wScale: [1], aScale: 1, residual: new Float32Array(5) } }, /epilogue.residual.length: expected 6/],
      [{ epilogue: { wScale: [1], aScale: 1, residual: [1, 2, 3, 4, 5, 6] } }, /epilogue.residual: expected a Float32Array/],
      [{ out: new Float32Array(6) }, /out: expected a Int32Array/],
      [{ out: new Int32Array(5) }, /out.length: expected 6/],
    ];
    for (const [patch, re] of bad) {
      assert.throws(() => kern.gemm({ a, m: 2, k: 5, weights: pw, abits: 4, ...patch } as never), (e: Error) => e instanceof RangeError && re.test(e.message), re.source);
    }
    assert.is(kern.residentBytes, used);
    assertSame(kern.u8(), memBefore, 'memory untouched');
    // values above abits are caught (the 16-bit accumulators rely on the range)
    assert.throws(() => kern.gemm({ a: new Uint8Array(10).fill(16), m: 2, k: 5, weights: pw, abits: 4 }), /a: expected values in 0..15 \(abits 4\), found 16/);
    // checkA: false skips that pass (the caller vouches for the range): same sums on valid codes, no error on others
    const valid = Uint8Array.from({ length: 10 }, (_, i) => i);
    assertSame(kern.gemm({ a: valid, m: 2, k: 5, weights: pw, abits: 4, checkA: false }) as Int32Array, kern.gemm({ a: valid, m: 2, k: 5, weights: pw, abits: 4 }) as Int32Array, 'checkA false');
    kern.gemm({ a: new Uint8Array(10).fill(16), m: 2, k: 5, weights: pw, abits: 4, checkA: false });
    pw.dispose();
    assert.throws(() => kern.gemm({ a, m: 2, k: 5, weights: pw, abits: 4 }), /weights: expected live PackedWeights/);
    assert.throws(() => kern.packGemmWeights(new Int8Array(14), 4, 3, 5), /valuesNK.length: expected 15, got 14/);
    assert.throws(() => kern.packGemmWeights(new Int8Array(15), 9, 3, 5), /bits: expected an integer in 1..8/);
    assert.throws(() => kern.packGemmWeights(new Int8Array(15).fill(8), 4, 3, 5), /weights: expected values in the signed 4-bit range, 15 are outside/);
    assert.throws(() => kern.packGemmWeights(new Int8Array(15), 4, 3, 5, { family: 'nope' }), /family: expected one of/);
    assert.throws(() => kern.packGemmWeightsStored(new Uint8Array(10), 4, 3, 5), /stored.length: expected 48, got 10/);
    assert.throws(() => kern.switchBits(new Uint8Array(48), 8, 9, 3, 5), /l: expected an integer in 2..8/);
    assert.is(kern.residentBytes, 0);
  });
}

test('relaxed: dot8 weights reject 8-bit activations, which do not fit the i7 operand', () => {
  const kern = KERNELS.find((k) => k.build === 'relaxed');
  if (!kern) return;
  const pw = kern.packGemmWeights(new Int8Array(8), 4, 1, 8, { abits: 4, family: 'qu8-qs8-gemm-4x16c2-wasmrelaxedsimd-dot8-acc16' });
  assert.is(pw.family.path, 1);
  assert.throws(() => kern.gemm({ a: new Uint8Array(8), m: 1, k: 8, weights: pw, abits: 8 }), /abits: weights packed for .* do not support a8/);
  pw.dispose();
  // w8 by default: dot4 where the engine takes 8-bit activations as its unsigned operand, else dot16
  assert.is(kern.packGemmWeights(new Int8Array(8), 8, 1, 8).family.path, dot4Unsigned8() ? 3 : 0);
});

test.run();
