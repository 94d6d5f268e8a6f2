// Threaded GEMMs: on every build and family, the rows split across workers on shared memory give
// exactly the bits of one thread (int32 sums, float32 epilogue, uint8 requant, residual in place),
// and the int32 sums equal the scalar reference.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { signedRange } from '@bitswitch/format';
import { availableBuilds, createKernels, familiesOf, gemmF32Ref, gemmRef, quantizeActivationsRef, type Epilogue, type Kernels } from '../src/index.ts';
import { assertSame, randomInts, rng } from './helpers.ts';

/** Shapes above the parallel threshold (2^18 MACs): rows not a multiple of 4 or of the threads, a single 4-row block per thread, large K. */
const SHAPES: [number, number, number][] = [[9, 64, 512], [37, 24, 300], [101, 17, 300], [64, 33, 128], [784, 16, 27], [5, 40, 1400], [1568, 64, 144]];
const PAIRS: [number, number][] = [[8, 8], [4, 4], [2, 2], [8, 4], [6, 6]];

function floats(len: number, rand: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: len }, () => (rand() - 0.5) * 2 * scale);
}

for (const build of availableBuilds()) {
  const one = createKernels({ build });
  const many = createKernels({ build, threads: 3 });

  test(`${build}: 3 threads start on shared memory`, async () => {
    assert.is(many.threads, 3, many.threadNote);
    for (let i = 0; i < 500 && many.poolStats!.ready < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.is(many.poolStats!.ready, 2, 'both workers started');
    assert.is(many.threadNote, '');
    assert.ok(many.memory.buffer instanceof SharedArrayBuffer);
    assert.is(one.threads, 1);
  });

  for (const f of familiesOf(build)) {
    test(`${build} ${f.name}: threads give one thread's bits (int32, float, requant, residual)`, () => {
      const rand = rng(7);
      for (const [wbits, abits] of PAIRS.filter(([w, a]) => f.supports(w, a))) {
        const [lo, hi] = signedRange(wbits);
        for (const [m, n, k] of SHAPES) {
          const lda = k + (m % 3);
          const a = randomInts(Uint8Array, (m - 1) * lda + k, 0, 2 ** abits - 1, rand);
          const w = randomInts(Int8Array, n * k, lo, hi, rand);
          const residual = floats(m * n, rand, 4);
          const ep: Epilogue = {
            wScale: floats(n, rand).map(Math.abs).map((v) => v + 0.01), aScale: 0.03, bias: floats(n, rand), mul: floats(n, rand), add: floats(n, rand),
            residual, relu: true,
          };
          const what = `w${wbits}a${abits} ${m}x${n}x${k}`;
          const run = (kern: Kernels) => {
            const pw = kern.packGemmWeights(w, wbits, n, k, { abits, family: f.name });
            try {
              return {
                int: kern.gemm({ a, m, k, lda, weights: pw, abits }) as Int32Array,
                float: kern.gemm({ a, m, k, lda, weights: pw, abits, epilogue: ep }) as Float32Array,
                codes: kern.gemm({ a, m, k, lda, weights: pw, abits, epilogue: { ...ep, residual: undefined, requant: { scale: 0.05, bits: abits } } }) as Uint8Array,
                second: (() => {
                  const out = new Uint8Array(m * n);
                  kern.gemm({ a, m, k, lda, weights: pw, abits, epilogue: { ...ep, codes: { out, scale: 0.05, bits: abits } } });
                  return out;
                })(),
              };
            } finally {
              pw.dispose();
            }
          };
          const r1 = run(one), r3 = run(many);
          assertSame(r3.int, gemmRef(a, m, k, lda, w, n), `${what} int32 vs reference`);
          assertSame(r3.int, r1.int, `${what} int32`);
          assertSame(r3.float, r1.float, `${what} float epilogue`);
          assertSame(r3.codes, r1.codes, `${what} requant`);
          assertSame(r3.second, r1.second, `${what} codes output of the float epilogue`);
          assertSame(r3.second, quantizeActivationsRef(r1.float, 0.05, abits), `${what} codes output = eq. 4 of the float output`);
        }
      }
    });
  }

  test(`${build}: the workers ran some of the row blocks`, () => {
    // which thread claims a block is scheduling: on a loaded machine the caller may have taken every
    // block of the cases above, so larger GEMMs run until a worker has taken one (bounded)
    const [m, n, k] = [4096, 32, 288];
    const rand = rng(26);
    const pw = many.packGemmWeights(randomInts(Int8Array, n * k, -8, 7, rand), 4, n, k, { abits: 4 });
    const a = randomInts(Uint8Array, m * k, 0, 15, rand);
    for (let tries = 0; tries < 100 && many.poolStats!.callerBlocks === many.poolStats!.blocks; tries++) many.gemm({ a, m, k, weights: pw, abits: 4 });
    pw.dispose();
    const s = many.poolStats!;
    console.log(`${build}: ${s.calls} threaded calls, ${s.blocks} blocks, ${s.blocks - s.callerBlocks} by the workers`);
    assert.ok(s.calls > 0 && s.callerBlocks < s.blocks, JSON.stringify(s));
  });

  test(`${build}: threaded residual read and written in place (out = residual on the kernels' memory)`, () => {
    const rand = rng(8);
    const [m, n, k] = [200, 32, 72];
    const a = randomInts(Uint8Array, m * k, 0, 255, rand);
    const w = randomInts(Int8Array, n * k, -128, 127, rand);
    const res = floats(m * n, rand, 3);
    const results = [one, many].map((kern) => {
      const pw = kern.packGemmWeights(w, 8, n, k, { abits: 8 });
      const buf = kern.resident(new Uint8Array(res.buffer.slice(0)));
      const view = new Float32Array(kern.memory.buffer, buf.ptr, m * n);
      const y = kern.gemm({ a, m, k, weights: pw, abits: 8, epilogue: { wScale: [0.01], aScale: 0.02, residual: view, relu: false }, out: view }) as Float32Array;
      const copy = Float32Array.from(y);
      kern.free(buf);
      pw.dispose();
      return copy;
    });
    assertSame(results[1], results[0], 'in place');
  });

  test(`${build}: threaded float32 GEMM gives one thread's bits`, () => {
    const rand = rng(9);
    for (const [m, n, k] of [[784, 16, 27], [520, 10, 64], [40, 24, 300]] as [number, number, number][]) {
      const a = floats(m * k, rand), w = floats(n * k, rand), bias = floats(n, rand);
      const [c1, c3] = [new Uint8Array(m * n), new Uint8Array(m * n)];
      const [y1, y3] = [one, many].map((kern, i) => {
        const pw = kern.packGemmWeightsF32(w, n, k);
        const y = kern.gemmF32({ a, m, k, weights: pw, epilogue: { bias, relu: true, codes: { out: i ? c3 : c1, scale: 0.125, bits: 6 } } }) as Float32Array;
        pw.dispose();
        return y;
      });
      assertSame(y3, y1, `${m}x${n}x${k}`);
      assertSame(c3, c1, `${m}x${n}x${k} codes output`);
      assertSame(c1, quantizeActivationsRef(y1, 0.125, 6), `${m}x${n}x${k} codes output = eq. 4 of the float output`);
      const raw = [one, many].map((kern) => {
        const pw = kern.packGemmWeightsF32(w, n, k);
        const y = kern.gemmF32({ a, m, k, weights: pw }) as Float32Array;
        pw.dispose();
        return y;
      });
      assertSame(raw[1], gemmF32Ref(a, m, k, k, w, n), `${m}x${n}x${k} raw vs reference`);
    }
  });
}

test('threads: a bad count names the option', () => {
  assert.throws(() => createKernels({ threads: 0 }), /threads: expected an integer in 1\.\.256, got 0/);
  assert.throws(() => createKernels({ threads: 1.5 }), /threads: expected an integer/);
});

test.run();
