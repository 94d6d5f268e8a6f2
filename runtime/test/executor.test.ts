// The fast executor against the scalar reference executor, for every backend, precision kind,
// BatchNorm kind and batch size: every quantized layer's eq. 4 codes equal (a code may differ only
// where the reference's value lies within float32 rounding of a .5 tie), and logits equal up to
// float32 rounding of the epilogue steps in every image without such a code.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quantizeActivations, type Layer, type Model } from '@bitswitch/format';
import { buildResNet, calibrate, randomImages, rng } from '../src/testing.ts';
import { Runtime, type ExecutorOptions } from '../src/executor.ts';
import { referenceForward } from '../src/reference.ts';
import type { PrecisionSpec } from '../src/precision.ts';
import { BACKENDS } from './backends.ts';
import { createTsBackend } from '../src/backend-ts.ts';

interface Reference { logits: Float32Array; codes: Map<string, Uint8Array>; ratios: Map<string, Float64Array> }
const references = new Map<string, Reference>();

/** The reference is slow: computed once per (model, precision, images) and shared by all backends. */
function reference(model: Model, spec: PrecisionSpec, images: Float32Array, batch: number): Reference {
  const key = `${model.metadata?.seed}/${model.inputShape}/${String(spec)}/${batch}`;
  let ref = references.get(key);
  if (!ref) {
    const codes = new Map<string, Uint8Array>();
    const ratios = new Map<string, Float64Array>();
    const logits = referenceForward(model, spec, images, batch, {
      beforeQuantize(l, x, bitIndex) {
        const w = l.weights;
        if (w.kind !== 'int') return;
        const s = w.actScales[bitIndex];
        codes.set(l.name, quantizeActivations(x, s, model.bits[bitIndex]));
        ratios.set(l.name, Float64Array.from(x, (v) => v / s));
      },
    });
    references.set(key, (ref = { logits, codes, ratios }));
  }
  return ref;
}

/** Calls of the backend's quantize in one run of `model` with executor `options`. */
async function quantizeCalls(model: Model, options: ExecutorOptions): Promise<number> {
  const b = createTsBackend();
  let calls = 0;
  const quantize = b.quantize.bind(b);
  b.quantize = (...a) => { calls++; return quantize(...a); };
  new Runtime(model, b, model.bits[0], options).run(randomImages(model.inputShape, 1, 3), 1);
  return calls;
}

/** A reference value this close to a .5 tie (relative) may round either way in the fast path's float32 epilogue. */
const TIE_WINDOW = 1e-5;
/** Logits of an image whose codes all agree: float32 epilogue steps vs float64 sums, relative to the largest logit. */
const LOGIT_TOLERANCE = 1e-5;

function compare(model: Model, rt: Runtime, spec: PrecisionSpec, images: Float32Array, batch: number): void {
  const ref = reference(model, spec, images, batch);
  rt.setPrecision(spec);
  const codes = new Map<string, Uint8Array>();
  rt.codeHook = (layer, c) => codes.set(layer, c.slice());
  const fast = rt.run(images, batch);
  rt.codeHook = undefined;
  const what = `${String(spec)} batch ${batch}`;
  assert.is(fast.length, ref.logits.length);
  assert.equal([...codes.keys()].sort(), [...ref.codes.keys()].sort(), `${what}: quantized layers`);
  const flipped = new Set<number>(); // images with a differing code in an earlier layer
  for (const [layer, want] of ref.codes) {
    const flippedHere: number[] = [];
    const got = codes.get(layer)!;
    assert.is(got.length, want.length, `${what} ${layer}: code count`);
    const per = want.length / batch;
    for (let i = 0; i < want.length; i++) {
      if (got[i] === want[i]) continue;
      const v = ref.ratios.get(layer)![i];
      const image = Math.floor(i / per);
      // a code of an image without differences in earlier layers must sit at a tie and differ by one;
      // later ones may follow from it
      if (!flipped.has(image)) {
        assert.ok(Math.abs(v - Math.floor(v) - 0.5) <= TIE_WINDOW * Math.max(1, Math.abs(v)), `${what} ${layer}[${i}]: code ${got[i]} vs ${want[i]} at x/s = ${v}, not at a tie`);
        assert.is(Math.abs(got[i] - want[i]), 1, `${what} ${layer}[${i}]`);
      }
      flippedHere.push(image);
    }
    for (const image of flippedHere) flipped.add(image);
  }
  const per = ref.logits.length / batch;
  for (let b = 0; b < batch; b++) {
    if (flipped.has(b)) continue;
    let diff = 0, scale = 1;
    for (let i = b * per; i < (b + 1) * per; i++) {
      diff = Math.max(diff, Math.abs(fast[i] - ref.logits[i]));
      scale = Math.max(scale, Math.abs(ref.logits[i]));
    }
    assert.ok(diff <= LOGIT_TOLERANCE * scale, `${what} image ${b}: logit difference ${diff} (largest logit ${scale})`);
  }
}

