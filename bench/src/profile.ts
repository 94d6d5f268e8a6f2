// Per-layer profile of a runtime: the backend wrapped so that each call is timed and charged to
// the layer whose GEMM it precedes (eq. 4 quantize and im2col run just before their layer's GEMM).
// The epilogue (scales, bias, BatchNorm, residual, ReLU, requantization) is fused into the GEMM's
// tiles, so it is timed with it; what the runtime does between GEMMs (add, pool) is the rest.
import { matrixShape, Runtime, type IntBackend } from '@bitswitch/runtime';
import type { Model } from '@bitswitch/format';

export interface LayerProfile {
  name: string; m: number; n: number; k: number;
  quantizeMs: number; im2colMs: number; gemmMs: number;
  /** Multiply-adds per second of the GEMM call, in G. */
  gmacs: number;
}

/** Medians over runs: per layer, the whole run, and the run outside the timed calls (add, pool, JS). */
export interface Profile { layers: LayerProfile[]; runMs: number; otherMs: number }

/** A backend that times every call into `times` under its kind. */
function timed(b: IntBackend, times: { kind: string; ms: number; m?: number }[]): IntBackend {
  const wrap = <A extends unknown[], R>(kind: string, f: (...a: A) => R, rows?: (...a: A) => number) => (...a: A): R => {
    const t0 = performance.now();
    const r = f(...a);
    times.push({ kind, ms: performance.now() - t0, m: rows?.(...a) });
    return r;
  };
  return {
    ...b,
    name: b.name,
    workspace: b.workspace,
    quantize: wrap('quantize', b.quantize.bind(b)),
    im2col: wrap('im2col', b.im2col.bind(b)),
    im2colFloat: wrap('im2col', b.im2colFloat.bind(b)),
    gemm: wrap('gemm', b.gemm.bind(b), (_a, m) => m),
    // a convolution read through its window: im2col is part of its GEMM call
    convGemm: b.convGemm && wrap('gemm', b.convGemm.bind(b), (_x, g) => g.batch * g.outH * g.outW),
    gemmFloat: wrap('gemm', b.gemmFloat.bind(b), (_a, m) => m),
  };
}

/** Median per-layer times of `reps` runs of `model` at `spec` on `batch` images. */
export function profileLayers(model: Model, backend: IntBackend, spec: number | string, images: Float32Array, batch: number, reps: number): Profile {
  const times: { kind: string; ms: number; m?: number }[] = [];
  const rt = new Runtime(model, timed(backend, times), spec);
  const layers = model.layers.filter((l) => l.op === 'conv2d' || l.op === 'dense');
  rt.run(images, batch); // warm-up
  const runs: { perLayer: { quantize: number; im2col: number; gemm: number; m: number }[]; total: number; other: number }[] = [];
  for (let r = 0; r < reps; r++) {
    times.length = 0;
    const t0 = performance.now();
    rt.run(images, batch);
    const total = performance.now() - t0;
    const perLayer: { quantize: number; im2col: number; gemm: number; m: number }[] = [];
    let cur = { quantize: 0, im2col: 0, gemm: 0, m: 0 };
    for (const t of times) {
      if (t.kind === 'gemm') { cur.gemm = t.ms; cur.m = t.m!; perLayer.push(cur); cur = { quantize: 0, im2col: 0, gemm: 0, m: 0 }; }
      else cur[t.kind as 'quantize' | 'im2col'] += t.ms;
    }
    if (perLayer.length !== layers.length) throw new Error(`profile: expected ${layers.length} GEMMs per run, got ${perLayer.length}`);
    runs.push({ perLayer, total, other: total - perLayer.reduce((t, l) => t + l.quantize + l.im2col + l.gemm, 0) });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  const out = layers.map((l, i) => {
    const [n, k] = matrixShape(l);
    const m = runs[0].perLayer[i].m;
    const gemmMs = median(runs.map((r) => r.perLayer[i].gemm));
    return {
      name: l.name, m, n, k, gemmMs, gmacs: (m * n * k) / (gemmMs * 1e6),
      quantizeMs: median(runs.map((r) => r.perLayer[i].quantize)), im2colMs: median(runs.map((r) => r.perLayer[i].im2col)),
    };
  });
  // The rest is taken per run (run time minus its timed calls), so a preempted run does not land in it alone.
  return { layers: out, runMs: median(runs.map((r) => r.total)), otherMs: median(runs.map((r) => r.other)) };
}
