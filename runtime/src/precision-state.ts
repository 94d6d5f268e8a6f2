// What a precision sets up per matmul step: the weights at the step's bit (derived once per
// (layer, bit) and cached) and the epilogue with the scales, bias, BatchNorm set and
// requantization of that precision folded in.
import type { Model } from '@bitswitch/format';
import type { Epilogue, IntBackend, PreparedWeights } from './backend.ts';
import type { MatmulStep } from './compile.ts';
import { batchNormParams, batchNormSet, type GraphInfo } from './graph.ts';
import { matrixShape } from './ops/conv.ts';
import type { Precision } from './precision.ts';

/** What one precision needs per matmul step: weights (quantized steps) and the folded epilogue. */
export interface StepState {
  weights?: PreparedWeights; ep: Epilogue; abits: number; ascale: number;
  /** eq. 4 of the next step's input, written beside the float output (MatmulStep.codesFor). */
  nextCodes?: { scale: number; bits: number };
}

/** Prepared weights per (quantized layer, bit): derived from W̃_h as the reader delivered it, once. */
export class WeightCache {
  private readonly map = new Map<string, PreparedWeights>();

  constructor(private readonly graph: GraphInfo, private readonly backend: IntBackend) {}

  get(q: number, bit: number): PreparedWeights | undefined {
    return this.map.get(`${q}:${bit}`);
  }

  /** Layer q's weights at `bit`, derived now if not cached. */
  prepare(q: number, bit: number): PreparedWeights {
    const key = `${q}:${bit}`;
    let w = this.map.get(key);
    if (!w) {
      const l = this.graph.quantized[q];
      const wt = l.weights;
      if (wt.kind !== 'int') throw new Error('unreachable: float weights in a quantized layer');
      const [n, k] = matrixShape(l);
      w = this.backend.prepareWeights(wt.values, wt.bits, bit, n, k);
      this.map.set(key, w);
    }
    return w;
  }

  /** Bytes of every cached weight tensor. */
  get bytes(): number {
    let s = 0;
    for (const w of this.map.values()) s += w.bytes;
    return s;
  }

  clear(): void {
    for (const w of this.map.values()) w.dispose?.();
    this.map.clear();
  }
}

/** Folded epilogue of step s at precision p: scales of eq. 3 and eq. 5, bias, BatchNorm of the chosen set, requantization. */
export function stepState(model: Model, graph: GraphInfo, s: MatmulStep, p: Precision, cache: WeightCache): StepState {
  const [n] = matrixShape(s.layer);
  const wt = s.layer.weights;
  let wScale = Float32Array.of(1);
  let abits = 0;
  let ascale = 1;
  if (wt.kind === 'int') {
    const bit = p.bits[s.q];
    abits = bit;
    ascale = wt.actScales[p.bitIndex[s.q]];
    wScale = wt.scale.map((v) => v * 2 ** (wt.bits - bit)); // eq. 3
  }
  let mul: Float32Array | undefined;
  let add: Float32Array | undefined;
  if (s.bn) {
    const C = s.bn.channels;
    const set = batchNormSet(s.bn, graph.quantIndex, p.bitIndex, model.bits.length);
    const prm = batchNormParams(s.bn, set, p.bn);
    mul = new Float32Array(n);
    add = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      const g = prm[j] / Math.sqrt(prm[3 * C + j] + s.bn.epsilon);
      mul[j] = g;
      add[j] = prm[C + j] - prm[2 * C + j] * g;
    }
  }
  let requant: Epilogue['requant'];
  if (s.requantFor >= 0) {
    const c = graph.quantized[s.requantFor].weights;
    if (c.kind === 'int') requant = { scale: c.actScales[p.bitIndex[s.requantFor]], bits: p.bits[s.requantFor] };
  }
  let nextCodes: StepState['nextCodes'];
  if (s.codesFor >= 0) {
    const c = graph.quantized[s.codesFor].weights;
    if (c.kind === 'int') nextCodes = { scale: c.actScales[p.bitIndex[s.codesFor]], bits: p.bits[s.codesFor] };
  }
  const weights = s.q >= 0 ? cache.get(s.q, p.bits[s.q]) : undefined;
  return { weights, ep: { wScale, aScale: ascale, bias: s.layer.bias, mul, add, relu: s.relu, requant }, abits, ascale, nextCodes };
}
