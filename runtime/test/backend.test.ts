// Integer parts of every backend, exactly, against references that none of them calls: eq. 4
// quantization against codes decided by exact comparison, im2col, eq. 2 weights + GEMM (random
// shapes, none a multiple of a tile, plus every case of the shared gemm vectors), and the epilogue
// against its contract (runtime/src/backend.ts) written out below step by step.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readVectors } from '@bitswitch/format/node';
import { doubleRound, exactActivationCode } from '@bitswitch/format';
import type { ConvGeometry, Epilogue, FloatEpilogue } from '../src/backend.ts';
import { padBefore } from '../src/graph.ts';
import { patchBytes } from '../src/ops/conv.ts';
import { rng } from '../src/testing.ts';
import { BACKENDS } from './backends.ts';
import { createKernelsBackend } from '../src/backend-kernels.ts';
import type { PreparedWeights } from '../src/backend.ts';
import { familiesOf, type PackedWeights } from '@bitswitch/kernels';

const rand = rng(42);
const int = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const BITS = [8, 7, 6, 5, 4, 3, 2];

function randomWeights(n: number, k: number, h: number): Int8Array {
  return Int8Array.from({ length: n * k }, () => int(-(2 ** (h - 1)), 2 ** (h - 1) - 1));
}

function randomGeometry(): ConvGeometry {
  const padding = rand() < 0.5 ? 'same' : 'valid';
  const kh = int(1, 4), kw = int(1, 4);
  const h = int(kh, 11), w = int(kw, 11);
  const sh = int(1, 3), sw = int(1, 3);
  const r = padBefore(h, kh, sh, padding);
  const c = padBefore(w, kw, sw, padding);
  return { batch: int(1, 3), h, w, c: int(1, 9), kh, kw, sh, sw, padding, padTop: r.pad, padLeft: c.pad, outH: r.out, outW: c.out };
}

const f32 = Math.fround;

/** Patch rows [batch·outH·outW][kh·kw·c] of NHWC x with plain loops; outside pixels read 0. */
function im2colScalar<T extends Uint8Array | Float32Array>(x: T, g: ConvGeometry, out: T): T {
  const K = g.kh * g.kw * g.c;
  let row = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++, row++) {
        let o = row * K;
        for (let ky = 0; ky < g.kh; ky++) {
          const iy = oy * g.sh + ky - g.padTop;
          for (let kx = 0; kx < g.kw; kx++) {
            const ix = ox * g.sw + kx - g.padLeft;
            const inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            const src = ((b * g.h + iy) * g.w + ix) * g.c;
            for (let c = 0; c < g.c; c++) out[o++] = inside ? x[src + c] : 0;
          }
        }
      }
    }
  }
  return out;
}

/** Σ_k a[i][k]·w[j][k] with plain loops (w [n][k]). */
function intGemm(a: ArrayLike<number>, m: number, w: ArrayLike<number>, n: number, k: number): Int32Array {
  const out = new Int32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let acc = 0;
    for (let t = 0; t < k; t++) acc += a[i * k + t] * w[j * k + t];
    out[i * n + j] = acc;
  }
  return out;
}

/**
 * The epilogue contract of backend.ts: y = f32(acc)·f32(aScale·wScale[n]), + bias, · mul, + add,
 * + residual, ReLU, each step rounded to float32; then eq. 4 codes (format SPEC §6) or y.
 */
function epilogueSpec(acc: ArrayLike<number>, m: number, n: number, ep: FloatEpilogue & { wScale?: Float32Array; aScale?: number }): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    const ws = ep.wScale ? (ep.wScale.length === 1 ? ep.wScale[0] : ep.wScale[j]) : 1;
    let y = f32(f32(acc[i * n + j]) * f32(f32(ep.aScale ?? 1) * ws));
    if (ep.bias) y = f32(y + ep.bias[j]);
    if (ep.mul) y = f32(y * ep.mul[j]);
    if (ep.add) y = f32(y + ep.add[j]);
    if (ep.residual) y = f32(y + ep.residual[i * n + j]);
    if (ep.relu && y < 0) y = 0;
    out.push(ep.requant ? exactActivationCode(y, f32(ep.requant.scale), ep.requant.bits) : y);
  }
  return out;
}

