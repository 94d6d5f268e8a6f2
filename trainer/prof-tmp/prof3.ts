import * as tf from '@tensorflow/tfjs';
import { initBackend, Rng } from '@bitswitch/trainer';
import { Network } from '../src/nn/network.ts';
import { buildModel } from '../src/nn/models.ts';
await initBackend('wasm');
const net = new Network(buildModel('resnet20', [28, 28, 1]), { bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(1));
const x = tf.randomNormal([250, 28, 28, 1]) as tf.Tensor4D;
const F = process.env.F === "1"; const run = (bits: number | null) => tf.tidy(() => net.forward(x, bits, false, undefined, { fused: F }).logits.argMax(1).dataSync());
run(4); run(null);
for (const b of [null, 4]) { const t0 = performance.now(); for (let i = 0; i < 3; i++) run(b); console.log(b, ((performance.now() - t0) / 3).toFixed(0), 'ms per 250 images'); }
const prof = await tf.profile(() => { run(4); });
const by = new Map<string, number>();
for (const k of prof.kernels) by.set(k.name, (by.get(k.name) ?? 0) + ((await k.kernelTimeMs) as number));
console.log([...by].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([k, v]) => `${k} ${v.toFixed(0)}`).join(', '));
