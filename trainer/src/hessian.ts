// Second-order sensitivity (issue 6): Hessian-vector products by double back-propagation and
// per-layer Hessian traces by Hutchinson's estimator, tr(H) = E[vᵀHv] for Rademacher v.
import * as tf from '@tensorflow/tfjs';
import { registerSecondOrderGradients } from './backend/second-order-grads.ts';

export type LossFn = (params: tf.Variable[]) => tf.Scalar;

/** Anything with a seeded uniform [0, 1) source (e.g. trainer/src/rng.ts's Rng). */
export interface UniformSource { uniform(): number }

/** ∇θ L, with zeros for parameters the loss does not reach. */
function gradientOf(lossFn: LossFn, params: tf.Variable[]): tf.Tensor[] {
  const { grads } = tf.engine().gradients(() => lossFn(params), params, undefined, true);
  return grads.map((g, i) => g ?? tf.zerosLike(params[i]!));
}

function checkVectors(params: tf.Variable[], v: tf.Tensor[]): void {
  if (v.length !== params.length) throw new RangeError(`v: expected ${params.length} tensors (one per parameter), got ${v.length}`);
  v.forEach((t, i) => {
    const want = params[i]!.shape;
    if (t.shape.length !== want.length || t.shape.some((d, k) => d !== want[k])) {
      throw new RangeError(`v[${i}]: expected shape [${want}] (parameter ${params[i]!.name}), got [${t.shape}]`);
    }
  });
}

/** H·v = ∇θ (∇θ L · v), one tensor per parameter, by differentiating the gradient again. */
export function hessianVectorProduct(lossFn: LossFn, params: tf.Variable[], v: tf.Tensor[]): tf.Tensor[] {
  checkVectors(params, v);
  registerSecondOrderGradients();
  return tf.tidy(() => {
    const gradDotV = () => tf.addN(gradientOf(lossFn, params).map((g, i) => tf.sum(tf.mul(g, v[i]!)))) as tf.Scalar;
    const { grads } = tf.engine().gradients(gradDotV, params, undefined, true);
    return grads.map((h, i) => h ?? tf.zerosLike(params[i]!));
  });
}

/** Rademacher vector (±1 with equal probability) of a given shape. */
export function rademacher(shape: number[], rng: UniformSource): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(n);
  for (let i = 0; i < n; i++) values[i] = rng.uniform() < 0.5 ? -1 : 1;
  return tf.tensor(values, shape);
}

export interface HutchinsonOptions<B> {
  /** Loss on one batch, as a mean over its examples. */
  lossFn: (params: tf.Variable[], batch: B) => tf.Scalar;
  /** One variable per layer (e.g. its kernel); a trace is estimated for each. */
  params: tf.Variable[];
  /** The data: the Hessian is that of the example-weighted mean loss over all batches. */
  batches: B[];
  /** Examples per batch (weights of the mean); equal weights when omitted. */
  batchSizes?: number[];
  /** Stop when every layer's standard error is ≤ tol·|trace| (relative tolerance). */
  tol: number;
  maxIters: number;
  /** Samples before the stopping test is first applied (a standard error needs a few). */
  minIters?: number;
  rng: UniformSource;
  /** Called after each sample with the running estimate. */
  onIter?: (iter: number, trace: number[], stderr: number[]) => void;
}

export interface HutchinsonResult {
  /** estimated tr(H_ll) per layer */
  trace: number[];
  /** trace divided by the layer's parameter count */
  perParam: number[];
  /** standard error of each trace estimate */
  stderr: number[];
  iters: number;
  converged: boolean;
}

/**
 * Per-layer Hessian traces. Each sample draws one Rademacher v over all layers and one H·v;
 * layer l's sample is v_lᵀ(Hv)_l = v_lᵀH_ll v_l + Σ_{k≠l} v_lᵀH_lk v_k, whose cross terms
 * have mean zero because v_l and v_k are independent, so its mean is tr(H_ll).
 */
export function hutchinsonTrace<B>(opts: HutchinsonOptions<B>): HutchinsonResult {
  const { lossFn, params, batches, tol, maxIters, rng } = opts;
  const minIters = opts.minIters ?? 5;
  if (!batches.length) throw new RangeError('batches: expected at least one batch, got 0');
  if (!(tol > 0)) throw new RangeError(`tol: expected a positive number, got ${tol}`);
  if (!Number.isInteger(maxIters) || maxIters < 2) throw new RangeError(`maxIters: expected an integer ≥ 2, got ${maxIters}`);
  const sizes = opts.batchSizes ?? batches.map(() => 1);
  if (sizes.length !== batches.length || sizes.some((s) => !(s > 0))) {
    throw new RangeError(`batchSizes: expected ${batches.length} positive numbers, got [${sizes}]`);
  }
  const total = sizes.reduce((a, b) => a + b, 0);
  const L = params.length;
  const sum = new Float64Array(L);
  const sumSq = new Float64Array(L);
  let iters = 0;
  let converged = false;
  let mean: number[] = [];
  let stderr: number[] = [];
  while (iters < maxIters) {
    const v = params.map((p) => rademacher(p.shape, rng));
    const vHv = tf.tidy(() => {
      let acc = params.map(() => tf.scalar(0));
      batches.forEach((batch, b) => {
        const hv = hessianVectorProduct((ps) => lossFn(ps, batch), params, v);
        acc = acc.map((a, l) => tf.add(a, tf.mul(tf.sum(tf.mul(hv[l]!, v[l]!)), sizes[b]! / total)));
      });
      return tf.stack(acc);
    });
    const sample = vHv.dataSync();
    tf.dispose([vHv, ...v]);
    iters++;
    for (let l = 0; l < L; l++) { sum[l] += sample[l]!; sumSq[l] += sample[l]! * sample[l]!; }
    mean = Array.from(sum, (s) => s / iters);
    stderr = mean.map((m, l) => iters > 1 ? Math.sqrt(Math.max(0, (sumSq[l]! - iters * m * m) / (iters - 1)) / iters) : Infinity);
    opts.onIter?.(iters, mean, stderr);
    if (iters >= minIters && stderr.every((se, l) => se <= tol * Math.abs(mean[l]!))) { converged = true; break; }
  }
  return { trace: mean, perParam: mean.map((t, l) => t / params[l]!.size), stderr, iters, converged };
}

/** Exact Hessian of a small problem, column by column: H e_j = H·(basis vector j). Row-major [n, n]. */
export function explicitHessian(lossFn: LossFn, params: tf.Variable[]): { n: number; H: Float64Array } {
  const sizes = params.map((p) => p.size);
  const n = sizes.reduce((a, b) => a + b, 0);
  const H = new Float64Array(n * n);
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  for (let j = 0; j < n; j++) {
    const v = params.map((p, i) => {
      const e = new Float32Array(p.size);
      const k = j - offsets[i]!;
      if (k >= 0 && k < p.size) e[k] = 1;
      return tf.tensor(e, p.shape);
    });
    const hv = hessianVectorProduct(lossFn, params, v);
    hv.forEach((h, i) => { const d = h.dataSync(); for (let k = 0; k < d.length; k++) H[(offsets[i]! + k) * n + j] = d[k]!; });
    tf.dispose([...v, ...hv]);
  }
  return { n, H };
}
