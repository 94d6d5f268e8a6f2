// Time of one Hutchinson probe (one Hessian-vector product over all images) on a trainer
// network, per backend, measured in one process. Random weights: the cost does not depend on them.
// Run: node --experimental-wasm-relaxed-simd --import tsx trainer/src/hessian-bench.ts [model] [images] [backends…]
import * as tf from '@tensorflow/tfjs';
import { cpus } from 'node:os';
import { initBackend, type BackendPref } from './backend/index.ts';
import { hutchinsonTrace } from './hessian.ts';
import { sensitivityBatches, targetFromNetwork } from './hessian-cli.ts';
import { buildModel } from './models.ts';
import { Network } from './network.ts';
import { Rng } from './rng.ts';

const [model = 'resnet8', imagesArg = '1000', ...backendArgs] = process.argv.slice(2);
const images = Number(imagesArg);
const backends = (backendArgs.length ? backendArgs : ['wasm', 'cpu']) as BackendPref[];
const PROBES = 2;

console.log(`${model}, ${images} MNIST images, ${PROBES} probes, ${cpus().length}× ${cpus()[0]?.model ?? '?'}, ${new Date().toISOString()}`);
const times: Record<string, number> = {};
for (const pref of backends) {
  const { name } = await initBackend(pref);
  const net = new Network(buildModel(model, [28, 28, 1]), { bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(1));
  const target = targetFromNetwork(net);
  const { batches, sizes } = sensitivityBatches('mnist', images, 250);
  const opts = { lossFn: target.loss, params: target.params, batches, batchSizes: sizes, tol: 1e-9, seed: 2 };
  hutchinsonTrace({ ...opts, maxIters: 2 }); // warm-up (kernel setup, memory growth)
  const t0 = performance.now();
  const r = hutchinsonTrace({ ...opts, maxIters: PROBES });
  const ms = (performance.now() - t0) / PROBES;
  times[name] = ms;
  console.log(`  ${name}: ${(ms / 1000).toFixed(2)} s per probe (${(images / ms * 1000).toFixed(0)} images/s through an HVP); ${target.layers.length} layers, first trace ${r.trace[0]!.toExponential(3)}`);
  for (const b of batches) tf.dispose([b.x, b.y]);
  net.dispose();
}
if (times.wasm && times.cpu) console.log(`  wasm is ${(times.cpu / times.wasm).toFixed(1)}× faster than cpu`);
