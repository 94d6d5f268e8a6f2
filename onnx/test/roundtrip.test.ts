// import → bitswitch file → runtime, and → export → onnxruntime, on the committed MNIST CNN as a
// float ONNX model. Calibration: 64 MNIST test images from index 5000; evaluation: the first 200.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readModel, writeModel, type Model } from '@bitswitch/format';
import { readModelFile } from '@bitswitch/format/node';
import { argmax, createRuntime, type Runtime } from '@bitswitch/runtime';
import { exportOnnx, importOnnx, onnx } from '../src/index.ts';
import { argmaxAgreement, logitStep, maxDiff, mnistCnnOnnx, mnistTest, ortRun, randomCnnOnnx, variedImages } from './fixtures.ts';

const SHAPE = [28, 28, 1];
const N = 200;
const source = mnistCnnOnnx();
const { images, labels } = mnistTest(N);
let model: Model;
let rt: Runtime;
let floatLogits: Float32Array;

test.before(async () => {
  // through the file, as `bitswitch import` writes it
  model = readModel(writeModel(importOnnx(source, { bits: [8, 6, 4, 2], calibration: mnistTest(64, 5000).images, file: 'mnist-cnn.onnx' })));
  model.subnets = [{ name: 'mixed-demo', bits: [8, 4, 2], budget: {} }];
  rt = await createRuntime(model, { threads: 1 });
  floatLogits = await ortRun(source, images, SHAPE, N);
});
test.after(() => rt.dispose());

test('import folds BatchNorm, quantizes the conv/dense layers that read a ReLU, keeps the first and last float', () => {
  const kinds = model.layers.filter((l) => l.op === 'conv2d' || l.op === 'dense').map((l) => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind);
  assert.equal(kinds, ['float', 'int', 'int', 'int', 'float']);
  assert.not.ok(model.layers.some((l) => l.op === 'batchnorm'));
  for (const l of model.layers) {
    if ((l.op !== 'conv2d' && l.op !== 'dense') || l.weights.kind !== 'int') continue;
    const w = l.weights;
    const k = w.values.length / w.scale.length;
    // per-channel absmax: every row reaches ±127 (eq. 1 of its largest weight)
    for (let n = 0; n < w.scale.length; n++) {
      let m = 0;
      for (let j = 0; j < k; j++) m = Math.max(m, Math.abs(w.values[n * k + j]));
      assert.is(m, 127, `${l.name} row ${n}`);
    }
    // lower bits clip harder: s_b grows faster than 2^(8−b)
    for (let i = 1; i < 4; i++) assert.ok(w.actScales[i] > w.actScales[i - 1], `${l.name}.actScales ${w.actScales}`);
  }
});

test('onnxruntime runs the exported QDQ model as the bitswitch runtime does, at every bit, a bit list and a SubNet', async () => {
  for (const p of [8, 6, 4, 2, [8, 4, 2], 'mixed-demo'] as const) {
    const e = exportOnnx(model, p as number | number[] | string);
    rt.setPrecision(p as number);
    const ours = rt.run(images, N);
    const ort = await ortRun(e.bytes, images, SHAPE, N);
    const last = e.bits[e.bits.length - 1];
    const { diff } = maxDiff(ours, ort);
    assert.is(argmaxAgreement(ours, ort, N), 1, `${e.label}: argmax`);
    assert.ok(diff <= logitStep(model, last), `${e.label}: max |Δlogit| ${diff} > one step ${logitStep(model, last)}`);
  }
});

test('a trainer-made file (per-bit BatchNorm, global pooling) exports as the runtime runs it', async () => {
  const trained = readModelFile(new URL('../../runtime/test/fixtures/mnist-small-cnn.bsw', import.meta.url).pathname);
  const rt2 = await createRuntime(trained, { threads: 1 });
  try {
    for (const b of trained.bits) {
      rt2.setPrecision(b);
      const ours = rt2.run(images, N);
      const ort = await ortRun(exportOnnx(trained, b).bytes, images, SHAPE, N);
      assert.is(argmaxAgreement(ours, ort, N), 1, `w${b}: argmax`);
      assert.ok(maxDiff(ours, ort).diff <= logitStep(trained, b), `w${b}: max |Δlogit| ${maxDiff(ours, ort).diff} > one step ${logitStep(trained, b)}`);
    }
  } finally {
    rt2.dispose();
  }
});

