// A human-readable description of a model: what `bitswitch inspect` prints.
import { type InputDescriptor, type Model, quantizedLayers } from './model.ts';
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
  if (model.input) sections.push(`INPT (${describeInput(model.input)})`);
  if (model.sensitivity) sections.push(`SENS (${model.sensitivity.length} layers)`);
  if (model.subnets) {
    const withBn = model.subnets.filter((s) => s.bn).length;
    sections.push(`SUBN (${model.subnets.length} subnets${withBn ? `, ${withBn} with their own BatchNorm statistics` : ''})`);
  }
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

/** One line on how to feed a model: "mnist: NHWC 28x28x1 uint8 0..255, mean [0.1307], std [0.3081], 10 labels". */
export function describeInput(i: InputDescriptor): string {
  const labels = i.labels ? `, ${i.labels.length} labels` : '';
  return `${i.dataset ? `${i.dataset}: ` : ''}${i.layout} ${i.height}x${i.width}x${i.channels} ${i.dtype} ${i.range[0]}..${i.range[1]}, mean [${i.mean}], std [${i.std}]${labels}`;
}
