// Hutchinson cost, measured in one process. Two modes:
//   pnpm bench:hessian [model] [images] [backends…]   time of one probe (one HVP over all
//     images) of a trainer network with random weights, per backend (the cost does not depend on weights);
//   pnpm bench:hessian FILE.bsw [images] [batch] [HVP batches] [backend]   on a trained model
//     file: the same number of batch HVPs spent as 'all' probes (each over every batch) and as
//     'one-batch' probes (one batch each), the per-layer relative standard error each reaches, and
//     the probes and time each needs for 5 % (standard error ∝ 1/√probes).
// Results: bench/results/hessian.json (or --out FILE).
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { readModel } from '@bitswitch/format';
import {
  Network, Rng, buildModel, hutchinsonTrace, initBackend, relativeErrors, sensitivityBatches, sensitivityTargetFromModel, targetFromNetwork,
  type BackendPref, type ProbeData,
} from '@bitswitch/trainer';
import { Report, positional } from './report.ts';

const args = positional();
const report = new Report('hessian');

if (args[0]?.endsWith('.bsw')) {
  const [file, imagesArg = '256', batchArg = '64', hvpArg = '32', pref = 'wasm'] = args;
  const images = Number(imagesArg), batch = Number(batchArg), hvps = Number(hvpArg);
  const { name } = await initBackend(pref as BackendPref);
  const target = sensitivityTargetFromModel(readModel(readFileSync(file)));
  const { batches, sizes } = sensitivityBatches('mnist', images, batch);
  const B = batches.length;
  report.log(`${file}: ${target.layers.length} quantized layers, ${images} MNIST images in ${B} batches of ≤ ${batch}, ${hvps} batch HVPs per mode, ${name}`);
  const base = { lossFn: target.loss, params: target.params, batches, batchSizes: sizes, tol: 1e-9, seed: 7 };
  await hutchinsonTrace({ ...base, maxIters: 2, probeData: 'one-batch' as ProbeData }); // warm-up
  const rows: { mode: ProbeData; probes: number; s: number; rel: number[] }[] = [];
  for (const [mode, probes] of [['all', Math.max(2, Math.floor(hvps / B))], ['one-batch', Math.max(2, Math.floor(hvps / B)) * B]] as const) {
    const t0 = performance.now();
    const r = await hutchinsonTrace({ ...base, maxIters: probes, probeData: mode });
    const s = (performance.now() - t0) / 1000;
    const rel = relativeErrors(r.trace, r.stderr);
    rows.push({ mode, probes: r.iters, s, rel });
    report.log(`  ${mode.padEnd(9)} ${r.iters} probes in ${s.toFixed(1)} s (${(s / r.iters).toFixed(2)} s/probe); trace ${r.trace.map((t) => t.toExponential(3)).join(', ')}; rel. std. error ${rel.map((x) => x.toFixed(3)).join(', ')}`);
    const need = Math.max(...rel.map((x) => r.iters * (x / 0.05) ** 2));
    report.log(`            to 5 % in every layer: ~${Math.ceil(need)} probes, ~${(need * s / r.iters).toFixed(0)} s`);
  }
  const [all, one] = rows as [typeof rows[0], typeof rows[0]];
  // Time to a given standard error scales with (rel. error)² × time spent.
  const gain = all.rel.map((r, l) => (r ** 2 * all.s) / (one.rel[l]! ** 2 * one.s));
  report.log(`  'one-batch' reaches the same standard error ${gain.map((g) => g.toFixed(2)).join(', ')}× faster per layer (${target.layers.join(', ')})`);
  target.dispose();
} else {
  const [model = 'resnet8', imagesArg = '1000', ...backendArgs] = args;
  const images = Number(imagesArg);
  const backends = (backendArgs.length ? backendArgs : ['wasm', 'cpu']) as BackendPref[];
  const PROBES = 2;
  report.log(`${model}, ${images} MNIST images, ${PROBES} probes`);
  const times: Record<string, number> = {};
  for (const pref of backends) {
    const { name } = await initBackend(pref);
    const net = new Network(buildModel(model, [28, 28, 1]), { bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(1));
    const target = targetFromNetwork(net);
    const { batches, sizes } = sensitivityBatches('mnist', images, 250);
    const opts = { lossFn: target.loss, params: target.params, batches, batchSizes: sizes, tol: 1e-9, seed: 2 };
    await hutchinsonTrace({ ...opts, maxIters: 2 }); // warm-up (kernel setup, memory growth)
    const t0 = performance.now();
    const r = await hutchinsonTrace({ ...opts, maxIters: PROBES });
    const ms = (performance.now() - t0) / PROBES;
    times[name] = ms;
    report.log(`  ${name}: ${(ms / 1000).toFixed(2)} s per probe (${(images / ms * 1000).toFixed(0)} images/s through an HVP); ${target.layers.length} layers, first trace ${r.trace[0]!.toExponential(3)}`);
    for (const b of batches) tf.dispose([b.x, b.y]);
    net.dispose();
  }
  if (times.wasm && times.cpu) report.log(`  wasm is ${(times.cpu / times.wasm).toFixed(1)}× faster than cpu`);
}
report.save();
