// Second-order sensitivity: Hessian-vector products by double back-propagation and
// per-layer Hessian traces by Hutchinson's estimator, tr(H) = E[vᵀHv] for Rademacher v.
import * as tf from '@tensorflow/tfjs';
import { registerSecondOrderGradients } from '../tfjs/second-order-grads.ts';
import { deriveRng } from '../math/rng.ts';

export type LossFn = (params: tf.Variable[]) => tf.Scalar;

/** Anything with a seeded uniform [0, 1) source (e.g. math/rng.ts's Rng). */
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
    // a chain of adds (the order addN sums in), not addN: WebGPU binds every addN input at once (8 buffers by default)
    const gradDotV = () => gradientOf(lossFn, params).map((g, i) => tf.sum(tf.mul(g, v[i]!))).reduce((a, b) => tf.add(a, b)) as tf.Scalar;
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

/**
 * Which data one probe sees. 'all': one HVP per batch, weighted by batch size, so every sample is
 * an unbiased draw for the Hessian of the whole set. 'one-batch': probe i uses batch i mod B only,
 * weighted B·n_b/N, so a probe costs one batch instead of B; the mean over whole cycles of B
 * probes is unbiased for the same Hessian, and its variance adds the spread between batches.
 */
export const PROBE_DATA = ['all', 'one-batch'] as const;
export type ProbeData = (typeof PROBE_DATA)[number];

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
  /** Probes before the stopping test is first applied (a standard error needs a few); default 5. */
  minIters?: number;
  /** Probe i draws its Rademacher vectors from deriveRng(seed, i): the same probes however a run splits them. */
  seed: number;
  /** Default 'all'. With 'one-batch' the stop is tested, and the run ends, only after whole cycles of B probes. */
  probeData?: ProbeData;
  /** Called after each probe with the running estimate. */
  onIter?: (iter: number, trace: number[], stderr: number[]) => void;
}

export interface HutchinsonResult {
  /** estimated tr(H_ll) per layer */
  trace: number[];
  /** trace divided by the layer's parameter count */
  perParam: number[];
  /** standard error of each trace estimate */
  stderr: number[];
  /** probes averaged (the same for every layer) */
  iters: number;
  converged: boolean;
}

function checkOptions<B>(opts: HutchinsonOptions<B>): number[] {
  const { batches, tol, maxIters, seed } = opts;
  if (!batches.length) throw new RangeError('batches: expected at least one batch, got 0');
  if (!(tol > 0)) throw new RangeError(`tol: expected a positive number, got ${tol}`);
  if (!Number.isInteger(maxIters) || maxIters < 2) throw new RangeError(`maxIters: expected an integer ≥ 2, got ${maxIters}`);
  if (opts.minIters !== undefined && !(Number.isInteger(opts.minIters) && opts.minIters >= 2)) {
    throw new RangeError(`minIters: expected an integer ≥ 2, got ${opts.minIters}`);
  }
  if (!Number.isInteger(seed)) throw new RangeError(`seed: expected an integer, got ${seed}`);
  if (opts.probeData !== undefined && !PROBE_DATA.includes(opts.probeData)) {
    throw new RangeError(`probeData: expected one of ${PROBE_DATA.join(', ')}, got ${opts.probeData}`);
  }
  const sizes = opts.batchSizes ?? batches.map(() => 1);
  if (sizes.length !== batches.length || sizes.some((s) => !(s > 0))) {
    throw new RangeError(`batchSizes: expected ${batches.length} positive numbers, got [${sizes}]`);
  }
  return sizes;
}

/**
 * Probe `index`: per layer l the sample v_lᵀ(Hv)_l for one Rademacher v over all layers, whose
 * mean is tr(H_ll) (the cross terms v_lᵀH_lk v_k have mean zero: v_l and v_k are independent).
 * Depends only on the options and the index, so probes can be computed in any order or place.
 */
