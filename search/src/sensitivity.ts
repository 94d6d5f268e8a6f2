// The one rule that turns Hutchinson trace estimates into the per-parameter sensitivities read by
// both the SubNet search's objective and the HASB roulette (trainer), so that noise in an estimate
// can never make quantization error look good.

/** A layer's trace estimate as stored in the model file's SENS section (format SPEC §7.1). */
export interface TraceEstimate {
  /** Hutchinson estimate of tr(H_l) over the layer's weights (not divided by params). */
  hessianTrace: number;
  /** Standard error of that estimate; absent (older files) counts as 0. */
  hessianTraceStdErr?: number;
  params: number;
}

/** Width of the confidence interval in standard errors: t ± 2·se (about 95 % for a normal mean). */
export const CONFIDENCE_Z = 2;
/** Smallest sensitivity, relative to the largest upper bound among the layers. */
export const SENSITIVITY_FLOOR = 1e-3;

function check(e: TraceEstimate, field: string): void {
  if (!Number.isFinite(e.hessianTrace)) throw new RangeError(`${field}.hessianTrace: expected a finite number, got ${e.hessianTrace}`);
  const se = e.hessianTraceStdErr;
  if (se !== undefined && !(Number.isFinite(se) && se >= 0)) throw new RangeError(`${field}.hessianTraceStdErr: expected a finite number >= 0, got ${se}`);
  if (!(Number.isFinite(e.params) && e.params > 0)) throw new RangeError(`${field}.params: expected a number > 0, got ${e.params}`);
}

/** The interval tr ± 2·se of an estimate. confidenceInterval({hessianTrace: -2.25, hessianTraceStdErr: 1.23}) → [-4.71, 0.21]. */
export function confidenceInterval(e: Pick<TraceEstimate, 'hessianTrace' | 'hessianTraceStdErr'>): [number, number] {
  const half = CONFIDENCE_Z * (e.hessianTraceStdErr ?? 0);
  return [e.hessianTrace - half, e.hessianTrace + half];
}

/** Whether the estimate cannot be told apart from zero: its interval tr ± 2·se contains 0. */
export function includesZero(e: Pick<TraceEstimate, 'hessianTrace' | 'hessianTraceStdErr'>): boolean {
  const [lo, hi] = confidenceInterval(e);
  return lo <= 0 && hi >= 0;
}

/**
 * Per-parameter sensitivities s_l that the objective and the roulette use:
 *   u_l = (tr_l + 2·se_l) / n_l            (upper confidence bound of tr(H_l)/n_l)
 *   s_l = max(u_l, 1e-3 · max_k u_k)       (floor relative to the largest bound)
 * and s_l = 1 for every layer when no bound is positive (nothing tells the layers apart).
 * So s_l > 0 always: a noisy or negative trace is treated as at least as sensitive as its upper
 * bound says, and minimizing Σ s_l · ‖ΔW_l‖² never prefers a larger quantization error.
 * boundedSensitivities([{hessianTrace: 4, params: 2}, {hessianTrace: -2.25, hessianTraceStdErr: 1.23, params: 1}])
 *   → [2, 0.21]; with se 1 instead → [2, 0.002] (u = -0.25, floored at 1e-3 · 2).
 */
export function boundedSensitivities(estimates: readonly TraceEstimate[]): number[] {
  if (estimates.length === 0) throw new RangeError('sensitivity: expected at least one layer, got 0');
  estimates.forEach((e, i) => check(e, `sensitivity[${i}]`));
  const upper = estimates.map((e) => confidenceInterval(e)[1] / e.params);
  const largest = Math.max(...upper);
  if (!(largest > 0)) return upper.map(() => 1);
  const floor = Math.max(SENSITIVITY_FLOOR * largest, Number.MIN_VALUE);
  return upper.map((u) => Math.max(u, floor));
}

/** boundedSensitivities of a SENS section, in the order of `layers`; a missing layer is named. */
export function sectionSensitivities(section: readonly (TraceEstimate & { layer: string })[], layers: readonly string[]): number[] {
  const byLayer = new Map(section.map((s) => [s.layer, s]));
  return boundedSensitivities(layers.map((name) => {
    const s = byLayer.get(name);
    if (!s) throw new RangeError(`sensitivity: expected an entry for quantized layer ${name}, got layers [${section.map((x) => x.layer)}]`);
    return s;
  }));
}