const multi = buildResNet({ inputShape: [12, 12, 1], blocks: 2, seed: 3 });
const mixed = buildResNet({ inputShape: [10, 10, 2], blocks: 1, mode: 'mixed', perChannel: false, bits: [4, 3, 2], seed: 4 });

/** Covers the remaining ops: avgpool (same/valid), flatten, quantized dense with bias, standalone BN and ReLU, odd strides. */
function oddModel(): Model {
  const rand = rng(5);
  const bits = [8, 5, 2];
  const int = (n: number, k: number) => ({
    kind: 'int' as const, bits: 8, values: Int8Array.from({ length: n * k }, () => Math.floor(rand() * 120) - 60),
    scale: Float32Array.from({ length: n }, () => 0.01 + 0.01 * rand()), actScales: new Float32Array(bits.length).fill(1),
  });
  const bn = (name: string, input: string, c: number, layer?: string): Layer => ({
    name, op: 'batchnorm', inputs: [input], channels: c, epsilon: 1e-3,
    select: layer ? { kind: 'per-bit', layer } : { kind: 'single' },
    params: Float32Array.from({ length: (layer ? bits.length : 1) * 4 * c }, (_, i) => (Math.floor(i / c) % 4 === 3 ? 1 + rand() : rand() - 0.3)),
  });
  const layers: Layer[] = [
    { name: 'c0', op: 'conv2d', inputs: ['input'], kernel: [3, 2], strides: [2, 1], padding: 'same', inChannels: 3, outChannels: 6, weights: { kind: 'float', values: Float32Array.from({ length: 6 * 18 }, () => rand() - 0.5) } },
    { name: 'r0', op: 'relu', inputs: ['c0'] },
    { name: 'c1', op: 'conv2d', inputs: ['r0'], kernel: [2, 3], strides: [1, 2], padding: 'valid', inChannels: 6, outChannels: 5, weights: int(5, 36), bias: Float32Array.from({ length: 5 }, () => rand() - 0.5) },
    { name: 'p1', op: 'avgpool', inputs: ['c1'], pool: [3, 3], strides: [2, 2], padding: 'same' },
    bn('b1', 'p1', 5, 'c1'),
    { name: 'r1', op: 'relu', inputs: ['b1'] },
    { name: 'c2', op: 'conv2d', inputs: ['r1'], kernel: [1, 1], strides: [1, 1], padding: 'same', inChannels: 5, outChannels: 7, weights: int(7, 5) },
    { name: 'r2', op: 'relu', inputs: ['c2'] },
    { name: 'p2', op: 'avgpool', inputs: ['r2'], pool: [2, 2], strides: [1, 1], padding: 'valid' },
    { name: 'f', op: 'flatten', inputs: ['p2'] },
    { name: 'd1', op: 'dense', inputs: ['f'], inFeatures: 7, outFeatures: 9, weights: int(9, 7), bias: Float32Array.from({ length: 9 }, () => rand()) },
    bn('b2', 'd1', 9),
    { name: 'r3', op: 'relu', inputs: ['b2'] },
    { name: 'd2', op: 'dense', inputs: ['r3'], inFeatures: 9, outFeatures: 4, weights: int(4, 9) },
    { name: 'out', op: 'dense', inputs: ['d2'], inFeatures: 4, outFeatures: 3, weights: { kind: 'float', values: Float32Array.from({ length: 12 }, () => rand() - 0.5) } },
  ];
  // Shapes: 9×7×3 → c0 5×7×6 → c1 4×3×5 → p1 2×2×5 → c2 2×2×7 → p2 1×1×7 → 7 features.
  const model: Model = { bits, mode: 'multi', inputShape: [9, 7, 3], layers, subnets: [{ name: 'mix', bits: [2, 8, 5, 8], budget: {} }] };
  calibrate(model, randomImages([9, 7, 3], 4, 6), 4);
  return model;
}
const odd = oddModel();

