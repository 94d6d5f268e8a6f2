// Reading a float ONNX CNN into the format's layers, all weights float32 and every
// BatchNormalization kept as a layer of its own (import folds them; `train --init` maps them).
// ONNX is NCHW with OIHW filters; the format is NHWC with OHWI rows ([N][K], SPEC §3.1), and its
// flatten runs in H, W, C order where ONNX's runs in C, H, W order, so a Gemm/MatMul that reads a
// flattened feature map gets its columns permuted.
import { padBefore } from '@bitswitch/runtime';
import type { AvgPoolLayer, Conv2DLayer, DenseLayer, Layer, Padding } from '@bitswitch/format';
import {
  attributes, attrFloat, attrInt, attrInts, attrString, floatValues, intValues, onnx, tensorDims,
  type ModelProto, type NodeProto, type TensorProto,
} from './proto.ts';

/** The ops `import` reads; anything else is refused with the op and node named. */
export const SUPPORTED_OPS = [
  'Conv', 'Gemm', 'MatMul', 'Add', 'BatchNormalization', 'Relu', 'AveragePool', 'GlobalAveragePool',
  'Flatten', 'Reshape', 'Identity', 'Dropout',
] as const;

export interface ParsedOnnx {
  /** [H, W, C] of one image. */
  inputShape: [number, number, number];
  /** Format layers in execution order, weights float, BatchNorm `single`. */
  layers: Layer[];
  /** Name of the ONNX graph input and output. */
  inputName: string;
  outputName: string;
  /** Conv layers whose kernel was widened with zeros to express ONNX pads as TF 'same' (name → original kernel). */
  widened: Map<string, [number, number]>;
  producer: string;
}

/** What a tensor of the ONNX graph is in the format's graph. */
interface Value {
  /** Format layer producing it ('input' for the graph input). */
  layer: string;
  /** Format shape without batch: [H, W, C] or [F]. */
  shape: number[];
  /** Set on [F] values flattened from an [H, W, C] map: ONNX holds them in C, H, W order. */
  chw?: [number, number, number];
}

const nodeLabel = (n: NodeProto, i: number) => `${n.opType} node '${n.name || n.output?.[0] || `#${i}`}'`;

/** Decodes ONNX bytes; `file` names the source in errors. */
export function decodeOnnx(bytes: Uint8Array, file = 'model'): ModelProto {
  let m: ModelProto;
  try {
    m = onnx.ModelProto.decode(bytes);
  } catch (e) {
    throw new RangeError(`${file}: not an ONNX model (protobuf: ${(e as Error).message.split('\n')[0]}) — expected a .onnx file`);
  }
  if (!m.graph || !(m.graph.node ?? []).length) throw new RangeError(`${file}: not an ONNX model (no graph nodes) — expected a .onnx file`);
  return m;
}

/** TF 'same' padding of one axis: before, after and output size. */
function samePads(size: number, k: number, s: number): { before: number; after: number; out: number } {
  const { out, pad } = padBefore(size, k, s, 'same');
  return { before: pad, after: Math.max((out - 1) * s + k - size, 0) - pad, out };
}

/**
 * Maps ONNX pads of a window op onto the format's 'same' or 'valid'. Explicit pads that are neither
 * (e.g. PyTorch's padding=1 for a stride-2 3×3 conv on an even size, 1 before and 1 after where TF
 * pads 0 and 1) can still be expressed exactly for a conv by a kernel widened with trailing zeros,
 * whose TF padding matches: returns the kernel to use.
 */