/** float32 Σ_k in k order, one rounding per product and per sum. */
function floatGemm(a: Float32Array, m: number, w: Float32Array, n: number, k: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let acc = 0;
    for (let t = 0; t < k; t++) acc = f32(acc + f32(a[i * k + t] * w[j * k + t]));
    out[i * n + j] = acc;
  }
  return out;
}

const gemmVectors = readVectors('gemm.json').cases as {
  M: number; N: number; K: number; wbits: number; abits: number;
  a_unsigned_row_major_MxK: number[]; w_signed_row_major_KxN: number[]; c_int32_row_major_MxN: number[];
}[];

for (const { name, create } of BACKENDS) {
  const be = create();

  test(`${name}: eq. 4 quantize equals the codes decided by exact comparison, ties included`, () => {
    for (let t = 0; t < 30; t++) {
      const bits = int(2, 8);
      const scale = f32(rand() < 0.3 ? 2 ** -int(1, 6) : 0.01 + rand()); // s_b is a float32 (SPEC §6)
      // Half of the values sit on exact .5 multiples of a power-of-two scale.
      const x = Float32Array.from({ length: int(1, 300) }, () => (rand() < 0.5 ? (int(-4, 2 ** bits + 4) + 0.5) * scale : (rand() * 1.2 - 0.1) * scale * 2 ** bits));
      assert.equal(Array.from(be.quantize(x, scale, bits)), Array.from(x, (v) => exactActivationCode(v, scale, bits)));
    }
  });

  test(`${name}: im2col equals the scalar reference on random geometries`, () => {
    for (let t = 0; t < 60; t++) {
      const g = randomGeometry();
      const x = Uint8Array.from({ length: g.batch * g.h * g.w * g.c }, () => int(1, 255));
      const want = im2colScalar(x, g, new Uint8Array(patchBytes(g)));
      assert.equal(Array.from(be.im2col(x, g)), Array.from(want), JSON.stringify(g));
    }
  });

  test(`${name}: eq. 2 weights + int32 GEMM equal doubleRound + a plain-loop GEMM on random shapes`, () => {
    for (let t = 0; t < 60; t++) {
      const h = BITS[int(0, 2)];
      const l = BITS.filter((b) => b <= h && b >= 2)[int(0, BITS.filter((b) => b <= h && b >= 2).length - 1)];
      const m = int(1, 13), n = int(1, 37), k = int(1, 150);
      const wh = randomWeights(n, k, h);
      const a = Uint8Array.from({ length: m * k }, () => (t % 7 === 0 ? 2 ** l - 1 : int(0, 2 ** l - 1)));
      const want = intGemm(a, m, Array.from(wh, (v) => doubleRound(v, h, l)), n, k);
      const w = be.prepareWeights(wh, h, l, n, k);
      assert.equal(Array.from(be.gemmInt32(a, m, l, w)), Array.from(want), `h=${h} l=${l} m=${m} n=${n} k=${k}`);
      w.dispose?.();
    }
  });

  test(`${name}: every case of vectors/gemm.json`, () => {
    assert.ok(gemmVectors.length > 0);
    for (const c of gemmVectors) {
      // Vectors store W as [K][N]; the runtime's weights are [N][K].
      const wNK = Int8Array.from({ length: c.N * c.K }, (_, i) => c.w_signed_row_major_KxN[(i % c.K) * c.N + Math.floor(i / c.K)]);
      const w = be.prepareWeights(wNK, c.wbits, c.wbits, c.N, c.K);
      // Activations wider than the weights run as the layer's own bit (wbab) when they fit.
      const abits = Math.max(c.abits, c.wbits);
      const got = be.gemmInt32(Uint8Array.from(c.a_unsigned_row_major_MxK), c.M, abits, w);
      assert.equal(Array.from(got), c.c_int32_row_major_MxN, `M=${c.M} N=${c.N} K=${c.K} w${c.wbits}a${c.abits}`);
      w.dispose?.();
    }
  });

  test(`${name}: fused epilogue (scales, bias, BatchNorm, residual, ReLU, requant) equals its contract step by step`, () => {
    for (let t = 0; t < 30; t++) {
      const l = int(2, 8);
      const m = int(1, 9), n = int(1, 21), k = int(1, 70);
      const wh = randomWeights(n, k, 8);
      const a = Uint8Array.from({ length: m * k }, () => int(0, 2 ** l - 1));
      const vec = () => Float32Array.from({ length: n }, () => rand() * 2 - 1);
      const ep: Epilogue = {
        wScale: Float32Array.from({ length: rand() < 0.5 ? 1 : n }, () => 0.001 + rand() * 0.01), aScale: 0.01 + rand() * 0.1,
        bias: rand() < 0.5 ? vec() : undefined, mul: vec(), add: vec(), relu: rand() < 0.7,
        requant: rand() < 0.5 ? { scale: 0.01 + rand() * 0.2, bits: int(2, 8) } : undefined,
        residual: rand() < 0.5 ? Float32Array.from({ length: m * n }, () => rand() * 2 - 1) : undefined,
      };
      const w = be.prepareWeights(wh, 8, l, n, k);
      const want = epilogueSpec(intGemm(a, m, Array.from(wh, (v) => doubleRound(v, 8, l)), n, k), m, n, ep);
      const got = be.gemm(a, m, l, w, ep);
      assert.is(got.constructor, ep.requant ? Uint8Array : Float32Array);
      assert.equal(Array.from(got), want);
      w.dispose?.();
    }
  });

  test(`${name}: float32 GEMM (first/last layers) with its epilogue equals k-ordered float32 sums and the epilogue contract`, () => {
    for (let t = 0; t < 30; t++) {
      const m = int(1, 20), n = int(1, 21), k = int(1, 40);
      const a = Float32Array.from({ length: m * k }, () => rand() * 2 - 1);
      const w = Float32Array.from({ length: n * k }, () => rand() * 2 - 1);
      const vec = () => Float32Array.from({ length: n }, () => rand() * 2 - 1);
      const ep = { bias: rand() < 0.5 ? vec() : undefined, mul: rand() < 0.5 ? vec() : undefined, add: vec(), relu: rand() < 0.5,
        requant: rand() < 0.3 ? { scale: 0.01 + rand() * 0.2, bits: int(2, 8) } : undefined };
      const pw = be.prepareFloatWeights(w, n, k);
      const got = be.gemmFloat(a, m, pw, ep);
      const want = epilogueSpec(floatGemm(a, m, w, n, k), m, n, ep);
      assert.is(got.constructor, ep.requant ? Uint8Array : Float32Array);
      assert.equal(Array.from(got), want, `m=${m} n=${n} k=${k}`);
      pw.dispose?.();
    }
  });
}

