// Batch normalisation over N,H,W (channels last) with a closed-form gradient.
// tf.batchNorm's gradient (FusedBatchNorm_grad) broadcasts with Tile, which took 500 ms of a
// 741 ms training step on wasm; this gradient uses only broadcasting element-wise ops and sums.
import * as tf from '@tensorflow/tfjs';
import { BN_TRAIN, BN_TRAIN_GRAD } from '../tfjs/kernels/fused.ts';

export interface BatchNormTrainResult {
  /** normalised, scaled and shifted x */
  y: tf.Tensor4D;
  /** batch mean per channel, for the moving averages */
  mean: tf.Tensor1D;
  /** biased batch variance per channel (divided by N·H·W), for the moving averages */
  variance: tf.Tensor1D;
}

const AXES = [0, 1, 2];

function checkShapes(op: string, x: tf.Tensor, ...perChannel: [string, tf.Tensor][]): void {
  if (x.rank !== 4) throw new RangeError(`${op}: x must be rank 4 [N,H,W,C], got shape [${x.shape}]`);
  const C = x.shape[3];
  for (const [name, t] of perChannel) {
    if (t.rank !== 1 || t.shape[0] !== C) throw new RangeError(`${op}: ${name} must have shape [${C}], got [${t.shape}]`);
  }
}

/**
 * Training-mode batch norm: y = γ·(x − μ_B)/√(σ²_B + ε) + β with μ_B, σ²_B over N,H,W.
 * Gradient (per channel, m = N·H·W, x̂ the normalised input):
 *   dβ = Σ dy,  dγ = Σ dy·x̂,  dx = γ/(m·√(σ²_B+ε)) · (m·dy − dβ − x̂·dγ)
 * e.g. x = [[[[1]]],[[[3]]]] (N=2,C=1), γ=1, β=0, ε=0 → y = [−1, 1], mean [2], variance [1].
 */
export function batchNormTrain(x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-3, fused = false): BatchNormTrainResult {
  checkShapes('batchNormTrain', x, ['gamma', gamma], ['beta', beta]);
  let stash: { mean: tf.Tensor1D; variance: tf.Tensor1D } | undefined;
  // The fused kernel pair (kernels/fused.ts): the same math in two passes each way; x̂ is
  // recomputed in the gradient from x, the mean and 1/√(σ² + ε) instead of being kept.
  const fusedForward = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [value, mean, variance, rstd] = tf.engine().runKernel(BN_TRAIN, { x: xs, gamma: g, beta: b }, { epsilon }) as tf.Tensor[];
    save([xs, mean!, rstd!, g]);
    stash = { mean: tf.keep(mean as tf.Tensor1D), variance: tf.keep(variance as tf.Tensor1D) };
    return {
      value: value!,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [x0, m0, r0, g0] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
        return tf.engine().runKernel(BN_TRAIN_GRAD, { dy, x: x0, mean: m0, rstd: r0, gamma: g0 }) as tf.Tensor[];
      },
    };
  };
  const compositeForward = (xs: tf.Tensor, g: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const { mean, variance } = tf.moments(xs, AXES);
    const rstd = tf.rsqrt(tf.add(variance, epsilon));
    const xhat = tf.mul(tf.sub(xs, mean), rstd);
    save([xhat, g, rstd]);
    // The forward runs inside a tidy: keep the statistics so the caller can take them over.
    stash = { mean: tf.keep(mean as tf.Tensor1D), variance: tf.keep(variance as tf.Tensor1D) };
    const value = tf.add(tf.mul(xhat, g), b);
    return {
      value,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] => {
        const [xh, gam, rs] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const m = xs.size / xs.shape[3]!;
        const dBeta = tf.sum(dy, AXES);
        const dGamma = tf.sum(tf.mul(dy, xh), AXES);
        const inner = tf.sub(tf.sub(tf.mul(dy, m), dBeta), tf.mul(xh, dGamma));
        const dx = tf.mul(inner, tf.div(tf.mul(gam, rs), m));
        return [dx, dGamma, dBeta];
      },
    };
  };
  const op = tf.customGrad((fused ? fusedForward : compositeForward) as unknown as Parameters<typeof tf.customGrad>[0]);
  const y = op(x, gamma, beta) as tf.Tensor4D;
  const { mean, variance } = stash!;
  // Hand the kept statistics to the caller's scope (a tidy around us disposes them as usual).
  const result = { y, mean: tf.clone(mean), variance: tf.clone(variance) };
  mean.dispose();
  variance.dispose();
  return result;
}

/**
 * Inference-mode batch norm with moving statistics, as one scale and one shift per channel:
 * y = x·s + (β − μ·s), s = γ/√(σ² + ε). Plain broadcasting ops, so it is differentiable
 * twice (Hessian-vector products of a trained model go through it).
 */
export function batchNormInfer(
  x: tf.Tensor4D, movingMean: tf.Tensor1D, movingVariance: tf.Tensor1D,
  gamma: tf.Tensor1D, beta: tf.Tensor1D, epsilon = 1e-3,
): tf.Tensor4D {
  checkShapes('batchNormInfer', x, ['movingMean', movingMean], ['movingVariance', movingVariance], ['gamma', gamma], ['beta', beta]);
  return tf.tidy(() => {
    const scale = tf.mul(gamma, tf.rsqrt(tf.add(movingVariance, epsilon)));
    const shift = tf.sub(beta, tf.mul(movingMean, scale));
    return tf.add(tf.mul(x, scale), shift) as tf.Tensor4D;
  });
}
