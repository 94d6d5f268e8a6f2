// Raw input (input.ts): 8-bit pixels and ImageData are normalised with the model file's INPT
// descriptor exactly as SPEC.md §7.4 writes it, in either recorded layout; float input is unchanged;
// a file without INPT refuses pixels by name.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readModel, writeModel, type InputDescriptor, type Model } from '@bitswitch/format';
import { buildResNet, rng } from '../src/testing.ts';
import { Runtime } from '../src/executor.ts';
import { createBackend } from '../src/backends.ts';
import { normalizeInput, type ImageDataLike } from '../src/index.ts';

const MNIST: Omit<InputDescriptor, 'height' | 'width' | 'channels'> = { layout: 'NHWC', dtype: 'uint8', range: [0, 255], mean: [0.1307], std: [0.3081] };

function modelWith(shape: [number, number, number], input?: Partial<InputDescriptor>): Model {
  const m = buildResNet({ inputShape: shape, blocks: 1, widths: [4, 8], calibrationImages: 2 });
  if (input) m.input = { ...MNIST, height: shape[0], width: shape[1], channels: shape[2], ...input } as InputDescriptor;
  return readModel(writeModel(m)); // through the file, as a user gets it
}

function pixels(n: number, seed: number): Uint8Array {
  const r = rng(seed);
  return Uint8Array.from({ length: n }, () => Math.floor(r() * 256));
}

/** §7.4 written out per element: ((p − lo)/(hi − lo) − mean[c]) / std[c], NHWC. */
function oracle(d: InputDescriptor, nhwc: ArrayLike<number>): Float32Array {
  return Float32Array.from(nhwc, (p, i) => ((p - d.range[0]) / (d.range[1] - d.range[0]) - d.mean[i % d.channels]) / d.std[i % d.channels]);
}

function grey(values: Uint8Array, w: number, h: number): ImageDataLike {
  const data = new Uint8ClampedArray(4 * w * h);
  values.forEach((v, p) => data.set([v, v, v, 255], 4 * p));
  return { width: w, height: h, data };
}

test('MNIST numbers from SPEC.md §7.4: pixel 0 → −0.42421…, pixel 255 → 2.82148…', () => {
  const x = normalizeInput({ ...MNIST, height: 1, width: 2, channels: 1 }, [0, 255]);
  assert.equal(Array.from(x), [Math.fround(-0.1307 / 0.3081), Math.fround((1 - 0.1307) / 0.3081)]);
  assert.ok(Math.abs(x[0] + 0.424213) < 1e-6 && Math.abs(x[1] - 2.821487) < 1e-6);
});

test('Uint8Array and Uint8ClampedArray pixels give the logits of the normalised float input (per-channel mean/std)', () => {
  const m = modelWith([6, 5, 3], { mean: [0.4, 0.5, 0.6], std: [0.2, 0.25, 0.3], range: [0, 255] });
  const rt = new Runtime(m, createBackend('kernels'), 4);
  const p = pixels(2 * 6 * 5 * 3, 1);
  const want = Array.from(rt.run(oracle(m.input!, p), 2));
  assert.equal(Array.from(rt.run(p, 2)), want);
  assert.equal(Array.from(rt.run(new Uint8ClampedArray(p), 2)), want);
  assert.equal(Array.from(rt.classify(p, 2)), Array.from(rt.classify(oracle(m.input!, p), 2)));
});

test('NCHW raw layout: one plane per channel is transposed to the graph\'s NHWC', () => {
  const m = modelWith([4, 3, 3], { layout: 'NCHW', mean: [0.1, 0.2, 0.3], std: [1, 2, 3] });
  const rt = new Runtime(m, createBackend('ts-scalar'), 8);
  const nhwc = pixels(2 * 4 * 3 * 3, 2);
  const nchw = new Uint8Array(nhwc.length);
  for (let b = 0; b < 2; b++) for (let p = 0; p < 12; p++) for (let c = 0; c < 3; c++) nchw[(b * 3 + c) * 12 + p] = nhwc[(b * 12 + p) * 3 + c];
  assert.equal(Array.from(rt.run(nchw, 2)), Array.from(rt.run(oracle({ ...m.input!, layout: 'NHWC' }, nhwc), 2)));
});

test('ImageData: grey RGBA equals the pixels; a batch of ImageData sets the batch; a wrong size is named', () => {
  const m = modelWith([8, 8, 1], {});
  const rt = new Runtime(m, createBackend('kernels'), 6);
  const a = pixels(64, 3), b = pixels(64, 4);
  const both = new Uint8Array([...a, ...b]);
  assert.equal(Array.from(rt.run(grey(a, 8, 8))), Array.from(rt.run(a)));
  assert.equal(Array.from(rt.run([grey(a, 8, 8), grey(b, 8, 8)])), Array.from(rt.run(both, 2)));
  assert.is(rt.classify([grey(a, 8, 8), grey(b, 8, 8)]).length, 2);
  // colour: luma (299 R + 587 G + 114 B) / 1000
  const colour: ImageDataLike = { width: 8, height: 8, data: new Uint8ClampedArray(256).map((_, i) => (i * 37) % 256) };
  const luma = Array.from({ length: 64 }, (_, p) => (299 * colour.data[4 * p] + 587 * colour.data[4 * p + 1] + 114 * colour.data[4 * p + 2]) / 1000);
  assert.equal(Array.from(rt.run(colour)), Array.from(rt.run(oracle(m.input!, luma))));
  assert.throws(() => rt.run(grey(a.subarray(0, 16), 4, 4)), /expected ImageData of 8×8 pixels \(the model's input\), got 4×4 — draw the image scaled to 8×8 first/);
  assert.throws(() => rt.run(a.subarray(0, 60)), /input\.length: expected batch 1 × NHWC \[8, 8, 1\] = 64 raw values, got 60/);
});

test('float input is the graph input as before; a file without INPT refuses pixels by name', () => {
  const plain = modelWith([8, 8, 1]);
  const rt = new Runtime(plain, createBackend('kernels'), 8);
  const p = pixels(64, 5);
  const x = Float32Array.from(p, (v) => v / 255);
  const described = new Runtime(modelWith([8, 8, 1], {}), createBackend('kernels'), 8);
  assert.equal(Array.from(rt.run(x)), Array.from(described.run(x)), 'float input ignores INPT');
  assert.throws(() => rt.run(p), /input: 8-bit pixels need the normalisation a model file records \(format 1\.2 INPT\), and this file has none — pass a Float32Array/);
  const floaty = new Runtime(modelWith([8, 8, 1], { dtype: 'float32', range: [-1, 1] }), createBackend('kernels'), 8);
  assert.throws(() => floaty.run(p), /this model takes float32 raw values in -1\.\.1 \(INPT\), got 8-bit pixels/);
});

test.run();
