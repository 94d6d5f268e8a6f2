// Output shapes of a validated Model's layers (NHWC without batch), and their cost.
import type { Model, Padding } from './model.ts';
import { packedBytes } from './pack.ts';

/** TF rule: 'same' → ceil(size / s); 'valid' → ceil((size - k + 1) / s). */
export function outputSize(size: number, k: number, s: number, padding: Padding): number {
  return padding === 'same' ? Math.ceil(size / s) : Math.ceil((size - k + 1) / s);
}

/** Output shape of every layer by name ('input' included). Assumes a model that readModel accepted. */
export function inferShapes(model: Model): Map<string, number[]> {
  const shapes = new Map<string, number[]>([['input', model.inputShape]]);
  for (const l of model.layers) {
    const s = shapes.get(l.inputs[0])!;
    let out: number[];
    switch (l.op) {
      case 'conv2d':
        out = [outputSize(s[0], l.kernel[0], l.strides[0], l.padding), outputSize(s[1], l.kernel[1], l.strides[1], l.padding), l.outChannels];
        break;
      case 'avgpool':
        out = [outputSize(s[0], l.pool[0], l.strides[0], l.padding), outputSize(s[1], l.pool[1], l.strides[1], l.padding), s[2]];
        break;
      case 'dense': out = [l.outFeatures]; break;
      case 'globalavgpool': out = [s[2]]; break;
      case 'flatten': out = [s.reduce((a, b) => a * b, 1)]; break;
      default: out = s;
    }
    shapes.set(l.name, out);
  }
  return shapes;
}

export interface LayerCost {
  layer: string;
  op: 'conv2d' | 'dense';
  quantized: boolean;
  /** Output channels N and reduction length K of the layer's [N][K] weight matrix. */
  n: number;
  k: number;
  params: number;
  /** Multiply-accumulates for one input image. */
  macs: number;
}

/** Parameter count and MACs per conv2d/dense layer, in graph order. */
export function layerCosts(model: Model): LayerCost[] {
  const shapes = inferShapes(model);
  const out: LayerCost[] = [];
  for (const l of model.layers) {
    if (l.op !== 'conv2d' && l.op !== 'dense') continue;
    const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
    const k = l.op === 'conv2d' ? l.kernel[0] * l.kernel[1] * l.inChannels : l.inFeatures;
    const o = shapes.get(l.name)!;
    const positions = l.op === 'conv2d' ? o[0] * o[1] : 1;
    out.push({ layer: l.name, op: l.op, quantized: l.weights.kind === 'int', n, k, params: n * k, macs: positions * n * k });
  }
  return out;
}

/** Bytes of all weights when each quantized layer is packed at its bit (float layers at 4 bytes each). */
export function weightBytes(model: Model, bitsPerQuantizedLayer: number[] | number): number {
  let q = 0;
  let bytes = 0;
  for (const c of layerCosts(model)) {
    if (!c.quantized) { bytes += c.params * 4; continue; }
    const b = typeof bitsPerQuantizedLayer === 'number' ? bitsPerQuantizedLayer : bitsPerQuantizedLayer[q];
    q++;
    bytes += packedBytes(c.n, c.k, b);
  }
  return bytes;
}
