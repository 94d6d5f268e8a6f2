// convGemm tester: a convolution read through its window (no patch matrix) gives exactly the bits
// of gemm on im2col's patch matrix and of the scalar reference, on every family of every build,
// through the tap pointers (C even / C % 8 = 0) and through the blocks of copied patch rows (other C,
// scalar build); threads give one thread's bits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { signedRange } from '@bitswitch/format';
import {
  availableBuilds, convGemmRef, createKernels, familiesOf, type Epilogue, type GemmFamily, type Kernels, type PackedWeights,
} from '../src/index.ts';
import { KERNELS, assertSame, randomInts, readVectors, rng } from './helpers.ts';

const PAIRS: [number, number][] = [[8, 8], [7, 7], [6, 6], [5, 5], [4, 4], [3, 3], [2, 2], [8, 4], [4, 8], [2, 4], [4, 2], [2, 8], [6, 3]];

/** One convolution: input [batch][h][w][c], kernel kh×kw, strides, padding, n output channels. */
interface Conv { batch: number; h: number; w: number; c: number; kh: number; kw: number; sh: number; sw: number; padding: 'same' | 'valid'; n: number }

const conv = (batch: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid', n: number): Conv =>
  ({ batch, h, w, c, kh, kw, sh, sw, padding, n });

/** Random windows: sizes not multiples of the tiles, C even, odd and multiples of 8, strides 1 and 2, both paddings. */
function randomConvs(count: number, rand: () => number): Conv[] {
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
  const out: Conv[] = [];
  while (out.length < count) {
    const [kh, kw] = pick([[3, 3], [3, 3], [1, 3], [3, 1], [2, 2], [5, 5], [1, 1]] as const);
    const [sh, sw] = pick([[1, 1], [2, 2], [1, 2], [2, 1]] as const);
    const h = 1 + Math.floor(rand() * 9), w = 1 + Math.floor(rand() * 9);
    const padding = pick(['same', 'valid'] as const);
    if (padding === 'valid' && (kh > h || kw > w)) continue;
    out.push(conv(1 + Math.floor(rand() * 3), h, w, pick([1, 2, 3, 4, 6, 8, 16, 18, 32]), kh, kw, sh, sw, padding, 1 + Math.floor(rand() * 20)));
  }
  return out;
}

/** Cases past the blocks of rows (path 0: 128 KiB of int16 rows, path 2: 64 KiB of tables) and the widening chunks of dot8 and lut16. */
const LARGE: Conv[] = [
  conv(2, 16, 15, 32, 3, 3, 1, 1, 'same', 24), // 480 rows: more than one block on every path
  conv(1, 6, 7, 64, 3, 3, 1, 1, 'same', 17), // k 576: past the dot8 chunk of w4a4 (272) inside a tap
  conv(1, 4, 5, 128, 3, 3, 2, 2, 'same', 16), // k 1152: past the dot8 chunk of w2a2 (1024)
  conv(3, 11, 9, 18, 3, 3, 2, 2, 'same', 9), // C 18: taps of 9 pairs on dot8, copied rows on dot16 and lut16
];

const describe = (x: Conv) => `${x.batch}×${x.h}×${x.w}×${x.c} k${x.kh}×${x.kw} s${x.sh},${x.sw} ${x.padding} n${x.n}`;

function pack(kern: Kernels, f: GemmFamily, w: Int8Array, wbits: number, abits: number, x: Conv): PackedWeights {
  return kern.packGemmWeights(w, wbits, x.n, x.kh * x.kw * x.c, { abits, family: f.name });
}

/** convGemm, and gemm on im2col's patches, with the same weights and epilogue. */
function both(kern: Kernels, pw: PackedWeights, input: Uint8Array, x: Conv, abits: number, epilogue?: Epilogue) {
  const window = { batch: x.batch, h: x.h, w: x.w, c: x.c, kh: x.kh, kw: x.kw, stride: [x.sh, x.sw] as [number, number], padding: x.padding };
  const fused = kern.convGemm({ input, ...window, weights: pw, abits, epilogue });
  const p = kern.im2col({ input, ...window });
  const plain = kern.gemm({ a: p.data, m: p.rows, k: p.cols, weights: pw, abits, epilogue });
  return { fused, plain, rows: p.rows };
}

function data(x: Conv, wbits: number, abits: number, rand: () => number) {
  const [lo, hi] = signedRange(wbits);
  return {
    input: randomInts(Uint8Array, x.batch * x.h * x.w * x.c, 0, 2 ** abits - 1, rand),
    w: randomInts(Int8Array, x.n * x.kh * x.kw * x.c, lo, hi, rand),
  };
}

function floats(len: number, rand: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length: len }, () => (rand() - 0.5) * 2 * scale);
}

