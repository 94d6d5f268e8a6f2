// Per-layer latency table for the search's latency budget: every quantized layer at every
// bit-width of the model, timed on the device this runs on.
import type { Runtime } from './executor.ts';

/**
 * One row per (quantized layer, bit): `layer` is the layer name, `bits` its weight and
 * activation bit-width, `ms` the median milliseconds of one forward of that layer alone
 * (eq. 4 on its float input, im2col, packed GEMM, fused epilogue) at `batch` images.
 * JSON shape: {layer: string, bits: number, ms: number}[], graph order, model.bits order.
 */
export interface LayerLatency {
  layer: string;
  bits: number;
  ms: number;
}

export interface LatencyOptions {
  batch?: number;
  /** Time spent per (layer, bit) after one warm-up run; at least 3 runs. */
  minMs?: number;
}

export function measureLayerLatency(rt: Runtime, options: LatencyOptions = {}): LayerLatency[] {
  const { batch = 1, minMs = 20 } = options;
  if (!Number.isInteger(batch) || batch < 1) throw new RangeError(`batch: expected an integer >= 1, got ${batch}`);
  const rows: LayerLatency[] = [];
  rt.graph.quantized.forEach((layer, q) => {
    for (const bits of rt.model.bits) {
      const step = rt.layerAtBit(q, bits);
      const size = step.inShape.reduce((a, b) => a * b, 1) * batch;
      // Inputs spread over the activation range, as after a ReLU.
      const x = Float32Array.from({ length: size }, (_, i) => ((i * 2654435761) % 1000) / 500);
      step.run(x, batch);
      const times: number[] = [];
      const end = performance.now() + minMs;
      while (times.length < 3 || performance.now() < end) {
        const t0 = performance.now();
        step.run(x, batch);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      rows.push({ layer: layer.name, bits, ms: times[Math.floor(times.length / 2)] });
    }
  });
  return rows;
}
