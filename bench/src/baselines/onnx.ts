// The folded network as ONNX (opset 13, written with onnx-proto): float32, and int8 QDQ (uint8
// activations per tensor, int8 weights per channel, int32 bias; Q once per tensor, DQ per
// consumer, as ORT's quantizer emits), run on onnxruntime-web's wasm backend with
// graphOptimizationLevel 'all', which turns the QDQ groups into QLinearConv / QLinearAdd.
import onnxProto from 'onnx-proto';
import type * as Ort from 'onnxruntime-web';
import type { ConvNode, Engine, FoldedNetwork, Int8Calibration } from './network.ts';

// onnx-proto is CommonJS: its default import is module.exports, in Node and in a bundle alike.
const { onnx } = onnxProto;

type NodeProto = import('onnx-proto').onnx.INodeProto;
type TensorProto = import('onnx-proto').onnx.ITensorProto;
const DT = onnx.TensorProto.DataType;
const AT = onnx.AttributeProto.AttributeType;

const bytes = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const init = (name: string, dataType: number, dims: number[], data: ArrayBufferView): TensorProto => ({ name, dims, dataType, rawData: bytes(data) });
const ints = (name: string, v: number[]) => ({ name, type: AT.INTS, ints: v });
const int = (name: string, v: number) => ({ name, type: AT.INT, i: v });

/** OHWI → OIHW. */
function oihw(n: ConvNode, w: Float32Array | Int8Array): Float32Array | Int8Array {
  const out = new (w.constructor as Float32ArrayConstructor | Int8ArrayConstructor)(w.length);
  const { cout, cin, k } = n;
  for (let o = 0; o < cout; o++) for (let y = 0; y < k; y++) for (let x = 0; x < k; x++) for (let i = 0; i < cin; i++) {
    out[((o * cin + i) * k + y) * k + x] = w[((o * k + y) * k + x) * cin + i];
  }
  return out;
}

const convAttrs = (n: ConvNode) => [
  ints('kernel_shape', [n.k, n.k]), ints('strides', [n.stride, n.stride]),
  ints('pads', [n.pads[0], n.pads[1], n.pads[2], n.pads[3]]), ints('dilations', [1, 1]), int('group', 1),
];

