// Parity of the runtime with the trainer's fake-quant forward pass on the same model file and
// the same test images (the trainer's own loader `networkFromModel` and inputs `makeBatch`):
//  1. a trained model (runtime/test/fixtures, or BITSWITCH_TRAINED_MODEL): test-set accuracy at
//     every precision within 0.1 percentage points, prediction agreement, logit differences;
//  2. a random-weight ResNet-20: every quantized layer's activation codes and the logits.
// PARITY_IMAGES sets the number of test images of (1) (default 1000, as the trainer's demo recipe; the split has 10000).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { quantizeActivations, readModel, writeModel, type Model } from '@bitswitch/format';
import { Runtime, argmax, buildResNet20, createBackend, type PrecisionSpec } from '@bitswitch/runtime';
import { networkFromModel } from '@bitswitch/trainer/export';
import { logitsOf } from '@bitswitch/trainer/supernet-io';
import { loadDataset, makeBatch, NO_AUGMENT } from '@bitswitch/trainer/data';
import { Rng } from '@bitswitch/trainer/rng';
import { useBackend } from '@bitswitch/trainer/device';
import type { Network } from '@bitswitch/trainer/network';

const root = new URL('../', import.meta.url).pathname;
const trainedFile = process.env.BITSWITCH_TRAINED_MODEL ?? join(root, 'runtime/test/fixtures/mnist-small-cnn.bsw');
const IMAGES = Number(process.env.PARITY_IMAGES ?? 1000);
const CHUNK = 250;

interface Comparison { agree: number; maxDiff: number; meanDiff: number; maxLogit: number; accOurs: number; accTheirs: number }

/** Runtime vs trainer logits on `x` (labels y), in chunks. */
async function compare(rt: Runtime, net: Network, spec: PrecisionSpec, x: Float32Array, y: ArrayLike<number>, count: number): Promise<Comparison> {
  rt.setPrecision(spec);
  const bits = typeof spec === 'number' ? spec : rt.precision.bits;
  const per = x.length / count;
  let agree = 0, okOurs = 0, okTheirs = 0, maxDiff = 0, sumDiff = 0, maxLogit = 0;
  for (let start = 0; start < count; start += CHUNK) {
    const n = Math.min(CHUNK, count - start);
    const xs = x.subarray(start * per, (start + n) * per);
    const ours = rt.run(xs, n);
    const theirs = await logitsOf(net, xs, n, bits);
    const a = argmax(ours, n);
    const b = argmax(theirs, n);
    for (let i = 0; i < n; i++) {
      if (a[i] === b[i]) agree++;
      if (a[i] === y[start + i]) okOurs++;
      if (b[i] === y[start + i]) okTheirs++;
    }
    for (let i = 0; i < ours.length; i++) {
      const d = Math.abs(ours[i] - theirs[i]);
      maxDiff = Math.max(maxDiff, d);
      sumDiff += d;
      maxLogit = Math.max(maxLogit, Math.abs(theirs[i]));
    }
  }
  const classes = (rt.run(x.subarray(0, per), 1)).length;
  return { agree: agree / count, maxDiff, meanDiff: sumDiff / (count * classes), maxLogit, accOurs: okOurs / count, accTheirs: okTheirs / count };
}

/** The two tfjs functions this test needs, typed through the trainer's Network (test/ has no tfjs dependency). */
interface TfSubset {
  tensor4d(values: Float32Array, shape: [number, number, number, number]): Parameters<Network['forward']>[0];
  tidy<T>(fn: () => T): T;
}

const pct = (v: number, d = 2) => `${(100 * v).toFixed(d)} %`;

test('trained model: runtime accuracy = trainer accuracy (±0.1 pp) at every precision', async () => {
  const backend = await useBackend('wasm');
  const model = readModel(readFileSync(trainedFile));
  const dataset = String(model.metadata?.dataset ?? 'mnist');
  const ds = loadDataset(dataset);
  const count = Math.min(IMAGES, ds.test.count);
  const { x, y } = makeBatch(ds, ds.test, Array.from({ length: count }, (_, i) => i), NO_AUGMENT, new Rng(0));
  const net = networkFromModel(model);
  const rt = new Runtime(model, createBackend('kernels'));
  const specs: PrecisionSpec[] = [...model.bits, ...(model.subnets ?? []).map((s) => s.name)];
  console.log(`  ${trainedFile.replace(root, '')}: ${dataset}, first ${count} test images, trainer on ${backend.name}, runtime on ${rt.backend.name}`);
  for (const spec of specs) {
    const c = await compare(rt, net, spec, x, y, count);
    console.log(`  ${rt.precision.label}: accuracy runtime ${pct(c.accOurs)} trainer ${pct(c.accTheirs)}; predictions agree ${pct(c.agree)}; |Δlogit| max ${c.maxDiff.toExponential(2)} mean ${c.meanDiff.toExponential(2)} (max |logit| ${c.maxLogit.toFixed(2)})`);
    assert.ok(Math.abs(c.accOurs - c.accTheirs) <= 0.001 + 1e-12, `${rt.precision.label}: accuracy ${c.accOurs} vs trainer ${c.accTheirs}`);
    assert.ok(c.agree >= 0.995, `${rt.precision.label}: predictions agree on ${c.agree}`);
    assert.ok(c.accOurs > 0.5, `${rt.precision.label}: a trained model should beat chance clearly, got ${c.accOurs}`);
  }
});

