// A human-readable description of a model: what `bitswitch inspect` prints.
import { type Model, quantizedLayers } from './model.ts';
import { inferShapes, layerCosts, weightBytes } from './shapes.ts';

export interface ModelSummary {
  bits: number[];
  mode: Model['mode'];
  inputShape: number[];
  layers: { name: string; op: string; inputs: string[]; output: number[]; detail: string }[];
  quantizedLayers: number;
  params: number;
  macs: number;
  /** Weight bytes when every quantized layer runs at each uniform bit of the list. */
  bytesAtBits: { bits: number; bytes: number }[];
  sections: string[];
}

export function describeModel(model: Model): ModelSummary {
  const shapes = inferShapes(model);
  const costs = layerCosts(model);
  const detail = (l: Model['layers'][number]): string => {
    switch (l.op) {
      case 'conv2d':
      case 'dense': {
        const shape = l.op === 'conv2d'
          ? `${l.kernel[0]}x${l.kernel[1]} ${l.inChannels}->${l.outChannels} s${l.strides.join('x')} ${l.padding}`
          : `${l.inFeatures}->${l.outFeatures}`;
        const w = l.weights.kind === 'int'
          ? `int${l.weights.bits}, scale per ${l.weights.scale.length === 1 ? 'tensor' : 'channel'}`
          : 'float32';
        return `${shape}, ${w}${l.bias ? ', bias' : ''}`;
      }
      case 'batchnorm':
        return l.select.kind === 'single' ? 'single' : l.select.kind === 'per-bit'
          ? `per bit of ${l.select.layer}` : `per (${l.select.prev}, ${l.select.layer}) pair`;
      case 'avgpool':
        return `${l.pool.join('x')} s${l.strides.join('x')} ${l.padding}`;
      default:
        return '';
    }
  };
  const sections = ['GRPH', 'TENS'];
  if (model.sensitivity) sections.push(`SENS (${model.sensitivity.length} layers)`);
  if (model.subnets) sections.push(`SUBN (${model.subnets.length} subnets)`);
  if (model.metadata) sections.push(`META (${Object.keys(model.metadata).join(', ')})`);
  return {
    bits: model.bits,
    mode: model.mode,
    inputShape: model.inputShape,
    layers: model.layers.map((l) => ({ name: l.name, op: l.op, inputs: l.inputs, output: shapes.get(l.name)!, detail: detail(l) })),
    quantizedLayers: quantizedLayers(model).length,
    params: costs.reduce((s, c) => s + c.params, 0),
    macs: costs.reduce((s, c) => s + c.macs, 0),
    bytesAtBits: model.bits.map((b) => ({ bits: b, bytes: weightBytes(model, b) })),
    sections,
  };
}
