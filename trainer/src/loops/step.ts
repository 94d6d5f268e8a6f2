// One optimizer step, shared by every training loop (float pre-training, multi-precision A.1/A.2,
// separate precision, distillation and the SuperNet): gradients of the current batch from the
// data-parallel ranks, a non-finite loss stops training, the gradients split into weights and
// quantization scales, each part stepped by its own Adam at its own rate, scales kept above zero,
// and the BatchNorm running statistics moved by the batch's statistics.
import * as tf from '@tensorflow/tfjs';
import { alrsRate, type AlrsMode } from '../math/alrs.ts';
import type { Adam } from '../math/adam.ts';
import type { Network } from '../nn/network.ts';
import type { DataParallel } from '../parallel/parallel.ts';
import type { BnStats, GradRequest } from '../parallel/shards.ts';

/** Training stopped: a loss or a weight is NaN or Inf. */
export class DivergenceError extends Error {
  constructor(message: string) { super(message); this.name = 'DivergenceError'; }
}

/** Gradient arrays as tensors of their variables' shapes, split into weights and quantization scales. */
export function gradTensors(net: Network, grads: Map<string, Float32Array>): { w: Record<string, tf.Tensor>; s: Record<string, tf.Tensor> } {
  const w: Record<string, tf.Tensor> = {};
  const s: Record<string, tf.Tensor> = {};
  for (const [n, g] of grads) (net.kinds.get(n) === 'scale' ? s : w)[n] = tf.tensor(g, net.v(n).shape);
  return { w, s };
}

/** Moves the BatchNorm running statistics by the batch statistics a request returned. */
export function applyBnStats(net: Network, bn: BnStats[]): void {
  tf.tidy(() => net.applyBnUpdates(bn.map((u) => ({ name: u.name, key: u.key, mean: tf.tensor(u.mean), variance: tf.tensor(u.variance) }))));
}

/** The optimizers of a step: one Adam for everything, or weights and scales apart. */
export type StepOptimizers = { all: Adam } | { weights: Adam; scales: Adam };

export interface StepOptions {
  optimizers: StepOptimizers;
  /** Learning rate of the weights (and of everything with `all`). */
  lr: number;
  /** Learning rate of the scales, from the step's gradients (ALRS); `lr` when absent. */
  scaleRate?: (grads: Map<string, Float32Array>) => number;
  /** The error to throw for a non-finite loss (`loss` is the mean over the request's bits). */
  diverged: (loss: number) => Error;
}

/** One step of network `req.net` on the batch set on `dp`; returns the mean loss over the request's bits. */
export async function trainStep(dp: DataParallel, net: Network, req: GradRequest, o: StepOptions): Promise<number> {
  const res = await dp.grads(req);
  const loss = res.loss / req.bits.length;
  if (!Number.isFinite(loss)) throw o.diverged(loss);
  const opt = o.optimizers;
  if ('all' in opt) {
    tf.tidy(() => {
      const { w, s } = gradTensors(net, res.grads);
      opt.all.apply(net.vars, { ...w, ...s }, o.lr);
    });
  } else {
    const scaleLr = o.scaleRate ? o.scaleRate(res.grads) : o.lr;
    tf.tidy(() => {
      const { w, s } = gradTensors(net, res.grads);
      opt.weights.apply(net.vars, w, o.lr);
      opt.scales.apply(net.vars, s, scaleLr);
    });
    net.clampScales(); // a scale step must not cross zero
  }
  applyBnStats(net, res.bn);
  return loss;
}

/**
 * Each quantized layer's scale gradients at its bit (the step's bit, or the layer's own in a
 * SuperNet step): the per-layer inputs of ALRS eq. 6.
 */
export function layerScaleGrads(net: Network, layerBits: readonly number[], grads: Map<string, Float32Array>): Float32Array[] {
  return net.quantized.map((q, i) => {
    const b = layerBits[i];
    const parts = [`${q.name}/wscale`, `${q.name}/wscale@${b}`, `${q.name}/ascale@${b}`].filter((n) => grads.has(n));
    return Float32Array.from(parts.flatMap((n) => Array.from(grads.get(n)!)));
  });
}

/** ALRS of one loop: the scales' rate of each step by mode, and eq. 6's floor hits per bit ('paper'). */
export class ScaleRates {
  readonly floorHits: Record<string, number> = {};
  readonly steps: Record<string, number> = {};

  constructor(readonly mode: AlrsMode, bits: readonly number[]) {
    for (const b of bits) { this.floorHits[b] = 0; this.steps[b] = 0; }
  }

  /** λ_b of a step at bit b (rank in the list) of `net`, the layers at `layerBits`. */
  rate(net: Network, lr: number, rank: number, b: number, layerBits: readonly number[], grads: Map<string, Float32Array>): number {
    const { rate, floored } = alrsRate(this.mode, lr, rank, net.h - b, () => layerScaleGrads(net, layerBits, grads)); // eq. 6–7
    if (this.mode === 'paper') {
      this.steps[b]++;
      if (floored) this.floorHits[b]++;
    }
    return rate;
  }

  /** Restores the counts of a checkpoint. */
  load(floorHits: Record<string, number>, steps: Record<string, number>): void {
    Object.assign(this.floorHits, floorHits);
    Object.assign(this.steps, steps);
  }
}