for (const kern of KERNELS) {
  for (const f of familiesOf(kern.build)) {
    const pairs = PAIRS.filter(([w, a]) => f.supports(w, a));

    test(`${kern.build} ${f.name}: convGemm = gemm(im2col) = reference, random windows and every bit pair — exact int32`, () => {
      const rand = rng(21);
      for (const [wbits, abits] of pairs) {
        for (const x of [...randomConvs(14, rand), ...(wbits === abits || wbits === 2 ? LARGE : [])]) {
          const { input, w } = data(x, wbits, abits, rand);
          const pw = pack(kern, f, w, wbits, abits, x);
          try {
            const { fused, plain } = both(kern, pw, input, x, abits);
            const what = `w${wbits}a${abits} ${describe(x)}`;
            assertSame(fused, plain, `${what} vs gemm(im2col)`);
            assertSame(fused, convGemmRef(input, x.batch, x.h, x.w, x.c, x.kh, x.kw, x.sh, x.sw, x.padding, w, x.n), `${what} vs reference`);
          } finally {
            pw.dispose();
          }
        }
      }
      assert.is(kern.residentBytes, 0);
    });

    test(`${kern.build} ${f.name}: convGemm's fused epilogue (scales, bias, affine, residual, ReLU, requant, codes) = gemm(im2col)'s`, () => {
      const rand = rng(22);
      for (const [wbits, abits] of pairs.slice(0, 3)) {
        for (const x of [...randomConvs(6, rand), LARGE[0], LARGE[3]]) {
          const { input, w } = data(x, wbits, abits, rand);
          const pw = pack(kern, f, w, wbits, abits, x);
          try {
            const rows = (kern.convGemm({ input, batch: x.batch, h: x.h, w: x.w, c: x.c, kh: x.kh, kw: x.kw, stride: [x.sh, x.sw], padding: x.padding, weights: pw, abits }) as Int32Array).length / x.n;
            const ep: Epilogue = {
              wScale: floats(x.n, rand).map((v) => Math.abs(v) + 0.01), aScale: 0.03, bias: floats(x.n, rand), mul: floats(x.n, rand), add: floats(x.n, rand),
              residual: floats(rows * x.n, rand, 3), relu: true,
            };
            const what = `w${wbits}a${abits} ${describe(x)}`;
            const float = both(kern, pw, input, x, abits, ep);
            assertSame(float.fused, float.plain, `${what} float`);
            const rq = both(kern, pw, input, x, abits, { ...ep, requant: { scale: 0.05, bits: abits } });
            assertSame(rq.fused, rq.plain, `${what} requant`);
            const [c1, c2] = [new Uint8Array(rows * x.n), new Uint8Array(rows * x.n)];
            const window = { batch: x.batch, h: x.h, w: x.w, c: x.c, kh: x.kh, kw: x.kw, stride: [x.sh, x.sw] as [number, number], padding: x.padding };
            kern.convGemm({ input, ...window, weights: pw, abits, epilogue: { ...ep, codes: { out: c1, scale: 0.05, bits: abits } } });
            const p = kern.im2col({ input, ...window });
            kern.gemm({ a: p.data, m: p.rows, k: p.cols, weights: pw, abits, epilogue: { ...ep, codes: { out: c2, scale: 0.05, bits: abits } } });
            assertSame(c1, c2, `${what} codes output`);
          } finally {
            pw.dispose();
          }
        }
      }
      assert.is(kern.residentBytes, 0);
    });

    test(`${kern.build} ${f.name}: every case of the shared gemm vectors as a 1×1 convolution over an M×1 image of K channels`, () => {
      type Case = { M: number; N: number; K: number; wbits: number; abits: number; a_unsigned_row_major_MxK: number[]; w_signed_row_major_KxN: number[]; c_int32_row_major_MxN: number[] };
      let ran = 0;
      for (const c of readVectors<Case>('gemm.json').cases) {
        if (!f.supports(c.wbits, c.abits)) continue;
        const w = new Int8Array(c.N * c.K);
        for (let i = 0; i < c.K; i++) for (let j = 0; j < c.N; j++) w[j * c.K + i] = c.w_signed_row_major_KxN[i * c.N + j];
        const pw = kern.packGemmWeights(w, c.wbits, c.N, c.K, { abits: c.abits, family: f.name });
        try {
          const got = kern.convGemm({ input: Uint8Array.from(c.a_unsigned_row_major_MxK), h: c.M, w: 1, c: c.K, kh: 1, kw: 1, padding: 'valid', weights: pw, abits: c.abits });
          assertSame(got, c.c_int32_row_major_MxN, `vector ${c.M}x${c.N}x${c.K} w${c.wbits}a${c.abits}`);
        } finally {
          pw.dispose();
        }
        ran++;
      }
      if (f.supports(8, 8)) assert.ok(ran > 0);
    });
  }

  test(`${kern.build}: convGemm reads the input and writes the output in place on the kernels' memory`, () => {
    const rand = rng(23);
    const x = conv(2, 7, 6, 16, 3, 3, 1, 1, 'same', 12);
    const { input, w } = data(x, 4, 4, rand);
    const pw = kern.packGemmWeights(w, 4, x.n, 144, { abits: 4 });
    const inBuf = kern.resident(input);
    const outBuf = kern.resident(new Uint8Array(x.batch * 42 * x.n * 4));
    const window = { batch: x.batch, h: x.h, w: x.w, c: x.c, kh: 3, kw: 3, padding: 'same' as const };
    const outView = new Int32Array(kern.memory.buffer, outBuf.ptr, x.batch * 42 * x.n);
    const got = kern.convGemm({ input: new Uint8Array(kern.memory.buffer, inBuf.ptr, input.length), ...window, weights: pw, abits: 4, out: outView });
    assert.ok(got === outView);
    assertSame(new Int32Array(kern.memory.buffer, outBuf.ptr, outView.length), convGemmRef(input, x.batch, x.h, x.w, x.c, 3, 3, 1, 1, 'same', w, x.n), 'in place');
    kern.free(inBuf); kern.free(outBuf); pw.dispose();
    assert.is(kern.residentBytes, 0);
  });

  test(`${kern.build}: convGemm misuse raises RangeError before the kernel runs`, () => {
    const pw = kern.packGemmWeights(new Int8Array(3 * 18), 4, 3, 18, { abits: 4 });
    const input = new Uint8Array(4 * 4 * 2);
    const ok = { input, h: 4, w: 4, c: 2, kh: 3, kw: 3, padding: 'same' as const, weights: pw, abits: 4 };
    const used = kern.residentBytes;
    const bad: [object, RegExp][] = [
      [{ c: 3 }, /input.length: expected 48, got 32/],
      [{ kh: 2 }, /weights.k: expected kh·kw·c = 12, got 18/],
      [{ kw: 1 }, /weights.k: expected kh·kw·c = 6, got 18/],
      [{ input: new Int8Array(32) }, /input: expected a Uint8Array, got Int8Array/],
      [{ padding: 'full' }, /padding: expected 'same' or 'valid'/],
      [{ stride: [1, 0] }, /stride\[1\]: expected an integer in 1/],
      [{ abits: 9 }, /abits: expected an integer in 1..8/],
      [{ out: new Float32Array(48) }, /out: expected a Int32Array/],
      [{ out: new Int32Array(47) }, /out.length: expected 48, got 47/],
      [{ weights: { ...pw, ptr: 1 } }, /weights: expected live PackedWeights/],
    ];
    for (const [patch, re] of bad) {
      assert.throws(() => kern.convGemm({ ...ok, ...patch } as never), (e: Error) => e instanceof RangeError && re.test(e.message), re.source);
    }
    assert.throws(() => kern.convGemm({ ...ok, input: new Uint8Array(32).fill(16) }), /input: expected values in 0..15 \(abits 4\), found 16/);
    // checkA: false skips that pass (for callers whose codes are in range by construction)
    assert.not.throws(() => kern.convGemm({ ...ok, input: new Uint8Array(32).fill(16), checkA: false }));
    assert.is(kern.residentBytes, used);
    pw.dispose();
  });
}