function finish(net: FoldedNetwork, name: string, node: NodeProto[], initializer: TensorProto[]): Uint8Array {
  const [H, W, C] = net.inputShape;
  const classes = net.shapes.get(net.output)![0];
  const vi = (n: string, dims: (number | string)[]) => ({
    name: n, type: { tensorType: { elemType: DT.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
  const model = onnx.ModelProto.create({
    irVersion: 7, producerName: 'bitswitch bench', opsetImport: [{ domain: '', version: 13 }],
    graph: { name, node, initializer, input: [vi('input', ['N', C, H, W])], output: [vi(net.output, ['N', classes])] },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Flatten + Gemm for the float dense head on `x`, [N, C, 1, 1] or [N, C]. */
function denseTail(net: FoldedNetwork, nodes: NodeProto[], inits: TensorProto[], x: string, flatten: boolean): void {
  for (const n of net.nodes) {
    if (n.op !== 'dense') continue;
    const input = flatten ? `${x}_flat` : x;
    if (flatten) nodes.push({ opType: 'Flatten', input: [x], output: [input], attribute: [int('axis', 1)] });
    inits.push(init(`${n.name}_w`, DT.FLOAT, [n.cout, n.cin], n.weights), init(`${n.name}_b`, DT.FLOAT, [n.cout], n.bias));
    nodes.push({ opType: 'Gemm', input: [input, `${n.name}_w`, `${n.name}_b`], output: [n.name], attribute: [int('transB', 1)] });
  }
}

function checkShape(net: FoldedNetwork): void {
  const last = net.nodes[net.nodes.length - 1];
  const order = net.nodes.map((n) => n.op).join(',');
  if (last.op !== 'dense' || !/globalavgpool,dense$/.test(order)) throw new RangeError(`network: expected it to end with globalavgpool then dense, got ${order}`);
}

/** float32 ONNX model of the folded network. */
export function onnxFloat32(net: FoldedNetwork): Uint8Array {
  checkShape(net);
  const nodes: NodeProto[] = [], inits: TensorProto[] = [];
  let pooled = '';
  for (const n of net.nodes) {
    if (n.op === 'conv') {
      inits.push(init(`${n.name}_w`, DT.FLOAT, [n.cout, n.cin, n.k, n.k], oihw(n, n.weights)), init(`${n.name}_b`, DT.FLOAT, [n.cout], n.bias));
      const out = n.relu ? `${n.name}_pre` : n.name;
      nodes.push({ opType: 'Conv', input: [n.input, `${n.name}_w`, `${n.name}_b`], output: [out], attribute: convAttrs(n) });
      if (n.relu) nodes.push({ opType: 'Relu', input: [out], output: [n.name] });
    } else if (n.op === 'add') {
      const out = n.relu ? `${n.name}_pre` : n.name;
      nodes.push({ opType: 'Add', input: n.inputs, output: [out] });
      if (n.relu) nodes.push({ opType: 'Relu', input: [out], output: [n.name] });
    } else if (n.op === 'globalavgpool') {
      nodes.push({ opType: 'GlobalAveragePool', input: [n.input], output: [n.name] });
      pooled = n.name;
    }
  }
  denseTail(net, nodes, inits, pooled, true);
  return finish(net, 'folded_f32', nodes, inits);
}

/** int8 QDQ ONNX model of the folded network with calibration `cal`. */
export function onnxInt8Qdq(net: FoldedNetwork, cal: Int8Calibration): Uint8Array {
  checkShape(net);
  const nodes: NodeProto[] = [], inits: TensorProto[] = [];
  const done = new Set<string>();
  let dq = 0;
  const qparams = (t: string) => {
    if (done.has(t)) return;
    const a = cal.acts.get(t);
    if (!a) throw new RangeError(`calibration: no range for tensor ${t}`);
    inits.push(init(`${t}_s`, DT.FLOAT, [], new Float32Array([a.scale])), init(`${t}_z`, DT.UINT8, [], new Uint8Array([a.zero])));
    done.add(t);
  };
  const Q = (t: string, src: string) => { qparams(t); nodes.push({ opType: 'QuantizeLinear', input: [src, `${t}_s`, `${t}_z`], output: [`${t}_q`] }); };
  const DQ = (t: string) => { const o = `${t}_dq${dq++}`; nodes.push({ opType: 'DequantizeLinear', input: [`${t}_q`, `${t}_s`, `${t}_z`], output: [o] }); return o; };
  Q('input', 'input');
  let pooled = '';
  for (const n of net.nodes) {
    if (n.op === 'conv') {
      const q = cal.convs.get(n.name)!;
      const sx = cal.acts.get(n.input)!.scale;
      inits.push(
        init(`${n.name}_wq`, DT.INT8, [n.cout, n.cin, n.k, n.k], oihw(n, q.weights)), init(`${n.name}_ws`, DT.FLOAT, [n.cout], q.scales),
        init(`${n.name}_wz`, DT.INT8, [n.cout], new Int8Array(n.cout)), init(`${n.name}_bq`, DT.INT32, [n.cout], q.bias),
        init(`${n.name}_bs`, DT.FLOAT, [n.cout], q.scales.map((s) => Math.fround(s * sx))), init(`${n.name}_bz`, DT.INT32, [n.cout], new Int32Array(n.cout)),
      );
      nodes.push(
        { opType: 'DequantizeLinear', input: [`${n.name}_wq`, `${n.name}_ws`, `${n.name}_wz`], output: [`${n.name}_wdq`], attribute: [int('axis', 0)] },
        { opType: 'DequantizeLinear', input: [`${n.name}_bq`, `${n.name}_bs`, `${n.name}_bz`], output: [`${n.name}_bdq`], attribute: [int('axis', 0)] },
        { opType: 'Conv', input: [DQ(n.input), `${n.name}_wdq`, `${n.name}_bdq`], output: [`${n.name}_conv`], attribute: convAttrs(n) },
      );
      if (n.relu) nodes.push({ opType: 'Relu', input: [`${n.name}_conv`], output: [`${n.name}_f`] });
      Q(n.name, n.relu ? `${n.name}_f` : `${n.name}_conv`);
    } else if (n.op === 'add') {
      nodes.push({ opType: 'Add', input: [DQ(n.inputs[0]), DQ(n.inputs[1])], output: [`${n.name}_add`] });
      if (n.relu) nodes.push({ opType: 'Relu', input: [`${n.name}_add`], output: [`${n.name}_f`] });
      Q(n.name, n.relu ? `${n.name}_f` : `${n.name}_add`);
    } else if (n.op === 'globalavgpool') {
      nodes.push({ opType: 'GlobalAveragePool', input: [DQ(n.input)], output: [`${n.name}_f`] });
      Q(n.name, `${n.name}_f`);
      pooled = n.name;
    }
  }
  denseTail(net, nodes, inits, DQ(pooled), true);
  return finish(net, 'folded_int8_qdq', nodes, inits);
}

let ortModule: typeof Ort | undefined;

/** onnxruntime-web with `threads` wasm threads (fixed at its first session in the process). */
export async function startOrtWeb(threads: number): Promise<typeof Ort> {
  if (!ortModule) {
    ortModule = (await import('onnxruntime-web')) as typeof Ort;
    ortModule.env.wasm.numThreads = threads;
    ortModule.env.wasm.proxy = false;
  }
  return ortModule;
}

/** An onnxruntime-web session on `model` (optimization level 'all'). */
export async function ortEngine(net: FoldedNetwork, model: Uint8Array, name: string, threads: number): Promise<Engine> {
  const ort = await startOrtWeb(threads);
  const session = await ort.InferenceSession.create(model, {
    executionProviders: ['wasm'], graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential',
  });
  const [H, W, C] = net.inputShape;
  const nchw = (x: Float32Array, batch: number) => {
    if (C === 1) return x;
    const y = new Float32Array(x.length);
    for (let b = 0; b < batch; b++) for (let p = 0; p < H * W; p++) for (let c = 0; c < C; c++) y[(b * C + c) * H * W + p] = x[(b * H * W + p) * C + c];
    return y;
  };
  return {
    name,
    info: `onnxruntime-web ${ort.env.versions?.web ?? ''} wasm, numThreads ${ort.env.wasm.numThreads}, graphOptimizationLevel all`,
    async run(images, batch) {
      const out = await session.run({ input: new ort.Tensor('float32', nchw(images, batch), [batch, C, H, W]) });
      return out[net.output].data as Float32Array;
    },
    dispose() { void session.release(); },
  };
}
