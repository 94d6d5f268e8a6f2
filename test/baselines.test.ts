// The peers bench:infer measures the runtime against: each builds the same (folded) network and
// must reproduce the float reference (f32 engines within 1e-5 relative) or the int8 model's own
// arithmetic (int8 engines, up to requantization rounding), on a few images, in one process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { buildResNet20, randomImages } from '@bitswitch/runtime';
import {
  argmaxAgreement, calibrateInt8, floatReference, foldNetwork, foldedForward, liteRtEngine, maxRelativeError,
  onnxFloat32, onnxInt8Qdq, ortEngine, startLiteRt, startTfjsWasm, tfjsEngine, tfliteInt8,
} from '@bitswitch/bench';

const model = buildResNet20({ seed: 3 });
const net = foldNetwork(model);
const B = 4;
const images = randomImages(model.inputShape, B, 21);
const reference = floatReference(model, images, B);
const classes = reference.length / B;
const cal = calibrateInt8(net, randomImages(model.inputShape, 16, 22), 16);
const simulation = foldedForward(net, images, B, cal).get(net.output)!;

test('folding BatchNorm and ReLU keeps the float network', () => {
  assert.is(net.macsPerImage, 31_021_952);
  const err = maxRelativeError(foldedForward(net, images, B).get(net.output)!, reference);
  assert.ok(err < 2e-6, `folded (float32 weights) vs unfolded: ${err}`);
  // The int8 simulation is a different network, but not a wildly different one.
  assert.ok(maxRelativeError(simulation, reference) < 0.3, 'int8 simulation near float');
});

test('tfjs-wasm fused f32 matches the float reference', async () => {
  await startTfjsWasm(1);
  const e = tfjsEngine(net);
  const err = maxRelativeError(await e.run(images, B), reference);
  e.dispose();
  assert.ok(err <= 1e-5, `tfjs: ${err}`);
});

test('onnxruntime-web f32 matches the float reference', async () => {
  const e = await ortEngine(net, onnxFloat32(net), 'ort f32', 1);
  const err = maxRelativeError(await e.run(images, B), reference);
  assert.ok(err <= 1e-5, `ort f32: ${err}`);
});

/** int8 engines: near the int8 simulation, same top class on most images; prints the agreement with float. */
function checkInt8(name: string, y: Float32Array): void {
  assert.is(y.length, B * classes);
  const err = maxRelativeError(y, simulation);
  const agreeSim = argmaxAgreement(y, simulation, classes);
  console.log(`${name}: max rel. error ${err.toFixed(4)} to the int8 simulation, argmax agreement ${agreeSim * 100}% with it, ${argmaxAgreement(y, reference, classes) * 100}% with float`);
  assert.ok(err < 0.08, `${name}: ${err} from the int8 simulation`);
  assert.ok(agreeSim >= 0.75, `${name}: argmax agreement ${agreeSim}`);
}

test('onnxruntime-web int8 QDQ reproduces the int8 model', async () => {
  const e = await ortEngine(net, onnxInt8Qdq(net, cal), 'ort int8', 1);
  checkInt8('onnxruntime-web int8', await e.run(images, B));
});

test('LiteRT.js int8 reproduces the int8 model', async () => {
  try {
    await startLiteRt(1);
  } catch (e) {
    console.log(`skipped: LiteRT.js does not load here: ${(e as Error).message}`);
    return;
  }
  const e = await liteRtEngine('litert', tfliteInt8(net, cal, B), 1);
  checkInt8('LiteRT.js int8', await e.run(images, B));
  e.dispose();
});

test.run();