for (const backend of BACKENDS) {
  const cases: [string, Model, PrecisionSpec[]][] = [
    ['multi ResNet', multi, [...multi.bits, ...multi.subnets!.map((s) => s.name)]],
    ['mixed ResNet with TBN, per-tensor scales', mixed, [...mixed.bits, ...mixed.subnets!.map((s) => s.name)]],
    ['pooling/dense/odd strides', odd, [...odd.bits, 'mix']],
  ];
  for (const [name, model, specs] of cases) {
    test(`${backend.name}: ${name}: fast = reference (codes, logits) at batch 1 and batch 5`, async () => {
      const rt = new Runtime(model, await backend.create());
      for (const batch of [1, 5]) {
        const images = randomImages(model.inputShape, batch, 100 + batch);
        for (const spec of specs) compare(model, rt, spec, images, batch);
      }
    });
  }

  test(`${backend.name}: batched run equals image-by-image runs`, async () => {
    const rt = new Runtime(multi, await backend.create());
    rt.setPrecision(4);
    const images = randomImages(multi.inputShape, 3, 7);
    const all = rt.run(images, 3);
    const per = images.length / 3;
    for (let b = 0; b < 3; b++) {
      const one = rt.run(images.subarray(b * per, (b + 1) * per), 1);
      assert.equal(Array.from(all.subarray(b * one.length, (b + 1) * one.length)), Array.from(one));
    }
  });

  test(`${backend.name}: residual adds and next-layer quantization fused into the GEMM epilogue give the same logits bit for bit`, async () => {
    for (const model of [multi, mixed]) {
      const fusedRt = new Runtime(model, await backend.create());
      const plainRt = new Runtime(model, await backend.create(), model.bits[0], { fuseResidual: false, fuseQuantize: false });
      const residualOnlyRt = new Runtime(model, await backend.create(), model.bits[0], { fuseQuantize: false });
      for (const batch of [1, 4]) {
        const images = randomImages(model.inputShape, batch, 40 + batch);
        for (const spec of [...model.bits, ...model.subnets!.map((s) => s.name)]) {
          fusedRt.setPrecision(spec);
          plainRt.setPrecision(spec);
          residualOnlyRt.setPrecision(spec);
          const fused = Array.from(fusedRt.run(images, batch));
          assert.equal(fused, Array.from(plainRt.run(images, batch)), `${String(spec)} batch ${batch}`);
          assert.equal(fused, Array.from(residualOnlyRt.run(images, batch)), `${String(spec)} batch ${batch}, residual fused only`);
        }
      }
      // a residual block's output feeds the next block's first conv and the next add: the conv's codes come from the epilogue
      const fusedCount = await quantizeCalls(model, {}), separateCount = await quantizeCalls(model, { fuseQuantize: false });
      assert.ok(fusedCount < separateCount, `quantize calls: fused ${fusedCount}, separate ${separateCount}`);
    }
  });

  // ts-scalar itself is checked against the reference above; compared with itself this would prove nothing
  if (backend.name !== 'ts-scalar') test(`${backend.name}: same logits bit for bit as the ts-scalar backend (integer parts exact, same float32 epilogue order)`, async () => {
    const rt = new Runtime(multi, await backend.create());
    const ts = new Runtime(multi, createTsBackend());
    const images = randomImages(multi.inputShape, 3, 9);
    for (const spec of multi.bits) {
      rt.setPrecision(spec);
      ts.setPrecision(spec);
      assert.equal(Array.from(rt.run(images, 3)), Array.from(ts.run(images, 3)), `w${spec}a${spec}`);
    }
  });

  test(`${backend.name}: switching caches weights per (layer, bit) and reports memory`, async () => {
    const rt = new Runtime(multi, await backend.create());
    const layers = rt.quantizedLayerNames.length;
    assert.is(rt.setPrecision(8).derived, 0, 'the initial precision is already derived');
    assert.is(rt.setPrecision(2).derived, layers);
    assert.is(rt.setPrecision(8).derived, 0);
    const m = rt.memory();
    assert.ok(m.cachedBytes > m.activeBytes && m.activeBytes > 0);
    const cycle = rt.setPrecision(multi.subnets![0].name);
    assert.is(cycle.derived, multi.subnets![0].bits.filter((b) => b !== 8 && b !== 2).length);
    rt.clearCache();
    assert.is(rt.memory().cachedBytes, rt.memory().activeBytes);
  });
}

test.run();