function windowPadding(
  what: string, hw: [number, number], kernel: [number, number], strides: [number, number], pads: number[], autoPad: string, widen: boolean,
): { padding: Padding; kernel: [number, number] } {
  if (autoPad === 'VALID') return { padding: 'valid', kernel };
  if (autoPad === 'SAME_UPPER') return { padding: 'same', kernel };
  if (autoPad !== 'NOTSET' && autoPad !== 'SAME_LOWER') throw new RangeError(`${what}: auto_pad: expected NOTSET, SAME_UPPER or VALID, got ${autoPad}`);
  if (autoPad === 'SAME_LOWER') {
    const p = [0, 1].map((a) => samePads(hw[a], kernel[a], strides[a]));
    pads = [p[0].after, p[1].after, p[0].before, p[1].before];
  }
  if (pads.every((p) => p === 0)) return { padding: 'valid', kernel };
  const out: [number, number] = [0, 0];
  for (let a = 0; a < 2; a++) {
    const onnxOut = Math.floor((hw[a] + pads[a] + pads[a + 2] - kernel[a]) / strides[a]) + 1;
    let k = kernel[a];
    const fits = (kk: number) => { const p = samePads(hw[a], kk, strides[a]); return p.out === onnxOut && p.before === pads[a]; };
    while (widen && !fits(k) && k < kernel[a] + strides[a]) k++;
    if (!fits(k)) {
      const p = samePads(hw[a], kernel[a], strides[a]);
      throw new RangeError(`${what}: pads [${pads}] on a ${hw[0]}×${hw[1]} input: expected TF 'same' (${p.before} before, ${p.after} after on this axis) or all zero — the format pads only that way`);
    }
    out[a] = k;
  }
  return { padding: 'same', kernel: out };
}

/** OIHW filter → OHWI rows, widened to kernel `kw` with trailing zeros. */
function ohwi(w: Float32Array, o: number, i: number, kh: number, kw: number, to: [number, number]): Float32Array {
  const [th, tw] = to;
  const out = new Float32Array(o * th * tw * i);
  for (let n = 0; n < o; n++) for (let c = 0; c < i; c++) for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) {
    out[((n * th + y) * tw + x) * i + c] = w[((n * i + c) * kh + y) * kw + x];
  }
  return out;
}

/** Dense rows [N][K] whose K reads an ONNX C, H, W flatten → K in the format's H, W, C order. */
function hwcColumns(rows: Float32Array, n: number, chw: [number, number, number]): Float32Array {
  const [C, H, W] = chw;
  const k = C * H * W;
  const out = new Float32Array(rows.length);
  for (let r = 0; r < n; r++) for (let c = 0; c < C; c++) for (let p = 0; p < H * W; p++) out[r * k + p * C + c] = rows[r * k + c * H * W + p];
  return out;
}

