// The search space of a model file: its quantized layers, sensitivity and weight perturbations.
import {
  dequantizeWeights, doubleRoundAll, layerCosts, quantizedLayers,
  type Conv2DLayer, type DenseLayer, type IntWeights, type Model,
} from '@bitswitch/format';
import type { LatencyTable, LayerStats, SearchSpace } from './budget.ts';

/** Stored weight shape [rows][cols] of a conv (OHWI) or dense ([out][in]) layer. */
export function weightShape(layer: Conv2DLayer | DenseLayer): [number, number] {
  return layer.op === 'conv2d'
    ? [layer.outChannels, layer.kernel[0] * layer.kernel[1] * layer.inChannels]
    : [layer.outFeatures, layer.inFeatures];
}

/**
 * ‖Ŵ_h − Ŵ_l‖² for one layer: the float weights W are not stored, so the perturbation is taken
 * relative to the highest-bit weights Ŵ_h (eq. 3 at l = h); Ŵ_l by Double Rounding (eq. 2-3).
 */
export function weightPerturbation(weights: IntWeights, rows: number, bits: number): number {
  const h = weights.bits;
  const high = dequantizeWeights(weights.values, weights.scale, h, h, rows);
  const low = dequantizeWeights(doubleRoundAll(weights.values, h, bits), weights.scale, h, bits, rows);
  let sum = 0;
  for (let i = 0; i < high.length; i++) sum += (high[i] - low[i]) ** 2;
  return sum;
}

/**
 * The cost side of a model's search space (shapes, MACs, fixed bytes, latency): enough for budget
 * metrics, no sensitivity needed. hessianTrace is 0 and params come from the weights.
 */
export function costSpaceFromModel(model: Model, latency?: LatencyTable): SearchSpace {
  const quantized = quantizedLayers(model);
  if (quantized.length === 0) throw new RangeError('model: expected at least one quantized layer, found none');
  // MACs from the graph's shapes (format's layerCosts), so BitOps never depend on who wrote the sensitivity.
  const macs = new Map(layerCosts(model).map((c) => [c.layer, c.macs]));
  const layers: LayerStats[] = quantized.map((layer) => {
    const [rows, cols] = weightShape(layer);
    return { name: layer.name, params: rows * cols, macs: macs.get(layer.name)!, hessianTrace: 0, rows, cols };
  });
  let fixedBytes = 0; // float32 weights of the full-precision layers
  for (const layer of model.layers) {
    if ((layer.op === 'conv2d' || layer.op === 'dense') && layer.weights.kind === 'float') fixedBytes += 4 * layer.weights.values.length;
  }
  return { bits: [...model.bits], layers, fixedBytes, latency };
}

/** Builds the search space from a model with a sensitivity section (Hessian traces per layer). */
export function searchSpaceFromModel(model: Model, latency?: LatencyTable): SearchSpace {
  const space = costSpaceFromModel(model, latency);
  const quantized = quantizedLayers(model);
  if (!model.sensitivity?.length) {
    throw new RangeError('model.sensitivity: expected one entry per quantized layer (Hessian trace, params, MACs), found none');
  }
  const byName = new Map(model.sensitivity.map((s) => [s.layer, s]));
  const layers: LayerStats[] = space.layers.map((layer) => {
    const s = byName.get(layer.name);
    if (!s) throw new RangeError(`model.sensitivity: expected an entry for quantized layer ${layer.name}, found none`);
    if (s.params !== layer.params) throw new RangeError(`model.sensitivity[${layer.name}].params: expected ${layer.params}, got ${s.params}`);
    if (!Number.isFinite(s.hessianTrace)) throw new RangeError(`model.sensitivity[${layer.name}].hessianTrace: expected a finite number, got ${s.hessianTrace}`);
    return { ...layer, hessianTrace: s.hessianTrace, ...(s.hessianTraceStdErr === undefined ? {} : { hessianTraceStdErr: s.hessianTraceStdErr }) };
  });
  const perturbation = quantized.map((layer, l) => {
    const w = layer.weights as IntWeights;
    return model.bits.map((b) => {
      if (b > w.bits) throw new RangeError(`model.bits: ${b} exceeds the stored bits ${w.bits} of layer ${layer.name}`);
      return weightPerturbation(w, layers[l].rows, b);
    });
  });
  return { ...space, layers, perturbation };
}