/** Windows above the parallel threshold (2^18 MACs): tap pointers (C 16, 32) and copied rows (C 6), strides 1 and 2. */
const THREADED: Conv[] = [
  conv(2, 16, 16, 32, 3, 3, 1, 1, 'same', 32), conv(3, 15, 13, 16, 3, 3, 2, 2, 'same', 20), conv(1, 28, 28, 6, 3, 3, 1, 1, 'valid', 16),
];

for (const build of availableBuilds()) {
  const one = createKernels({ build });
  const many = [2, 3].map((threads) => createKernels({ build, threads }));

  test(`${build}: 2 and 3 threads start`, async () => {
    for (const kern of many) {
      for (let i = 0; i < 500 && kern.poolStats!.ready < kern.threads - 1; i++) await new Promise((r) => setTimeout(r, 10));
      assert.is(kern.poolStats!.ready, kern.threads - 1, kern.threadNote);
    }
  });

  for (const f of familiesOf(build)) {
    test(`${build} ${f.name}: convGemm on 2 and 3 threads gives one thread's bits (int32, float with residual, requant)`, () => {
      const rand = rng(24);
      for (const [wbits, abits] of [[8, 8], [4, 4], [2, 2]].filter(([w, a]) => f.supports(w, a))) {
        for (const x of THREADED) {
          const { input, w } = data(x, wbits, abits, rand);
          const rows = x.batch * Math.ceil((x.padding === 'same' ? x.h : x.h - x.kh + 1) / x.sh) * Math.ceil((x.padding === 'same' ? x.w : x.w - x.kw + 1) / x.sw);
          const ep: Epilogue = { wScale: floats(x.n, rand).map((v) => Math.abs(v) + 0.01), aScale: 0.02, bias: floats(x.n, rand), residual: floats(rows * x.n, rand, 2), relu: true };
          const window = { batch: x.batch, h: x.h, w: x.w, c: x.c, kh: x.kh, kw: x.kw, stride: [x.sh, x.sw] as [number, number], padding: x.padding };
          const run = (kern: Kernels) => {
            const pw = pack(kern, f, w, wbits, abits, x);
            try {
              return [
                kern.convGemm({ input, ...window, weights: pw, abits }),
                kern.convGemm({ input, ...window, weights: pw, abits, epilogue: ep }),
                kern.convGemm({ input, ...window, weights: pw, abits, epilogue: { ...ep, residual: undefined, requant: { scale: 0.04, bits: abits } } }),
              ];
            } finally {
              pw.dispose();
            }
          };
          const r1 = run(one);
          const what = `w${wbits}a${abits} ${describe(x)}`;
          assertSame(r1[0], convGemmRef(input, x.batch, x.h, x.w, x.c, x.kh, x.kw, x.sh, x.sw, x.padding, w, x.n), `${what} vs reference`);
          for (const kern of many) {
            const rt = run(kern);
            rt.forEach((y, i) => assertSame(y, r1[i], `${what} ${kern.threads} threads, output ${i}`));
          }
        }
      }
    });
  }

  test(`${build}: the workers ran some of the convolution's row blocks`, () => {
    // Which thread claims a block is scheduling: on a loaded machine the caller may take every block of
    // the small cases above, so larger convolutions run until a worker has taken one (bounded).
    const x = { batch: 8, h: 28, w: 28, c: 16, kh: 3, kw: 3, sh: 1, sw: 1, padding: 'same' as const, n: 16 };
    const rand = rng(25);
    const { input, w } = data(x, 4, 4, rand);
    for (const kern of many) {
      const pw = kern.packGemmWeights(w, 4, x.n, x.kh * x.kw * x.c, { abits: 4 });
      for (let tries = 0; tries < 100 && kern.poolStats!.callerBlocks === kern.poolStats!.blocks; tries++) {
        kern.convGemm({ input, batch: x.batch, h: x.h, w: x.w, c: x.c, kh: x.kh, kw: x.kw, stride: [x.sh, x.sw], padding: x.padding, weights: pw, abits: 4 });
      }
      pw.dispose();
      const s = kern.poolStats!;
      assert.ok(s.calls > 0 && s.callerBlocks < s.blocks, `${kern.threads} threads: ${JSON.stringify(s)}`);
    }
  });
}

test.run();
