// bitswitch Model at one precision → ONNX (opset 13) in QDQ form. Each quantized layer at bit l:
//   x → [Clip(0, (2^l − 1)·s_l) when l < 8] → QuantizeLinear(s_l, uint8 0) → DequantizeLinear
//   W̃_l (eq. 2, int8 OIHW / [N][K]) → DequantizeLinear(s_h · 2^(h−l) per channel, axis 0)
//   → Conv / Gemm (+ bias) in float32
// which is eq. 3-5 with the file's scales. The model input is NCHW float32 (normalised as the
// file's model expects); the format's H, W, C flatten is a Transpose to NHWC then Flatten.
import { doubleRoundAll, type Conv2DLayer, type DenseLayer, type Layer, type Model } from '@bitswitch/format';
import { analyseGraph, batchNormParams, batchNormSet, padBefore, resolvePrecision, type PrecisionSpec } from '@bitswitch/runtime';
import {
  DT, EXPORT_OPSET, floatValueInfo, intAttr, intsAttr, floatAttr, onnx, tensor, type NodeProto, type TensorProto,
} from './proto.ts';

export interface ExportResult {
  bytes: Uint8Array;
  /** The precision written: 'w4a4', 'mixed:[…]' or a SubNet name, and one bit per quantized layer. */
  label: string;
  bits: number[];
  inputName: string;
  outputName: string;
}

/** OHWI rows → OIHW. */
function oihw<T extends Float32Array | Int8Array>(rows: T, l: Conv2DLayer): T {
  const [kh, kw] = l.kernel;
  const I = l.inChannels;
  const out = new (rows.constructor as { new (n: number): T })(rows.length);
  for (let o = 0; o < l.outChannels; o++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) for (let c = 0; c < I; c++) {
    out[((o * I + c) * kh + y) * kw + x] = rows[((o * kh + y) * kw + x) * I + c];
  }
  return out;
}