test('a PyTorch-style CNN (widened stride-2 kernel, residual Add, pools, biases) imports and exports as the runtime runs it', async () => {
  const rand = randomCnnOnnx(4);
  const x = variedImages([12, 12, 3], 64, 9);
  const m = readModel(writeModel(importOnnx(rand, { bits: [8, 5, 3], calibration: variedImages([12, 12, 3], 32, 8) })));
  const kinds = m.layers.flatMap((l) => (l.op === 'conv2d' || l.op === 'dense' ? [`${l.op}:${l.weights.kind}`] : []));
  assert.equal(kinds, ['conv2d:float', 'conv2d:int', 'conv2d:int', 'conv2d:int', 'conv2d:int', 'dense:int', 'dense:float']);
  assert.equal(m.metadata?.widenedKernels, { conv_11: [3, 3] });
  const rt3 = await createRuntime(m, { threads: 1 });
  try {
    for (const b of m.bits) {
      rt3.setPrecision(b);
      const ours = rt3.run(x, 64);
      assert.ok(new Set(argmax(ours, 64)).size >= 3, `w${b}: the random model tells images apart`);
      const ort = await ortRun(exportOnnx(m, b).bytes, x, [12, 12, 3], 64);
      assert.is(argmaxAgreement(ours, ort, 64), 1, `w${b}: argmax`);
      assert.ok(maxDiff(ours, ort).diff <= logitStep(m, b), `w${b}: max |Δlogit| ${maxDiff(ours, ort).diff} > one step ${logitStep(m, b)}`);
    }
  } finally {
    rt3.dispose();
  }
});

test('a float model round-trips import → export → onnxruntime within the stated tolerances', async () => {
  // bit: [least argmax agreement with the float model, largest |Δlogit| / logit range]
  const tolerance: Record<number, [number, number]> = { 8: [0.99, 0.02], 6: [0.99, 0.1], 4: [0.98, 0.2], 2: [0.6, 1] };
  const { scale } = maxDiff(floatLogits, floatLogits);
  for (const b of [8, 6, 4, 2]) {
    const ort = await ortRun(exportOnnx(model, b).bytes, images, SHAPE, N);
    const agree = argmaxAgreement(floatLogits, ort, N);
    const { diff } = maxDiff(floatLogits, ort);
    assert.ok(agree >= tolerance[b][0], `w${b}: argmax agreement ${agree}`);
    assert.ok(diff <= tolerance[b][1] * scale, `w${b}: max |Δlogit| ${diff} of range ${scale}`);
  }
  let right = 0;
  const ort8 = await ortRun(exportOnnx(model, 8).bytes, images, SHAPE, N);
  for (let i = 0; i < N; i++) right += Number(ort8.subarray(i * 10, i * 10 + 10).indexOf(Math.max(...ort8.subarray(i * 10, i * 10 + 10))) === labels[i]);
  assert.ok(right / N >= 0.98, `w8a8 accuracy ${right / N}`);
});

test('the exported graph is QDQ: int8 weights, uint8 activations, a Clip below 8 bits, opset 13', () => {
  const m = onnx.ModelProto.decode(exportOnnx(model, 4).bytes);
  const ops = m.graph!.node!.map((n) => n.opType);
  assert.is(Number(String(m.opsetImport![0].version)), 13);
  assert.is(ops.filter((o) => o === 'QuantizeLinear').length, 3);
  assert.is(ops.filter((o) => o === 'Clip').length, 3);
  assert.is(ops.filter((o) => o === 'DequantizeLinear').length, 6);
  assert.is(onnx.ModelProto.decode(exportOnnx(model, 8).bytes).graph!.node!.filter((n) => n.opType === 'Clip').length, 0);
  const w = m.graph!.initializer!.filter((t) => t.name!.endsWith('/W_q'));
  assert.ok(w.length === 3 && w.every((t) => t.dataType === onnx.TensorProto.DataType.INT8));
  // 4-bit codes of a shifted 8-bit tensor stay in [-8, 7]
  for (const t of w) for (const v of new Int8Array(t.rawData!.buffer, t.rawData!.byteOffset, t.rawData!.length)) assert.ok(v >= -8 && v <= 7);
});

test.run();
