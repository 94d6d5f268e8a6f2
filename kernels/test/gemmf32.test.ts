// float32 GEMM tester: every build, exact (bitwise) against the k-ordered float32 reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { epilogueRef, gemmF32Ref, quantizeActivationsRef, type EpilogueF32 } from '../src/index.ts';
import { KERNELS, assertSame, rng } from './helpers.ts';

const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 10, 27], [3, 7, 5], [4, 8, 8], [5, 9, 16], [13, 17, 33], [7, 33, 100]];

for (const kern of KERNELS) {
  test(`${kern.build}: f32-gemm-4x8 matches the reference bit for bit (strided A, epilogues)`, () => {
    const rand = rng(9);
    for (const [m, n, k] of SHAPES) {
      for (const pad of [0, 3]) {
        const lda = k + pad;
        const a = Float32Array.from({ length: (m - 1) * lda + k }, () => (rand() - 0.5) * 8);
        const w = Float32Array.from({ length: n * k }, () => (rand() - 0.5) * 2);
        const pw = kern.packGemmWeightsF32(w, n, k);
        const acc = gemmF32Ref(a, m, k, lda, w, n);
        assertSame(kern.gemmF32({ a, m, k, lda, weights: pw }), acc, `${m}x${n}x${k} lda ${lda}`);
        const vec = (s: number) => Float32Array.from({ length: n }, () => (rand() - 0.5) * s);
        const eps: EpilogueF32[] = [
          { bias: vec(1), relu: true },
          { mul: vec(2), add: vec(1), relu: true },
          { bias: vec(1), mul: vec(2), add: vec(1), relu: true, requant: { scale: 0.05, bits: 8 } },
          { bias: vec(1), residual: Float32Array.from({ length: m * n }, () => (rand() - 0.5) * 4), relu: true },
        ];
        for (const ep of eps) {
          assertSame(kern.gemmF32({ a, m, k, lda, weights: pw, epilogue: ep }), epilogueRef(acc, m, n, { ...ep, wScale: [1], aScale: 1 }), `${m}x${n}x${k} ${Object.keys(ep)}`);
        }
        // the float output's eq. 4 codes written beside it (scale 1/8: many values on .5 ties)
        for (const [scale, bits] of [[0.05, 8], [0.125, 3]]) {
          const codes = new Uint8Array(m * n);
          const y = kern.gemmF32({ a, m, k, lda, weights: pw, epilogue: { ...eps[3], codes: { out: codes, scale, bits } } }) as Float32Array;
          assertSame(y, epilogueRef(acc, m, n, { ...eps[3], wScale: [1], aScale: 1 }), `${m}x${n}x${k} float output beside codes`);
          assertSame(codes, quantizeActivationsRef(y, scale, bits), `${m}x${n}x${k} codes s ${scale} b ${bits}`);
        }
        pw.dispose();
      }
    }
    assert.is(kern.residentBytes, 0);
  });

  test(`${kern.build}: f32 GEMM misuse`, () => {
    const pw = kern.packGemmWeightsF32(new Float32Array(6), 2, 3);
    assert.throws(() => kern.gemmF32({ a: new Float32Array(5), m: 2, k: 3, weights: pw }), /a.length: expected at least/);
    assert.throws(() => kern.gemmF32({ a: new Uint8Array(6) as never, m: 2, k: 3, weights: pw }), /a: expected a Float32Array/);
    assert.throws(() => kern.gemmF32({ a: new Float32Array(6), m: 2, k: 3, weights: pw, epilogue: { bias: [1] } }), /epilogue.bias.length: expected 2/);
    const codes = { out: new Uint8Array(4), scale: 1, bits: 8 };
    assert.throws(() => kern.gemmF32({ a: new Float32Array(6), m: 2, k: 3, weights: pw, epilogue: { codes, requant: { scale: 1, bits: 8 } } }), /epilogue.codes: expected a float32 output/);
    assert.throws(() => kern.gemmF32({ a: new Float32Array(6), m: 2, k: 3, weights: pw, epilogue: { codes: { ...codes, out: new Uint8Array(3) } } }), /epilogue.codes.out.length: expected 4/);
    assert.throws(() => kern.gemmF32({ a: new Float32Array(6), m: 2, k: 3, weights: pw, epilogue: { codes: { ...codes, bits: 9 } } }), /epilogue.codes.bits/);
    assert.throws(() => kern.gemmF32({ a: new Float32Array(6), m: 2, k: 3, weights: pw, epilogue: { codes: { ...codes, scale: 0 } } }), /epilogue.codes.scale/);
    assert.throws(() => kern.packGemmWeightsF32(new Float32Array(5), 2, 3), /valuesNK.length: expected 6, got 5/);
    pw.dispose();
    assert.throws(() => kern.gemmF32({ a: new Float32Array(6), m: 2, k: 3, weights: pw }), /weights: expected live PackedWeightsF32/);
    assert.is(kern.residentBytes, 0);
  });
}

test.run();