/** The model at `precision` (a bit of the file's list, one bit per quantized layer, or a SubNet name) as QDQ ONNX bytes. */
export function exportOnnx(model: Model, precision: PrecisionSpec): ExportResult {
  const graph = analyseGraph(model);
  const p = resolvePrecision(model, graph.quantized.length, precision);
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const [H, W, C] = model.inputShape;
  /** ONNX rank of each format tensor: 4 (NCHW) or 2 ([N, F]). */
  const rank = new Map<string, number>([['input', 4]]);
  const node = (opType: string, name: string, input: string[], output: string[], attribute: NodeProto['attribute'] = []) => nodes.push({ opType, name, input, output, attribute });
  const f32 = (name: string, dims: number[], v: ArrayLike<number>) => { inits.push(tensor(name, DT.FLOAT, dims, Float32Array.from(v))); return name; };

  /** x quantized by eq. 4-5 at bit b with scale s: the DequantizeLinear output. */
  const quantizeInput = (l: Layer, x: string, b: number, s: number): string => {
    const scale = f32(`${l.name}/x_scale`, [], [s]);
    inits.push(tensor(`${l.name}/x_zero`, DT.UINT8, [], new Uint8Array(1)));
    let q = x;
    if (b < 8) {
      node('Clip', `${l.name}/x_clip`, [x, f32(`${l.name}/x_min`, [], [0]), f32(`${l.name}/x_max`, [], [Math.fround((2 ** b - 1) * s)])], [`${l.name}/x_clipped`]);
      q = `${l.name}/x_clipped`;
    }
    node('QuantizeLinear', `${l.name}/x_quantize`, [q, scale, `${l.name}/x_zero`], [`${l.name}/x_q`]);
    node('DequantizeLinear', `${l.name}/x_dequantize`, [`${l.name}/x_q`, scale, `${l.name}/x_zero`], [`${l.name}/x_dq`]);
    return `${l.name}/x_dq`;
  };

  /** The weight input of a conv/dense: float32, or W̃_l dequantized by DequantizeLinear. */
  const weightInput = (l: Conv2DLayer | DenseLayer, bit: number | undefined): string => {
    const n = l.op === 'conv2d' ? l.outChannels : l.outFeatures;
    const dims = l.op === 'conv2d' ? [n, l.inChannels, ...l.kernel] : [n, l.inFeatures];
    const w = l.weights;
    if (w.kind === 'float') return f32(`${l.name}/W`, dims, l.op === 'conv2d' ? oihw(w.values, l) : w.values);
    const wl = doubleRoundAll(w.values, w.bits, bit!);
    inits.push(tensor(`${l.name}/W_q`, DT.INT8, dims, l.op === 'conv2d' ? oihw(wl, l) : wl));
    const step = 2 ** (w.bits - bit!);
    const perChannel = w.scale.length > 1;
    f32(`${l.name}/W_scale`, perChannel ? [n] : [], Array.from(w.scale, (s) => Math.fround(s * step)));
    inits.push(tensor(`${l.name}/W_zero`, DT.INT8, perChannel ? [n] : [], new Int8Array(w.scale.length)));
    node('DequantizeLinear', `${l.name}/W_dequantize`, [`${l.name}/W_q`, `${l.name}/W_scale`, `${l.name}/W_zero`], [`${l.name}/W_dq`], perChannel ? [intAttr('axis', 0)] : []);
    return `${l.name}/W_dq`;
  };

  for (const l of model.layers) {
    const x = l.inputs[0];
    const xr = rank.get(x)!;
    let r = xr;
    switch (l.op) {
      case 'conv2d':
      case 'dense': {
        const qi = graph.quantIndex.get(l.name);
        const bit = qi === undefined ? undefined : p.bits[qi];
        const xin = qi === undefined || l.weights.kind !== 'int' ? x : quantizeInput(l, x, bit!, l.weights.actScales[p.bitIndex[qi]]);
        const ins = [xin, weightInput(l, bit), ...(l.bias ? [f32(`${l.name}/B`, [l.bias.length], l.bias)] : [])];
        if (l.op === 'conv2d') {
          const s = graph.shapes.get(x)!;
          const pads = [0, 1].map((a) => {
            const { out, pad } = padBefore(s[a], l.kernel[a], l.strides[a], l.padding);
            return [pad, Math.max((out - 1) * l.strides[a] + l.kernel[a] - s[a], 0) - pad];
          });
          node('Conv', l.name, ins, [l.name], [
            intsAttr('kernel_shape', l.kernel), intsAttr('strides', l.strides), intsAttr('pads', l.padding === 'valid' ? [0, 0, 0, 0] : [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]),
            intsAttr('dilations', [1, 1]), intAttr('group', 1),
          ]);
        } else {
          node('Gemm', l.name, ins, [l.name], [intAttr('transB', 1)]);
        }
        break;
      }
      case 'batchnorm': {
        const set = batchNormSet(l, graph.quantIndex, p.bitIndex, model.bits.length);
        const c = l.channels;
        const prm = batchNormParams(l, set, p.bn);
        const part = (j: number, f: string) => f32(`${l.name}/${f}`, [c], prm.subarray(j * c, (j + 1) * c));
        node('BatchNormalization', l.name, [x, part(0, 'gamma'), part(1, 'beta'), part(2, 'mean'), part(3, 'var')], [l.name], [floatAttr('epsilon', l.epsilon)]);
        break;
      }
      case 'relu': node('Relu', l.name, [x], [l.name]); break;
      case 'add': node(l.inputs.length === 2 ? 'Add' : 'Sum', l.name, l.inputs, [l.name]); break;
      case 'avgpool': {
        const s = graph.shapes.get(x)!;
        const pads = [0, 1].map((a) => {
          const { out, pad } = padBefore(s[a], l.pool[a], l.strides[a], l.padding);
          return [pad, Math.max((out - 1) * l.strides[a] + l.pool[a] - s[a], 0) - pad];
        });
        node('AveragePool', l.name, [x], [l.name], [
          intsAttr('kernel_shape', l.pool), intsAttr('strides', l.strides), intAttr('count_include_pad', 0),
          intsAttr('pads', l.padding === 'valid' ? [0, 0, 0, 0] : [pads[0][0], pads[1][0], pads[0][1], pads[1][1]]),
        ]);
        break;
      }
      case 'globalavgpool':
        node('GlobalAveragePool', `${l.name}/pool`, [x], [`${l.name}/nc11`]);
        node('Flatten', l.name, [`${l.name}/nc11`], [l.name], [intAttr('axis', 1)]);
        r = 2;
        break;
      case 'flatten':
        if (xr === 4) {
          node('Transpose', `${l.name}/nhwc`, [x], [`${l.name}/nhwc`], [intsAttr('perm', [0, 2, 3, 1])]);
          node('Flatten', l.name, [`${l.name}/nhwc`], [l.name], [intAttr('axis', 1)]);
        } else node('Identity', l.name, [x], [l.name]);
        r = 2;
        break;
    }
    rank.set(l.name, r);
  }

  const last = model.layers[model.layers.length - 1].name;
  const outShape = graph.shapes.get(last)!;
  if (rank.get(last) !== 2) throw new RangeError(`model: the last layer '${last}' outputs a feature map [${outShape}]; ONNX export expects [N, classes] logits`);
  const proto = onnx.ModelProto.create({
    irVersion: 7, producerName: 'bitswitch', producerVersion: '1', opsetImport: [{ domain: '', version: EXPORT_OPSET }],
    docString: `bitswitch model at ${p.label} (bits per quantized layer [${p.bits}]) in QDQ form; input NCHW float32`,
    metadataProps: [{ key: 'bitswitch.precision', value: p.label }, { key: 'bitswitch.bits', value: JSON.stringify(p.bits) }],
    graph: { name: 'bitswitch', node: nodes, initializer: inits, input: [floatValueInfo('input', ['N', C, H, W])], output: [floatValueInfo(last, ['N', outShape[0]])] },
  });
  return { bytes: onnx.ModelProto.encode(proto).finish(), label: p.label, bits: p.bits, inputName: 'input', outputName: last };
}
