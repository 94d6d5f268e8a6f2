import * as tf from '@tensorflow/tfjs';
import { initBackend, Rng } from '@bitswitch/trainer';
import { Network } from '../src/nn/network.ts';
import { buildModel } from '../src/nn/models.ts';
const kname = process.argv[2] ?? 'Conv2DBackpropInput';
await initBackend('wasm');
const net = new Network(buildModel('resnet20', [28, 28, 1]), { bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(1));
const B = 64;
const x = tf.randomNormal([B, 28, 28, 1]) as tf.Tensor4D;
const y = tf.oneHot(tf.tensor1d(Array.from({ length: B }, (_, i) => i % 10), 'int32'), 10);
const step = () => tf.tidy(() => {
  const { grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.forward(x, 4, true).logits) as tf.Scalar, net.trainable());
  return Object.values(grads).map((g) => g.dataSync()[0]);
});
step(); step();
const by = new Map<string, { ms: number; n: number }>();
for (let r = 0; r < 3; r++) {
  const prof = await tf.profile(() => { step(); });
  for (const k of prof.kernels) {
    if (k.name !== kname) continue;
    const key = JSON.stringify(k.inputShapes);
    const e = by.get(key) ?? { ms: 0, n: 0 }; e.ms += (await k.kernelTimeMs) as number; e.n++; by.set(key, e);
  }
}
for (const [k, v] of by) console.log(k.padEnd(50), (v.ms / v.n).toFixed(2).padStart(7), v.n);
