// Model graphs: the shapes of the paper's ResNets, quantized layers only after a ReLU, first and
// last layers float, and an untrained export that the format's writer and reader accept.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { layerCosts, readModel, writeModel } from '@bitswitch/format';
import { buildModel, quantizedNodes, MODEL_NAMES } from '../src/nn/models.ts';
import { Network } from '../src/nn/network.ts';
import { exportModel } from '../src/io/export.ts';
import { Rng } from '../src/math/rng.ts';

await tf.setBackend('cpu');

for (const name of MODEL_NAMES) {
  for (const shape of [[28, 28, 1], [32, 32, 3]] as [number, number, number][]) {
    test(`${name} ${shape.join('×')}: quantized layers read non-negative (post-ReLU) values; first conv and last dense are float`, () => {
      const spec = buildModel(name, shape, 10);
      const byName = new Map(spec.nodes.map((n) => [n.name, n]));
      // non-negative: a ReLU, or a pool/flatten of something non-negative
      const nonNegative = (name: string): boolean => {
        const n = byName.get(name);
        if (!n) return false;
        if (n.op === 'relu') return true;
        return (n.op === 'globalavgpool' || n.op === 'avgpool' || n.op === 'flatten') && nonNegative(n.inputs[0]);
      };
      for (const q of quantizedNodes(spec)) for (const i of q.inputs) assert.ok(nonNegative(i), `${q.name} reads ${i}`);
      const linear = spec.nodes.filter((n) => n.op === 'conv2d' || n.op === 'dense') as { quantized: boolean; name: string }[];
      assert.not.ok(linear[0].quantized);
      assert.not.ok(linear[linear.length - 1].quantized);
      assert.ok(linear.slice(1, -1).every((n) => n.quantized));
    });
  }
}

test('ResNet-20 has 19 convs + 2 projection shortcuts + 1 dense, ~0.27M parameters; ResNet-8 7 convs + 2 + 1', async () => {
  const count = async (name: string) => {
    const net = new Network(buildModel(name, [32, 32, 3], 10), { bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(1));
    const model = await exportModel(net);
    net.dispose();
    return layerCosts(model);
  };
  const r20 = await count('resnet20');
  assert.is(r20.filter((c) => c.op === 'conv2d').length, 21);
  const params = r20.reduce((a, c) => a + c.params, 0);
  assert.ok(params > 260_000 && params < 280_000, `params ${params}`);
  assert.is((await count('resnet8')).filter((c) => c.op === 'conv2d').length, 9);
});

test('an untrained export passes the format writer and reader; per-bit BN keyed by the conv it follows, the stem BN single', async () => {
  const net = new Network(buildModel('resnet8', [28, 28, 1], 10), { bits: [4, 3, 2], quantizer: 'double-rounding', perChannel: true }, new Rng(2));
  const back = readModel(writeModel(await exportModel(net, { note: 'untrained' })));
  net.dispose();
  assert.equal(back.bits, [4, 3, 2]);
  const bns = back.layers.filter((l) => l.op === 'batchnorm');
  assert.equal(bns[0].op === 'batchnorm' && bns[0].select, { kind: 'single' });
  for (const bn of bns.slice(1)) {
    assert.ok(bn.op === 'batchnorm' && bn.select.kind === 'per-bit');
    assert.is(bn.op === 'batchnorm' && bn.params.length, 3 * 4 * (bn.op === 'batchnorm' ? bn.channels : 0));
  }
  const conv = back.layers.find((l) => l.name === 's2b1_a_conv');
  assert.ok(conv && conv.op === 'conv2d' && conv.weights.kind === 'int' && conv.weights.bits === 4 && conv.weights.scale.length === 32);
});

test.run();
