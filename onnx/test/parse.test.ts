import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { referenceForward } from '@bitswitch/runtime';
import { floatModel, foldBatchNorms, parseOnnx } from '../src/index.ts';
import { maxDiff, mnistCnnOnnx, mnistTest, ortRun, randomCnnOnnx, variedImages } from './fixtures.ts';

// The parsed float model (run by the runtime's float64 reference) computes what onnxruntime
// computes on the original ONNX graph: layouts, padding, the flatten order and folded constants
// are right. Float32 vs float64 accumulation: relative error well under 1e-5 of the logit range.
const REL = 1e-5;

test('a tf2onnx-style MNIST CNN parses to the float model onnxruntime runs', async () => {
  const bytes = mnistCnnOnnx();
  const p = parseOnnx(bytes);
  assert.equal(p.inputShape, [28, 28, 1]);
  assert.equal(p.layers.map((l) => l.op).join(), 'conv2d,batchnorm,relu,conv2d,batchnorm,relu,conv2d,batchnorm,relu,flatten,dense,batchnorm,relu,dense');
  const { images, labels } = mnistTest(16);
  const ours = referenceForward(floatModel(p), 8, images, 16);
  const ort = await ortRun(bytes, images, [28, 28, 1], 16);
  const { diff, scale } = maxDiff(ort, ours);
  assert.ok(diff <= REL * scale, `max |Δ| ${diff} vs logit range ${scale}`);
  let right = 0;
  for (let b = 0; b < 16; b++) right += Number(ours.subarray(b * 10, b * 10 + 10).indexOf(Math.max(...ours.subarray(b * 10, b * 10 + 10))) === labels[b]);
  assert.ok(right >= 15, `${right}/16 test digits right`);
});

test('symmetric PyTorch pads on a stride-2 conv become a kernel widened with zeros, exactly', async () => {
  const bytes = randomCnnOnnx(3);
  const p = parseOnnx(bytes);
  assert.equal([...p.widened.values()], [[3, 3]]);
  const conv = p.layers.find((l) => l.op === 'conv2d' && l.strides[0] === 2);
  assert.equal(conv?.op === 'conv2d' && conv.kernel, [4, 4]);
  const x = variedImages([12, 12, 3], 8, 5);
  const ours = referenceForward(floatModel(p), 8, x, 8);
  const ort = await ortRun(bytes, x, [12, 12, 3], 8);
  const { diff, scale } = maxDiff(ort, ours);
  assert.ok(diff <= REL * scale, `max |Δ| ${diff} vs logit range ${scale}`);
});

test('folding BatchNorm into the conv/dense before it leaves the float model\'s logits unchanged', () => {
  for (const [bytes, shape] of [[mnistCnnOnnx(), [28, 28, 1]], [randomCnnOnnx(2), [12, 12, 3]]] as const) {
    const p = parseOnnx(bytes);
    const folded = { ...floatModel(p), layers: foldBatchNorms(p.layers) };
    assert.is(folded.layers.filter((l) => l.op === 'batchnorm').length, 0);
    const x = variedImages([...shape], 8, 11);
    const { diff, scale } = maxDiff(referenceForward(floatModel(p), 8, x, 8), referenceForward(folded, 8, x, 8));
    assert.ok(diff <= REL * scale, `max |Δ| ${diff} vs logit range ${scale}`);
  }
});

test.run();