export async function hutchinsonProbe<B>(opts: HutchinsonOptions<B>, index: number): Promise<Float64Array> {
  const sizes = checkOptions(opts);
  const { lossFn, params, batches } = opts;
  const total = sizes.reduce((a, b) => a + b, 0);
  const rng = deriveRng(opts.seed, index);
  const v = params.map((p) => rademacher(p.shape, rng));
  const used = opts.probeData === 'one-batch'
    ? [{ b: index % batches.length, w: (batches.length * sizes[index % batches.length]!) / total }]
    : batches.map((_, b) => ({ b, w: sizes[b]! / total }));
  const vHv = tf.tidy(() => {
    let acc = params.map(() => tf.scalar(0));
    for (const { b, w } of used) {
      const hv = hessianVectorProduct((ps) => lossFn(ps, batches[b]!), params, v);
      acc = acc.map((a, l) => tf.add(a, tf.mul(tf.sum(tf.mul(hv[l]!, v[l]!)), w)));
    }
    return tf.stack(acc);
  });
  try {
    return Float64Array.from(await vHv.data());
  } finally {
    tf.dispose([vHv, ...v]);
  }
}

/** Probes from, from + 1, …, from + count − 1 (a worker's share of a run). */
export async function hutchinsonSamples<B>(opts: HutchinsonOptions<B>, from: number, count: number): Promise<Float64Array[]> {
  const out: Float64Array[] = [];
  for (let i = 0; i < count; i++) out.push(await hutchinsonProbe(opts, from + i));
  return out;
}

/** Mean and standard error of the mean per layer (Welford), from samples in probe order. */
export class TraceStatistics {
  private n = 0;
  private readonly mean: Float64Array;
  private readonly m2: Float64Array;
  constructor(layers: number) {
    this.mean = new Float64Array(layers);
    this.m2 = new Float64Array(layers);
  }
  add(sample: ArrayLike<number>): void {
    this.n++;
    for (let l = 0; l < this.mean.length; l++) {
      const d = sample[l]! - this.mean[l]!;
      this.mean[l] += d / this.n;
      this.m2[l] += d * (sample[l]! - this.mean[l]!);
    }
  }
  get count(): number { return this.n; }
  trace(): number[] { return Array.from(this.mean); }
  stderr(): number[] {
    return Array.from(this.m2, (m2) => (this.n > 1 ? Math.sqrt(m2 / (this.n - 1) / this.n) : Infinity));
  }
}

/** Whether every layer's standard error is at most tol·|trace|. */
export function withinTolerance(trace: readonly number[], stderr: readonly number[], tol: number): boolean {
  return stderr.every((se, l) => se <= tol * Math.abs(trace[l]!));
}

/**
 * Per-layer Hessian traces by Hutchinson's estimator: probes 0, 1, 2, … (hutchinsonProbe) until
 * every layer's relative standard error is ≤ tol (after at least minIters probes) or maxIters.
 */
export function hutchinsonTrace<B>(opts: HutchinsonOptions<B>): Promise<HutchinsonResult> {
  checkOptions(opts); // bad options throw here, before any probe
  return traceInRounds(opts, async (from) => [await hutchinsonProbe(opts, from)]);
}

/**
 * The estimator's loop over probes delivered in rounds: `round(from, left, cycle)` returns the
 * samples of probes from, from + 1, … (at least one). Samples are added in probe order and the
 * stop is tested after each one, so the result does not depend on the round sizes; samples past
 * the stop are dropped.
 */
export async function traceInRounds<B>(opts: HutchinsonOptions<B>, round: (from: number, left: number, cycle: number) => Promise<Float64Array[]>): Promise<HutchinsonResult> {
  const { params, tol, maxIters } = opts;
  const minIters = opts.minIters ?? 5;
  // 'one-batch': every batch must weigh the same, so runs end on whole cycles.
  const cycle = opts.probeData === 'one-batch' ? opts.batches.length : 1;
  const limit = Math.max(cycle, maxIters - (maxIters % cycle));
  const stats = new TraceStatistics(params.length);
  let converged = false;
  while (stats.count < limit && !converged) {
    for (const sample of await round(stats.count, limit - stats.count, cycle)) {
      stats.add(sample);
      const trace = stats.trace(), stderr = stats.stderr();
      opts.onIter?.(stats.count, trace, stderr);
      if (stats.count >= minIters && stats.count % cycle === 0 && withinTolerance(trace, stderr, tol)) { converged = true; break; }
      if (stats.count >= limit) break;
    }
  }
  const trace = stats.trace();
  return { trace, perParam: trace.map((t, l) => t / params[l]!.size), stderr: stats.stderr(), iters: stats.count, converged };
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
