// Per quantized layer Hessian traces (Hutchinson) of a model file on ~1000 training images, with
// their standard errors, as the model's `sensitivity` section; on one thread or a probe pool.
import * as tf from '@tensorflow/tfjs';
import { layerCosts, quantizedLayers, type LayerSensitivity, type Model } from '@bitswitch/format';
import { hutchinsonTrace, type HutchinsonResult, type ProbeData } from './hessian.ts';
import { ProbePool, hutchinsonTraceOnPool } from './hessian-pool.ts';
import { sensitivityTargetFromModel, type Batch, type TargetLoader } from './target.ts';
import { initBackend, type BackendPref } from '../tfjs/backend.ts';
import { loadDataset, makeBatch, stratifiedSubset, NO_AUGMENT, type Dataset } from '../data/datasets.ts';
import { Rng } from '../math/rng.ts';

export interface SensitivityOptions {
  data: string;
  images: number;
  tol: number;
  maxIters: number;
  /** Probes before the stop is first tested (default 10). */
  minIters?: number;
  batch: number;
  seed: number;
  backend: BackendPref;
  /** Which data one probe sees (hessian.ts ProbeData; default 'one-batch'). */
  probeData?: ProbeData;
  /** Threads computing probes (default 1); a custom target loader always runs on one. */
  workers?: number;
}

export const SENSITIVITY_DEFAULTS = {
  images: 1000, tol: 0.05, maxIters: 200, minIters: 10, batch: 250, seed: 1, backend: 'auto' as BackendPref,
  // Measured (bench/src/hessian.ts, trained small CNN, 4 batches): the same standard error 3.5–4.2× sooner than 'all'.
  probeData: 'one-batch' as ProbeData,
};

/** A class-balanced set of ~`images` training images, cut into batches. */
const loaded = new Map<string, Dataset>();

export function sensitivityBatches(data: string, images: number, batch: number): { batches: Batch[]; sizes: number[] } {
  // Decoding a dataset takes seconds (Fashion-MNIST's JSON ~13 s): once per process.
  const ds = loaded.get(data) ?? loadDataset(data);
  loaded.set(data, ds);
  const perClass = Math.max(1, Math.floor(images / ds.classes));
  const split = stratifiedSubset(ds.train, perClass, ds.classes, ds.height * ds.width * ds.channels);
  const batches: Batch[] = [];
  const sizes: number[] = [];
  for (let s = 0; s < split.count; s += batch) {
    const idx = Array.from({ length: Math.min(batch, split.count - s) }, (_, i) => s + i);
    const { x, y } = makeBatch(ds, split, idx, NO_AUGMENT, new Rng(0));
    batches.push({
      x: tf.tensor4d(x, [idx.length, ds.height, ds.width, ds.channels]),
      y: tf.oneHot(tf.tensor1d(y, 'int32'), ds.classes).toFloat() as tf.Tensor2D,
    });
    sizes.push(idx.length);
  }
  return { batches, sizes };
}

/** The model's sensitivity section: trace, parameter count and MACs per quantized layer. */
export function sensitivitySection(model: Model, layers: string[], result: HutchinsonResult): LayerSensitivity[] {
  const costs = new Map(layerCosts(model).map((c) => [c.layer, c]));
  const quantized = quantizedLayers(model).map((l) => l.name);
  if (layers.length !== quantized.length || layers.some((n, i) => n !== quantized[i])) {
    throw new RangeError(`sensitivity layers: expected the quantized layers [${quantized}], got [${layers}]`);
  }
  return layers.map((layer, i) => {
    const c = costs.get(layer)!;
    return { layer, hessianTrace: result.trace[i]!, hessianTraceStdErr: result.stderr[i]!, probes: result.iters, params: c.params, macs: c.macs };
  });
}

