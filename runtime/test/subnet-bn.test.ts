// A SubNet's own BatchNorm statistics (format 1.3, SPEC §7.2): chosen by name, the SubNet runs
// exactly as a model whose selected sets hold those statistics would; chosen as a bit list, the
// stored sets run unchanged. Fast executor and float reference alike, after a write and read.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readModel, writeModel, type BatchNormLayer, type Model } from '@bitswitch/format';
import { buildResNet, calibrate, randomImages, rng } from '../src/testing.ts';
import { Runtime } from '../src/executor.ts';
import { referenceForward } from '../src/reference.ts';
import { analyseGraph, batchNormSet } from '../src/graph.ts';
import { createTsBackend } from '../src/backend-ts.ts';
import { BACKENDS } from './backends.ts';

/** `model` with SubNet 'own' at `bits` carrying statistics for every BatchNorm, and its twin whose selected sets hold them instead. */
function withStats(model: Model, bits: number[], seed: number): { model: Model; twin: Model } {
  const rand = rng(seed);
  const graph = analyseGraph(model);
  const bitIndex = bits.map((b) => model.bits.indexOf(b));
  const bn: Record<string, Float32Array> = {};
  const twin: Model = { ...model, layers: model.layers.map((l) => (l.op === 'batchnorm' ? { ...l, params: l.params.slice() } : l)), subnets: [] };
  for (const l of twin.layers.filter((x): x is BatchNormLayer => x.op === 'batchnorm')) {
    const C = l.channels;
    const set = batchNormSet(l, graph.quantIndex, bitIndex, model.bits.length);
    // shift the stored statistics enough to change predictions
    const stats = Float32Array.from({ length: 2 * C }, (_, i) => (i < C ? l.params[set * 4 * C + 2 * C + i]! + 0.5 * (rand() - 0.5) : l.params[set * 4 * C + 3 * C + i - C]! * (0.5 + rand())));
    bn[l.name] = stats;
    l.params.set(stats, set * 4 * C + 2 * C);
  }
  const own = readModel(writeModel({ ...model, subnets: [...(model.subnets ?? []), { name: 'own', bits, budget: {}, bn }] }));
  return { model: own, twin };
}

const mixed = buildResNet({ inputShape: [10, 10, 2], blocks: 1, mode: 'mixed', perChannel: false, bits: [4, 3, 2], seed: 4 });
const multi = buildResNet({ inputShape: [12, 12, 1], blocks: 2, seed: 3 });
for (const m of [mixed, multi]) m.input = undefined;
const cases: [string, Model, number[]][] = [
  ['mixed ResNet with TBN', mixed, mixed.subnets![0]!.bits],
  ['multi ResNet', multi, multi.subnets![0]!.bits],
];

for (const [what, base, bits] of cases) {
  const { model, twin } = withStats(base, bits, 11);
  const images = randomImages(model.inputShape, 6, 21);

  test(`${what}: the reference runs SubNet 'own' by name as its twin runs the same bits; as a bit list it runs the stored sets`, () => {
    const byName = referenceForward(model, 'own', images, 6);
    assert.equal(Array.from(byName), Array.from(referenceForward(twin, bits, images, 6)));
    const asList = referenceForward(model, bits, images, 6);
    assert.equal(Array.from(asList), Array.from(referenceForward(base, bits, images, 6)));
    assert.not.equal(Array.from(byName), Array.from(asList), 'the statistics change the logits');
  });

  for (const backend of BACKENDS) {
    test(`${backend.name}: ${what}: SubNet 'own' by name = its twin, bit for bit; clearCache keeps it; switching back to the bit list restores the stored sets`, async () => {
      const rt = new Runtime(model, await backend.create());
      const tw = new Runtime(twin, await backend.create());
      tw.setPrecision(bits);
      const want = Array.from(tw.run(images, 6));
      assert.is(rt.setPrecision('own').label, 'own');
      assert.equal(Array.from(rt.run(images, 6)), want);
      rt.clearCache();
      assert.is(rt.precision.label, 'own', 'clearCache keeps the SubNet chosen by name');
      assert.equal(Array.from(rt.run(images, 6)), want, 'and its statistics');
      rt.setPrecision(bits);
      const plain = new Runtime(base, createTsBackend());
      plain.setPrecision(bits);
      assert.equal(Array.from(rt.run(images, 6)), Array.from(plain.run(images, 6)));
    });
  }
}

test('a standalone BatchNorm (not fused into a GEMM) uses the SubNet statistics too', async () => {
  // per-bit BN after an average pool cannot fold into the conv before it
  const rand = rng(8);
  const bitsList = [8, 4];
  const model: Model = {
    bits: bitsList, mode: 'multi', inputShape: [6, 6, 2],
    layers: [
      { name: 'c0', op: 'conv2d', inputs: ['input'], kernel: [3, 3], strides: [1, 1], padding: 'same', inChannels: 2, outChannels: 3, weights: { kind: 'float', values: Float32Array.from({ length: 54 }, () => rand() - 0.5) } },
      { name: 'r0', op: 'relu', inputs: ['c0'] },
      { name: 'c1', op: 'conv2d', inputs: ['r0'], kernel: [3, 3], strides: [1, 1], padding: 'same', inChannels: 3, outChannels: 4,
        weights: { kind: 'int', bits: 8, values: Int8Array.from({ length: 108 }, () => Math.floor(rand() * 200) - 100), scale: Float32Array.of(0.01), actScales: Float32Array.of(0.02, 0.2) } },
      { name: 'p1', op: 'avgpool', inputs: ['c1'], pool: [2, 2], strides: [2, 2], padding: 'valid' },
      { name: 'b1', op: 'batchnorm', inputs: ['p1'], channels: 4, epsilon: 1e-3, select: { kind: 'per-bit', layer: 'c1' },
        params: Float32Array.from({ length: 2 * 16 }, (_, i) => (Math.floor(i / 4) % 4 === 3 ? 1 + rand() : rand() - 0.3)) },
      { name: 'r1', op: 'relu', inputs: ['b1'] },
      { name: 'g', op: 'globalavgpool', inputs: ['r1'] },
      { name: 'out', op: 'dense', inputs: ['g'], inFeatures: 4, outFeatures: 3, weights: { kind: 'float', values: Float32Array.from({ length: 12 }, () => rand() - 0.5) } },
    ],
  };
  calibrate(model, randomImages([6, 6, 2], 4, 3), 4);
  const { model: own, twin } = withStats(model, [4], 12);
  const images = randomImages([6, 6, 2], 3, 5);
  const rt = new Runtime(own, createTsBackend());
  const tw = new Runtime(twin, createTsBackend());
  rt.setPrecision('own');
  tw.setPrecision([4]);
  assert.equal(Array.from(rt.run(images, 3)), Array.from(tw.run(images, 3)));
  rt.setPrecision([4]);
  assert.not.equal(Array.from(rt.run(images, 3)), Array.from(tw.run(images, 3)));
});

test.run();
