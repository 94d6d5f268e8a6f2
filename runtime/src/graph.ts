// Static facts about a model's graph that both executors need: shapes, padding, which
// quantized layer each BatchNorm follows for its bit, and the input each layer reads.
import { inferShapes, quantizedLayers, type Conv2DLayer, type DenseLayer, type Layer, type Model } from '@bitswitch/format';

export type QuantLayer = Conv2DLayer | DenseLayer;

/** TF 'same'/'valid' padding along one axis: output size and amount before (top/left). */
export { padBefore } from '@bitswitch/kernels';

export interface GraphInfo {
  /** Shape of every tensor by name ('input' included), NHWC or [features], without batch. */
  shapes: Map<string, number[]>;
  /** Quantized layers in graph order; a precision is one bit per entry. */
  quantized: QuantLayer[];
  /** Index of a quantized layer in `quantized`, by name. */
  quantIndex: Map<string, number>;
  /** Number of layers reading each tensor (the output counts one extra reader). */
  readers: Map<string, number>;
}

const SIZE = (s: number[]) => s.reduce((a, b) => a * b, 1);

export function elementCount(shape: number[]): number {
  return SIZE(shape);
}

/** Validates what the executors rely on and returns the graph facts. Errors name the layer and field. */
export function analyseGraph(model: Model): GraphInfo {
  if (!Array.isArray(model.bits) || model.bits.length === 0) throw new RangeError('model.bits: expected a non-empty bit list');
  if (model.inputShape.length !== 3) throw new RangeError(`model.inputShape: expected [H, W, C], got [${model.inputShape}]`);
  if (model.layers.length === 0) throw new RangeError('model.layers: expected at least one layer');
  const known = new Set(['input']);
  for (const l of model.layers) {
    for (const i of l.inputs) {
      if (!known.has(i)) throw new RangeError(`layer ${l.name}.inputs: expected names of earlier layers or 'input', got '${i}'`);
    }
    const want = l.op === 'add' ? -1 : 1;
    if (want === 1 && l.inputs.length !== 1) throw new RangeError(`layer ${l.name}.inputs: expected 1 input for ${l.op}, got ${l.inputs.length}`);
    if (want === -1 && l.inputs.length < 2) throw new RangeError(`layer ${l.name}.inputs: expected at least 2 inputs for add, got ${l.inputs.length}`);
    known.add(l.name);
  }
  const shapes = inferShapes(model);
  const quantized = quantizedLayers(model);
  const quantIndex = new Map(quantized.map((q, i) => [q.name, i] as const));
  for (const q of quantized) {
    const w = q.weights;
    if (w.kind !== 'int') continue;
    if (w.actScales.length !== model.bits.length) {
      throw new RangeError(`layer ${q.name}.weights.actScales: expected ${model.bits.length} scales (one per model bit), got ${w.actScales.length}`);
    }
    for (const b of model.bits) {
      if (b > w.bits) throw new RangeError(`layer ${q.name}.weights.bits: expected >= every model bit (${model.bits}), got ${w.bits}`);
    }
  }
  for (const l of model.layers) checkLayer(l, shapes, quantIndex, model.bits.length);
  const readers = new Map<string, number>();
  for (const l of model.layers) for (const i of l.inputs) readers.set(i, (readers.get(i) ?? 0) + 1);
  const last = model.layers[model.layers.length - 1].name;
  readers.set(last, (readers.get(last) ?? 0) + 1);
  return { shapes, quantized, quantIndex, readers };
}

function checkLayer(l: Layer, shapes: Map<string, number[]>, quantIndex: Map<string, number>, nbits: number): void {
  const s = shapes.get(l.inputs[0])!;
  switch (l.op) {
    case 'conv2d':
      if (s.length !== 3 || s[2] !== l.inChannels) throw new RangeError(`layer ${l.name}: expected an input of [H, W, ${l.inChannels}], got [${s}]`);
      break;
    case 'dense':
      if (s.length !== 1 || s[0] !== l.inFeatures) throw new RangeError(`layer ${l.name}: expected an input of [${l.inFeatures}], got [${s}]`);
      break;
    case 'avgpool':
    case 'globalavgpool':
      if (s.length !== 3) throw new RangeError(`layer ${l.name}: expected an input of [H, W, C], got [${s}]`);
      break;
    case 'add':
      for (const i of l.inputs) {
        const t = shapes.get(i)!;
        if (t.join() !== s.join()) throw new RangeError(`layer ${l.name}: expected inputs of equal shape [${s}], got [${t}] from ${i}`);
      }
      break;
    case 'batchnorm': {
      const c = s[s.length - 1];
      if (c !== l.channels) throw new RangeError(`layer ${l.name}.channels: expected ${c} (input channels), got ${l.channels}`);
      const sel = l.select;
      const sets = sel.kind === 'single' ? 1 : sel.kind === 'per-bit' ? nbits : nbits * nbits;
      if (l.params.length !== sets * 4 * c) throw new RangeError(`layer ${l.name}.params: expected ${sets}·4·${c} = ${sets * 4 * c} values, got ${l.params.length}`);
      const refs = sel.kind === 'single' ? [] : sel.kind === 'per-bit' ? [sel.layer] : [sel.prev, sel.layer];
      for (const r of refs) {
        if (!quantIndex.has(r)) throw new RangeError(`layer ${l.name}.select: expected the name of a quantized layer, got '${r}'`);
      }
      break;
    }
    default:
      break;
  }
}

/** Index of the BatchNorm parameter set used when the quantized layers run at `bitIndex` (indices into model.bits). */
export function batchNormSet(l: Extract<Layer, { op: 'batchnorm' }>, quantIndex: Map<string, number>, bitIndex: number[], nbits: number): number {
  const sel = l.select;
  if (sel.kind === 'single') return 0;
  if (sel.kind === 'per-bit') return bitIndex[quantIndex.get(sel.layer)!];
  return bitIndex[quantIndex.get(sel.prev)!] * nbits + bitIndex[quantIndex.get(sel.layer)!]; // TBN
}

/**
 * γ, β, mean and variance ([4][channels]) of BatchNorm `l` at a precision: parameter set `set`,
 * with the mean and variance of a SubNet that carries its own statistics (format 1.3, SPEC §7.2).
 */
export function batchNormParams(l: Extract<Layer, { op: 'batchnorm' }>, set: number, subnetBn?: Readonly<Record<string, Float32Array>>): Float32Array {
  const C = l.channels;
  const p = l.params.subarray(set * 4 * C, (set + 1) * 4 * C);
  const stats = subnetBn?.[l.name];
  if (!stats) return p;
  const out = p.slice();
  out.set(stats, 2 * C);
  return out;
}