/** A float ONNX CNN as format layers (float weights, BatchNorm kept). Errors name the op and node. */
export function parseOnnx(bytes: Uint8Array, file = 'model'): ParsedOnnx {
  const m = decodeOnnx(bytes, file);
  const g = m.graph!;
  const consts = new Map<string, TensorProto>((g.initializer ?? []).map((t) => [t.name ?? '', t]));
  const inputs = (g.input ?? []).filter((v) => !consts.has(v.name ?? ''));
  if (inputs.length !== 1) throw new RangeError(`${file}: graph inputs: expected one image input, got ${inputs.length} (${inputs.map((v) => v.name).join(', ')})`);
  const input = inputs[0];
  const dims = (input.type?.tensorType?.shape?.dim ?? []).map((d) => Number(d.dimValue ?? 0));
  if (dims.length !== 4 || dims.slice(1).some((d) => !(d > 0))) {
    throw new RangeError(`${file}: input '${input.name}': expected shape [N, C, H, W] with fixed C, H, W, got [${dims.map((d) => d || '?')}]`);
  }
  const [, C, H, W] = dims;
  if ((g.output ?? []).length !== 1) throw new RangeError(`${file}: graph outputs: expected one (the logits), got ${(g.output ?? []).length}`);

  const values = new Map<string, Value>([[input.name ?? '', { layer: 'input', shape: [H, W, C] }]]);
  const layers: Layer[] = [];
  const widened = new Map<string, [number, number]>();
  const used = new Set(['input']);
  const uniqueName = (raw: string) => {
    let base = (raw || 'layer').replace(/[^\w.\-/:]/g, '_').slice(0, 120);
    if (base === 'input') base = 'input_';
    let name = base;
    for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
    used.add(name);
    return name;
  };
  const push = (l: Layer, out: string, shape: number[], chw?: [number, number, number]) => {
    layers.push(l);
    values.set(out, { layer: l.name, shape, ...(chw ? { chw } : {}) });
  };

  (g.node ?? []).forEach((node, idx) => {
    const what = nodeLabel(node, idx);
    if (node.domain && node.domain !== 'ai.onnx') throw new RangeError(`${what}: domain '${node.domain}' is not supported — bitswitch import reads the default ONNX domain only`);
    if (node.opType === 'Constant') {
      const t = attributes(node).get('value')?.t;
      if (!t) throw new RangeError(`${what}: expected a 'value' tensor attribute`);
      consts.set(node.output![0], t);
      return;
    }
    const op = node.opType ?? '';
    if (!(SUPPORTED_OPS as readonly string[]).includes(op)) {
      const hint = op === 'MaxPool' ? ' (format v1 has no max pooling: replace it with AveragePool or a strided Conv and retrain)' : '';
      throw new RangeError(`${what}: op ${op} is not supported${hint} — bitswitch import reads ${SUPPORTED_OPS.join(', ')}`);
    }
    const ins = node.input ?? [];
    const out = node.output?.[0] ?? '';
    const attrs = attributes(node);
    const valueOf = (name: string): Value => {
      const v = values.get(name);
      if (!v) throw new RangeError(`${what}: input '${name}': expected the output of an earlier node or the graph input${consts.has(name) ? ' (a constant here)' : ''}`);
      return v;
    };
    const constOf = (name: string | undefined, field: string): Float32Array => {
      const t = name ? consts.get(name) : undefined;
      if (!t) throw new RangeError(`${what}: ${field} '${name ?? ''}': expected a constant (initializer) — weights computed at run time are not supported`);
      return floatValues(t, `${what}: ${field}`);
    };
    const constDims = (name: string) => tensorDims(consts.get(name)!);
    const name = uniqueName(node.name || out);

    switch (op) {
      case 'Identity':
      case 'Dropout':
        values.set(out, valueOf(ins[0]));
        return;
      case 'Relu': {
        const x = valueOf(ins[0]);
        push({ name, op: 'relu', inputs: [x.layer] }, out, x.shape, x.chw);
        return;
      }
      case 'Conv': {
        const x = valueOf(ins[0]);
        if (x.shape.length !== 3) throw new RangeError(`${what}: expected a [N, C, H, W] input, got a flat one of ${x.shape[0]} features`);
        const w = constOf(ins[1], 'W');
        const [O, I, kh, kw] = constDims(ins[1]!);
        const group = attrInt(attrs, 'group', 1);
        if (group !== 1) throw new RangeError(`${what}: group ${group}: expected 1 — grouped and depthwise convolutions are not in format v1`);
        if (I !== x.shape[2]) throw new RangeError(`${what}: W has ${I} input channels, expected ${x.shape[2]} (channels of its input)`);
        const dil = attrInts(attrs, 'dilations') ?? [1, 1];
        if (dil.some((d) => d !== 1)) throw new RangeError(`${what}: dilations [${dil}]: expected [1, 1] — dilated convolutions are not in format v1`);
        const strides = (attrInts(attrs, 'strides') ?? [1, 1]) as [number, number];
        const p = windowPadding(what, [x.shape[0], x.shape[1]], [kh, kw], strides, attrInts(attrs, 'pads') ?? [0, 0, 0, 0], attrString(attrs, 'auto_pad', 'NOTSET'), true);
        if (p.kernel[0] !== kh || p.kernel[1] !== kw) widened.set(name, [kh, kw]);
        const layer: Conv2DLayer = {
          name, op: 'conv2d', inputs: [x.layer], kernel: p.kernel, strides, padding: p.padding, inChannels: I, outChannels: O,
          weights: { kind: 'float', values: ohwi(w, O, I, kh, kw, p.kernel) },
          ...(ins[2] ? { bias: constOf(ins[2], 'B') } : {}),
        };
        const [h, ww] = [0, 1].map((a) => padBefore(x.shape[a], p.kernel[a], strides[a], p.padding).out);
        if (!(h >= 1 && ww >= 1)) throw new RangeError(`${what}: a ${p.kernel.join('×')} window does not fit a ${x.shape[0]}×${x.shape[1]} input`);
        push(layer, out, [h, ww, O]);
        return;
      }
      case 'Gemm':
      case 'MatMul': {
        const x = valueOf(ins[0]);
        if (x.shape.length !== 1) throw new RangeError(`${what}: expected a [N, features] input (add a Flatten before it), got [N, ${x.shape.slice(2)}, ${x.shape.slice(0, 2)}]`);
        if (op === 'Gemm' && attrInt(attrs, 'transA', 0) !== 0) throw new RangeError(`${what}: transA 1: expected 0`);
        const b = constOf(ins[1], 'B');
        const bd = constDims(ins[1]!);
        if (bd.length !== 2) throw new RangeError(`${what}: B has dims [${bd}], expected a matrix`);
        const transB = op === 'Gemm' && attrInt(attrs, 'transB', 0) === 1;
        const [K, N] = transB ? [bd[1], bd[0]] : bd;
        if (K !== x.shape[0]) throw new RangeError(`${what}: B has ${K} input features, expected ${x.shape[0]}`);
        const alpha = op === 'Gemm' ? attrFloat(attrs, 'alpha', 1) : 1;
        let rows: Float32Array = new Float32Array(N * K);
        for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) rows[n * K + k] = alpha * (transB ? b[n * K + k] : b[k * N + n]);
        if (x.chw) rows = hwcColumns(rows, N, x.chw);
        const layer: DenseLayer = { name, op: 'dense', inputs: [x.layer], inFeatures: K, outFeatures: N, weights: { kind: 'float', values: rows } };
        if (op === 'Gemm' && ins[2]) layer.bias = biasVector(constOf(ins[2], 'C'), N, attrFloat(attrs, 'beta', 1), what);
        push(layer, out, [N]);
        return;
      }
      case 'Add': {
        const constIn = ins.findIndex((i) => consts.has(i));
        if (constIn >= 0) {
          // MatMul + Add(bias), as exporters write a Linear layer
          const x = valueOf(ins[1 - constIn]);
          const prev = layers[layers.length - 1];
          if (!prev || prev.name !== x.layer || prev.op !== 'dense' || prev.bias) {
            throw new RangeError(`${what}: adding a constant is supported only as the bias of the MatMul right before it`);
          }
          prev.bias = biasVector(constOf(ins[constIn], 'bias'), prev.outFeatures, 1, what);
          values.set(out, x);
          return;
        }
        const [a, b] = [valueOf(ins[0]), valueOf(ins[1])];
        if (a.shape.join() !== b.shape.join() || String(a.chw) !== String(b.chw)) throw new RangeError(`${what}: inputs of shape [${a.shape}] and [${b.shape}] (NHWC): expected equal shapes (no broadcasting)`);
        push({ name, op: 'add', inputs: [a.layer, b.layer] }, out, a.shape, a.chw);
        return;
      }
      case 'BatchNormalization': {
        const x = valueOf(ins[0]);
        if (x.chw && x.chw[1] * x.chw[2] > 1) throw new RangeError(`${what}: a BatchNormalization of a flattened feature map is not supported — put it before the Flatten`);
        const c = x.shape[x.shape.length - 1];
        const params = new Float32Array(4 * c);
        ['scale', 'B', 'mean', 'var'].forEach((f, j) => {
          const v = constOf(ins[j + 1], f);
          if (v.length !== c) throw new RangeError(`${what}: ${f} has ${v.length} values, expected ${c} (channels)`);
          params.set(v, j * c);
        });
        push({ name, op: 'batchnorm', inputs: [x.layer], channels: c, epsilon: attrFloat(attrs, 'epsilon', 1e-5), select: { kind: 'single' }, params }, out, x.shape);
        return;
      }
      case 'AveragePool': {
        const x = valueOf(ins[0]);
        if (x.shape.length !== 3) throw new RangeError(`${what}: expected a [N, C, H, W] input`);
        const pool = attrInts(attrs, 'kernel_shape') as [number, number];
        const strides = (attrInts(attrs, 'strides') ?? [1, 1]) as [number, number];
        const pads = attrInts(attrs, 'pads') ?? [0, 0, 0, 0];
        if (attrInt(attrs, 'ceil_mode', 0) !== 0) throw new RangeError(`${what}: ceil_mode 1: expected 0`);
        if (attrInt(attrs, 'count_include_pad', 0) !== 0 && pads.some((p) => p !== 0)) throw new RangeError(`${what}: count_include_pad 1: expected 0 — the format averages over the valid elements only`);
        if ((attrInts(attrs, 'dilations') ?? [1, 1]).some((d) => d !== 1)) throw new RangeError(`${what}: dilations: expected [1, 1]`);
        const p = windowPadding(what, [x.shape[0], x.shape[1]], pool, strides, pads, attrString(attrs, 'auto_pad', 'NOTSET'), false);
        const layer: AvgPoolLayer = { name, op: 'avgpool', inputs: [x.layer], pool, strides, padding: p.padding };
        const hw = [0, 1].map((a) => padBefore(x.shape[a], pool[a], strides[a], p.padding).out);
        if (!(hw[0] >= 1 && hw[1] >= 1)) throw new RangeError(`${what}: a ${pool.join('×')} window does not fit a ${x.shape[0]}×${x.shape[1]} input`);
        push(layer, out, [hw[0], hw[1], x.shape[2]]);
        return;
      }
      case 'GlobalAveragePool': {
        const x = valueOf(ins[0]);
        if (x.shape.length !== 3) throw new RangeError(`${what}: expected a [N, C, H, W] input`);
        push({ name, op: 'globalavgpool', inputs: [x.layer] }, out, [x.shape[2]]);
        return;
      }
      case 'Flatten':
      case 'Reshape': {
        const x = valueOf(ins[0]);
        if (op === 'Flatten' && attrInt(attrs, 'axis', 1) !== 1) throw new RangeError(`${what}: axis ${attrInt(attrs, 'axis', 1)}: expected 1`);
        if (op === 'Reshape') {
          const t = consts.get(ins[1] ?? '');
          if (!t) throw new RangeError(`${what}: shape '${ins[1]}': expected a constant — computed shapes (Shape → Gather → Concat) are not supported; export with torch.flatten`);
          const s = intValues(t, `${what}: shape`);
          const F = x.shape.reduce((a, b) => a * b, 1);
          if (s.length !== 2 || !(s[0] === 0 || s[0] === -1 || s[0] >= 1) || !(s[1] === -1 || s[1] === F)) {
            throw new RangeError(`${what}: shape [${s}]: expected a flatten to [N, ${F}] — other reshapes are not supported`);
          }
        }
        if (x.shape.length === 1) { values.set(out, x); return; }
        const [h, w, c] = x.shape;
        push({ name, op: 'flatten', inputs: [x.layer] }, out, [h * w * c], h * w > 1 && c > 1 ? [c, h, w] : undefined);
        return;
      }
    }
  });

  const outputName = g.output![0].name ?? '';
  const result = values.get(outputName);
  if (!result || result.layer === 'input') throw new RangeError(`${file}: graph output '${outputName}': expected the output of a node`);
  if (result.layer !== layers[layers.length - 1].name) throw new RangeError(`${file}: graph output '${outputName}': expected the last node's output (nodes after it compute nothing the model returns)`);
  if (result.shape.length !== 1) throw new RangeError(`${file}: graph output '${outputName}': expected [N, classes] logits, got a feature map`);
  const producer = [m.producerName, m.producerVersion].filter(Boolean).join(' ');
  return { inputShape: [H, W, C], layers, inputName: input.name ?? '', outputName, widened, producer };
}

function biasVector(v: Float32Array, n: number, beta: number, what: string): Float32Array {
  if (v.length !== n && v.length !== 1) throw new RangeError(`${what}: bias has ${v.length} values, expected ${n}`);
  return Float32Array.from({ length: n }, (_, i) => beta * v[v.length === 1 ? 0 : i]);
}