test('random ResNet-20: activation codes and logits of runtime and trainer agree', async () => {
  await useBackend('wasm');
  const ds = loadDataset('mnist');
  const COUNT = 64;
  const images = makeBatch(ds, ds.test, Array.from({ length: COUNT }, (_, i) => i), NO_AUGMENT, new Rng(0)).x;
  const calibration = makeBatch(ds, ds.test, Array.from({ length: 16 }, (_, i) => 5000 + i), NO_AUGMENT, new Rng(0)).x;
  const model = buildResNet20({ seed: 11, calibrationData: calibration });
  const net = networkFromModel(readModel(writeModel(model)));
  const rt = new Runtime(model, createBackend('kernels'));
  // The trainer's own tfjs module (same file), so its Network accepts the tensor.
  const tf = (await import(pathToFileURL(createRequire(join(root, 'trainer/package.json')).resolve('@tensorflow/tfjs')).href)) as TfSubset;
  const x = tf.tensor4d(images, [COUNT, ...model.inputShape] as [number, number, number, number]);
  for (const spec of [...model.bits, model.subnets![0].name] as PrecisionSpec[]) {
    rt.setPrecision(spec);
    const bits = rt.precision.bits;
    const ourCodes = new Map<string, Uint8Array>();
    rt.codeHook = (layer, codes) => ourCodes.set(layer, codes.slice());
    const ours = rt.run(images, COUNT);
    rt.codeHook = undefined;
    // eq. 4 codes of every quantized layer's input in the trainer's forward (format reference rounding).
    let codes = 0, diffs = 0, firstDiffs = 1;
    const logits = tf.tidy(() => net.forward(x, typeof spec === 'number' ? spec : bits, false, (layer, t) => {
      const q = rt.quantizedLayerNames.indexOf(layer);
      const w = (model.layers.find((l) => l.name === layer) as Extract<Model['layers'][number], { op: 'conv2d' | 'dense' }>).weights;
      if (w.kind !== 'int') return;
      const theirs = quantizeActivations(t.dataSync() as Float32Array, w.actScales[model.bits.indexOf(bits[q])], bits[q]);
      const mine = ourCodes.get(layer)!;
      let d = 0;
      for (let i = 0; i < mine.length; i++) if (mine[i] !== theirs[i]) d++;
      if (q === 0) firstDiffs = d / mine.length;
      codes += mine.length;
      diffs += d;
    }).logits);
    const theirs = logits.dataSync() as Float32Array;
    logits.dispose();
    let maxDiff = 0, sum = 0, scale = 0;
    for (let i = 0; i < ours.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(ours[i] - theirs[i]));
      sum += Math.abs(ours[i] - theirs[i]);
      scale = Math.max(scale, Math.abs(theirs[i]));
    }
    const mean = sum / ours.length;
    const a = argmax(ours, COUNT);
    const b = argmax(theirs, COUNT);
    const agree = a.filter((v, i) => v === b[i]).length / COUNT;
    console.log(`  ${rt.precision.label}: codes differing ${pct(diffs / codes, 3)} (first layer ${pct(firstDiffs, 4)}); predictions agree ${pct(agree)} (${new Set(a).size} classes); |Δlogit| max ${maxDiff.toExponential(2)} mean ${mean.toExponential(2)} (max |logit| ${scale.toFixed(2)})`);
    // The trainer sums dequantized float32 products, the runtime integers: a value next to a
    // rounding boundary can land on the other side, and each such code spreads to later layers
    // (more at 8 bits, whose steps are finer). The first quantized layer sees only the float
    // stem's rounding. A wrong scale, bit or BatchNorm set changes most codes and moves logits
    // by O(max |logit|).
    assert.ok(firstDiffs <= 1e-4, `${rt.precision.label}: ${firstDiffs} of the first layer's codes differ`);
    assert.ok(diffs <= 0.05 * codes, `${rt.precision.label}: ${diffs} of ${codes} codes differ`);
    assert.ok(mean <= 0.01 * scale, `${rt.precision.label}: mean logit difference ${mean}`);
    // Random weights leave small margins between classes (the trained model above has larger ones).
    assert.ok(agree >= 0.95, `${rt.precision.label}: predictions agree on ${agree}`);
  }
  x.dispose();
});

test.run();
