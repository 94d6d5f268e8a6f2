// Gradients of the whole network against central finite differences: every parameter at float32,
// and, with the quantizers in the graph, the parameters downstream of the last quantizer (the
// loss is smooth there, so the STE does not enter). The quantizers' own STE gradients are checked
// against the closed forms of eq. 13–14 in quantizers.test.ts.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { smallCnn } from '../src/nn/models.ts';
import { Network, type BitChoice } from '../src/nn/network.ts';
import { Rng } from '../src/math/rng.ts';

await tf.setBackend('cpu');

const spec = smallCnn([6, 6, 2], 3, { channels: [3, 4, 4], hidden: 4 });
const rng = new Rng(11);
const x = tf.tensor4d(Float32Array.from({ length: 5 * 6 * 6 * 2 }, () => rng.normal()), [5, 6, 6, 2]);
const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1, 0], 'int32'), 3);

function setup(bits: BitChoice) {
  const net = new Network(spec, { bits: [8, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(3));
  // give BN sets distinct, non-trivial values so their gradients are exercised
  for (const [n, v] of net.vars) if (n.includes('/gamma@') || n.includes('/beta@')) v.assign(tf.tensor(Float32Array.from({ length: v.size }, () => (n.includes('gamma') ? 1 : 0) + 0.3 * rng.normal())));
  const loss = () => tf.tidy(() => tf.losses.softmaxCrossEntropy(y, net.forward(x, bits, true).logits) as tf.Scalar);
  return { net, loss };
}

function checkFd(net: Network, loss: () => tf.Scalar, names: string[], perVar: number) {
  const { grads } = tf.variableGrads(loss, names.map((n) => net.v(n)));
  let checked = 0;
  for (const name of names) {
    const v = net.v(name);
    const g = grads[v.name].dataSync();
    const base = v.dataSync().slice();
    for (let t = 0; t < perVar; t++) {
      const i = rng.int(v.size);
      const eps = 2e-3 * Math.max(0.5, Math.abs(base[i])); // small: ReLU kinks bend the loss at larger steps
      const at = (d: number) => {
        const arr = base.slice();
        arr[i] += d;
        v.assign(tf.tensor(arr, v.shape));
        return loss().dataSync()[0];
      };
      const fd = (at(eps) - at(-eps)) / (2 * eps);
      v.assign(tf.tensor(base, v.shape));
      assert.ok(Math.abs(fd - g[i]) <= 2e-3 + 5e-2 * Math.abs(fd), `${name}[${i}]: autodiff ${g[i]} vs finite difference ${fd}`);
      checked++;
    }
  }
  return checked;
}

test('float32: every parameter (conv, dense, per-bit and single BN) matches finite differences', () => {
  const { net, loss } = setup(null);
  const names = [...net.vars.keys()].filter((n) => net.kinds.get(n) === 'weight' && (!n.includes('@') || n.endsWith('@fp') || n.endsWith('@single')));
  assert.ok(names.length >= 10);
  assert.ok(checkFd(net, loss, names, 3) >= 30);
});

for (const bits of [4, 2, [8, 2, 4]] as BitChoice[]) {
  test(`quantized at ${JSON.stringify(bits)}: parameters after the last quantizer match finite differences`, () => {
    const { net, loss } = setup(bits);
    const key = typeof bits === 'number' ? bits : (bits as number[])[2];
    checkFd(net, loss, ['fc/kernel', 'fc/bias', `fc1_bn/gamma@b${key}`, `fc1_bn/beta@b${key}`], 4);
  });
}

test('quantized: gradients reach only the parameter sets of the bit trained (per-bit BN and activation scales)', () => {
  const { net, loss } = setup(4);
  const { grads } = tf.variableGrads(loss, net.trainable());
  const got = new Set(Object.keys(grads).map((k) => net.nameOf(k)));
  assert.ok(got.has('l1_bn/gamma@b4') && got.has('l1_conv/ascale@4') && got.has('l1_conv/wscale'));
  assert.not.ok(got.has('l1_bn/gamma@b8') || got.has('l1_conv/ascale@8') || got.has('l1_bn/gamma@fp'));
});

test.run();