/** Relative standard error se/|t| of each layer (Infinity for a zero estimate or before two probes). */
export function relativeErrors(trace: readonly number[], stderr: readonly number[]): number[] {
  return stderr.map((se, l) => (Number.isFinite(se) && trace[l] !== 0 ? se / Math.abs(trace[l]!) : Infinity));
}

/** Where progress lines go (the CLI writes them to stderr). */
export interface ProgressSink { update(line: string): void; done(): void }

function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.ceil(seconds);
  return s >= 3600 ? `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m` : s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s` : `${s}s`;
}

/**
 * One progress line: probes done, each layer's relative standard error (the worst 6 when there
 * are more), how many are within tol, and the time left. The standard error falls as 1/√probes,
 * so the worst layer needs about probes·(rel/tol)² probes in all (at most `limit`).
 */
export function progressLine(probes: number, limit: number, layers: readonly string[], trace: readonly number[], stderr: readonly number[], tol: number, elapsedMs: number): string {
  const rel = relativeErrors(trace, stderr);
  const order = rel.map((r, l) => [r, l] as const).sort((a, b) => b[0] - a[0]);
  const shown = (order.length > 6 ? order.slice(0, 6) : [...order].sort((a, b) => a[1] - b[1]))
    .map(([r, l]) => `${layers[l]} ${Number.isFinite(r) ? r.toFixed(3) : '-'}`).join(', ');
  const within = rel.filter((r) => r <= tol).length;
  const needed = Math.min(limit, Math.ceil(Math.max(...rel.map((r) => probes * (r / tol) ** 2))));
  const eta = within === rel.length ? 0 : ((needed - probes) * elapsedMs) / probes / 1000;
  return `sensitivity: probe ${probes}/${limit} | rel. std. error ${order.length > 6 ? 'worst ' : ''}${shown} | ${within}/${rel.length} layers ≤ ${tol} | ETA ${duration(eta)}`;
}

/** Estimates the traces of `model` and returns it with its sensitivity section filled in. */
export async function computeSensitivity(
  model: Model, loadTarget: TargetLoader, opts: SensitivityOptions, progress?: ProgressSink,
): Promise<{ model: Model; result: HutchinsonResult; backend: string; workers: number; layers: string[]; seconds: number }> {
  const backend = await initBackend(opts.backend);
  const target = loadTarget(model);
  const { batches, sizes } = sensitivityBatches(opts.data, opts.images, opts.batch);
  try {
    const t0 = performance.now();
    const probeData = opts.probeData ?? SENSITIVITY_DEFAULTS.probeData;
    const hopts = {
      lossFn: target.loss, params: target.params, batches, batchSizes: sizes,
      tol: opts.tol, maxIters: opts.maxIters, minIters: Math.min(opts.minIters ?? SENSITIVITY_DEFAULTS.minIters, opts.maxIters),
      seed: opts.seed, probeData,
      onIter: (i: number, trace: number[], se: number[]) => progress?.update(progressLine(i, opts.maxIters, target.layers, trace, se, opts.tol, performance.now() - t0)),
    };
    // workers rebuild the target from the file, so only the default loader can be spread
    const workers = loadTarget === sensitivityTargetFromModel ? opts.workers ?? 1 : 1;
    let result: HutchinsonResult;
    if (workers > 1) {
      const pool = await ProbePool.start(workers, { backend: backend.name, model, data: opts.data, images: opts.images, batch: opts.batch, seed: opts.seed, probeData });
      try {
        result = await hutchinsonTraceOnPool(hopts, pool);
      } finally {
        await pool.close();
      }
    } else result = await hutchinsonTrace(hopts);
    progress?.done();
    const seconds = (performance.now() - t0) / 1000;
    const sensitivity = sensitivitySection(model, target.layers, result);
    return { model: { ...model, sensitivity }, result, backend: backend.name, workers, layers: target.layers, seconds };
  } finally {
    target.dispose();
    for (const b of batches) tf.dispose([b.x, b.y]);
  }
}