test('kernels backend: each layer is packed with the family measured fastest for its shape, and "preferred" gives the same outputs', () => {
  const measured = createKernelsBackend({ build: 'relaxed' });
  const preferred = createKernelsBackend({ build: 'relaxed', family: 'preferred' });
  const rand = rng(21);
  for (const [n, k] of [[16, 144], [32, 288], [10, 64]]) {
    const wh = Int8Array.from({ length: n * k }, () => Math.floor(rand() * 256) - 128);
    for (const l of [8, 4, 2]) {
      const wm = measured.prepareWeights(wh, 8, l, n, k) as PreparedWeights & { packed: PackedWeights };
      const wp = preferred.prepareWeights(wh, 8, l, n, k) as PreparedWeights & { packed: PackedWeights };
      const candidates = familiesOf('relaxed').filter((f) => f.supports(l, l));
      const choice = measured.kernels.familyChoices.find((c) => c.wbits === l && c.n === n && c.k === k);
      assert.is(wm.packed.family.name, choice ? choice.family : candidates[0].name, `w${l} ${n}x${k}: packed with the chosen family`);
      assert.is(wp.packed.family.name, candidates[0].name, `w${l} ${n}x${k}: preferred = first in the table`);
      if (l === 2) assert.ok(choice, `w2 ${n}x${k}: several families, so measured`);
      const m = 37;
      const a = Uint8Array.from({ length: m * k }, () => Math.floor(rand() * 2 ** l));
      assert.equal(Array.from(measured.gemmInt32(a, m, l, wm)), Array.from(preferred.gemmInt32(a, m, l, wp)), `w${l} ${n}x${k}`);
    }
  }
  measured.dispose?.();
  preferred.dispose?.();
});

test.run();
