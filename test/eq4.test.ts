// One eq. 4 everywhere (format SPEC §6: X / s_b divided in float64 of the float32 operands, then
// round half to even). Every path that produces activation codes is compared, on inputs next to
// .5 ties, with codes decided by exact comparisons (exactActivationCode), which the shared
// activation.json vectors also satisfy: the format reference, the kernels' quantize kernel, the
// fused re-quantization epilogue of the int and float GEMMs and their reference, and each runtime
// backend's quantize, GEMM and float GEMM.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { exactActivationCode, quantizeActivations, roundHalfEven, tieAdjacentActivations } from '@bitswitch/format';
import { readVectors } from '@bitswitch/format/node';
import { availableBuilds, createKernels, epilogueRef } from '@bitswitch/kernels';
import { createKernelsBackend, createTsBackend, type IntBackend } from '@bitswitch/runtime';

const CASES = tieAdjacentActivations();
const f32 = Math.fround;
const exact = (x: ArrayLike<number>, s: number, bits: number) => Array.from(x, (v) => exactActivationCode(v, s, bits));

function firstMismatch(got: ArrayLike<number>, x: Float32Array, s: number, bits: number): string | undefined {
  for (let i = 0; i < x.length; i++) {
    const want = exactActivationCode(x[i], s, bits);
    if (got[i] !== want) return `x=${x[i]} s=${s} bits=${bits}: got ${got[i]}, want ${want} (x/s = ${x[i] / s})`;
  }
  if (got.length !== x.length) return `length ${got.length}, want ${x.length}`;
  return undefined;
}

/** A GEMM shape whose output holds x: n = 37 columns (not a multiple of any tile), rows padded with zeros. */
function asMatrix(x: Float32Array): { m: number; n: number; residual: Float32Array } {
  const n = 37, m = Math.ceil(x.length / n);
  const residual = new Float32Array(m * n);
  residual.set(x);
  return { m, n, residual };
}

test('the exact oracle reproduces every code of activation.json, and the tie-adjacent set separates float64 from float32 division', () => {
  const { cases } = readVectors<{ x: number[]; bits: Record<string, { scale: number; xq: number[] }> }[]>('activation.json');
  let checked = 0;
  for (const c of cases) {
    for (const [b, v] of Object.entries(c.bits)) {
      assert.equal(exact(c.x.map(f32), f32(v.scale), Number(b)), v.xq, `activation.json bits ${b}`);
      checked += v.xq.length;
    }
  }
  assert.ok(checked > 0);
  // x = f32(0.35), s = f32(0.1): x / s = 3.4999999 → 3, while f32(x / s) = 3.5 → 4.
  assert.is(exactActivationCode(f32(0.35), f32(0.1), 8), 3);
  assert.is(roundHalfEven(f32(f32(0.35) / f32(0.1))), 4);
  let differ = 0;
  for (const c of CASES) {
    for (const v of c.x) if (Math.min(2 ** c.bits - 1, Math.max(0, roundHalfEven(f32(v / c.scale)))) !== exactActivationCode(v, c.scale, c.bits)) differ++;
  }
  assert.ok(differ > 100, `only ${differ} inputs where float32 division changes the code`);
});

test('format: quantizeActivations', () => {
  for (const c of CASES) assert.is(firstMismatch(quantizeActivations(c.x, c.scale, c.bits), c.x, c.scale, c.bits), undefined);
});

test('kernels: epilogueRef re-quantization', () => {
  for (const c of CASES) {
    const { m, n, residual } = asMatrix(c.x);
    const got = epilogueRef(new Int32Array(m * n), m, n, { wScale: [1], aScale: 1, residual, requant: { scale: c.scale, bits: c.bits } });
    assert.is(firstMismatch(got.subarray(0, c.x.length), c.x, c.scale, c.bits), undefined);
  }
});

for (const build of availableBuilds()) {
  const kern = createKernels({ build });

  test(`kernels ${build}: quantize kernel`, () => {
    for (const c of CASES) assert.is(firstMismatch(kern.quantizeActivations(c.x, c.scale, c.bits), c.x, c.scale, c.bits), undefined);
  });

  test(`kernels ${build}: fused re-quantization of the int GEMM and the float32 GEMM`, () => {
    for (const c of CASES) {
      const { m, n, residual } = asMatrix(c.x);
      const k = 5;
      const w = kern.packGemmWeights(new Int8Array(n * k), c.bits, n, k, { abits: c.bits });
      const got = kern.gemm({ a: new Uint8Array(m * k), m, k, weights: w, abits: c.bits, epilogue: { wScale: [1], aScale: 1, residual, requant: { scale: c.scale, bits: c.bits } } });
      assert.is(firstMismatch(got.subarray(0, c.x.length), c.x, c.scale, c.bits), undefined, 'int GEMM');
      w.dispose();
      const wf = kern.packGemmWeightsF32(new Float32Array(n * k), n, k);
      const gotF = kern.gemmF32({ a: new Float32Array(m * k), m, k, weights: wf, epilogue: { residual, requant: { scale: c.scale, bits: c.bits } } });
      assert.is(firstMismatch(gotF.subarray(0, c.x.length), c.x, c.scale, c.bits), undefined, 'float32 GEMM');
      wf.dispose();
    }
  });
}

const BACKENDS: [string, () => IntBackend][] = [['ts-scalar', createTsBackend], ...availableBuilds().map((build) => [`kernels-${build}`, () => createKernelsBackend({ build })] as [string, () => IntBackend])];
for (const [name, create] of BACKENDS) {
  test(`runtime ${name}: quantize, fused GEMM re-quantization and float GEMM re-quantization`, () => {
    const be = create();
    for (const c of CASES) {
      assert.is(firstMismatch(be.quantize(c.x, c.scale, c.bits), c.x, c.scale, c.bits), undefined, 'quantize');
      const { m, n, residual } = asMatrix(c.x);
      const k = 3;
      const w = be.prepareWeights(new Int8Array(n * k), 8, c.bits, n, k);
      const requant = { scale: c.scale, bits: c.bits };
      const got = be.gemm(new Uint8Array(m * k), m, c.bits, w, { wScale: Float32Array.of(1), aScale: 1, residual, relu: false, requant });
      assert.is(firstMismatch(got.subarray(0, c.x.length), c.x, c.scale, c.bits), undefined, 'gemm');
      w.dispose?.();
      const wf = be.prepareFloatWeights(new Float32Array(n * k), n, k);
      const gotF = be.gemmFloat(new Float32Array(m * k), m, wf, { residual, relu: false, requant });
      assert.is(firstMismatch(gotF.subarray(0, c.x.length), c.x, c.scale, c.bits), undefined, 'gemmFloat');
      wf.dispose?.();
    }
  });
}

test.run();
