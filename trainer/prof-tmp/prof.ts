import * as tf from '@tensorflow/tfjs';
import { initBackend, Rng } from '@bitswitch/trainer';
import { Network } from '../src/nn/network.ts';
import { buildModel } from '../src/nn/models.ts';
const model = process.argv[2] ?? 'resnet8';
const bit = process.argv[3] === 'fp' ? null : Number(process.argv[3] ?? 4);
const B = Number(process.argv[4] ?? 64);
console.log((await initBackend('wasm')).name);
const net = new Network(buildModel(model, [28, 28, 1]), { bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(1));
const x = tf.randomNormal([B, 28, 28, 1]) as tf.Tensor4D;
const y = tf.oneHot(tf.tensor1d(Array.from({ length: B }, (_, i) => i % 10), 'int32'), 10);
const vars = net.trainable();
const step = () => tf.tidy(() => {
  const { value, grads } = tf.variableGrads(() => tf.losses.softmaxCrossEntropy(y, net.forward(x, bit, true).logits) as tf.Scalar, vars);
  return Object.values(grads).map((g) => g.dataSync()[0]);
});
for (let i = 0; i < 2; i++) step();
let t0 = performance.now();
for (let i = 0; i < 3; i++) step();
console.log(`step ${((performance.now() - t0) / 3).toFixed(1)} ms`);
const prof = await tf.profile(() => { step(); });
const by = new Map<string, { ms: number; n: number }>();
let total = 0;
for (const k of prof.kernels) {
  const ms = (await k.kernelTimeMs) as number;
  const key = k.name + ' ' + JSON.stringify(k.inputShapes?.[0] ?? []);
  const e = by.get(k.name) ?? { ms: 0, n: 0 }; e.ms += ms; e.n++; by.set(k.name, e); total += ms;
}
console.log(`kernels ${prof.kernels.length}, sum ${total.toFixed(1)} ms`);
for (const [k, v] of [...by].sort((a, b) => b[1].ms - a[1].ms).slice(0, 30)) console.log(k.padEnd(28), v.ms.toFixed(1).padStart(8), String(v.n).padStart(5));
