// A TFLite flatbuffer writer (schema v3; table field ids from tensorflow/compiler/mlir/lite/schema/
// schema.fbs) and the folded network as a fully int8 TFLite model: QUANTIZE, CONV_2D (int8
// per-channel weights, int32 bias, fused ReLU), ADD (fused ReLU), MEAN, DEQUANTIZE, and the float
// dense head as FULLY_CONNECTED, the graph TFLite's converter emits for a quantized ResNet.
import * as flatbuffers from 'flatbuffers';
import type { FoldedNetwork, Int8Calibration } from './network.ts';

/** TensorType enum. */
export const TensorType = { FLOAT32: 0, INT32: 2, INT8: 9 } as const;
/** BuiltinOperator enum. */
export const Op = { ADD: 0, CONV_2D: 3, DEQUANTIZE: 6, FULLY_CONNECTED: 9, MEAN: 40, QUANTIZE: 114 } as const;
/** BuiltinOptions union tags. */
export const Options = { Conv2DOptions: 1, FullyConnectedOptions: 8, AddOptions: 11, ReducerOptions: 27 } as const;
const RELU = 1, NONE = 0, SAME = 0;

export interface TensorSpec {
  name: string; shape: number[]; type: number;
  data?: ArrayBufferView;
  /** Quantization: one scale/zero point per tensor, or per channel along `axis`. */
  scale?: ArrayLike<number>; zero?: ArrayLike<number>; axis?: number;
}
/** Option table fields: [field id, 'i8' | 'i32', value]. */
export type OptionFields = [number, 'i8' | 'i32', number][];

export class TfliteBuilder {
  private tensors: (TensorSpec & { buffer: number })[] = [];
  private buffers: (Uint8Array | null)[] = [null]; // buffer 0: the empty sentinel the schema requires
  private ops: { opcode: number; inputs: number[]; outputs: number[]; options?: { type: number; fields: OptionFields } }[] = [];
  private opcodes: { code: number; version: number }[] = [];
  inputs: number[] = [];
  outputs: number[] = [];

  tensor(t: TensorSpec): number {
    let buffer = 0;
    if (t.data) {
      this.buffers.push(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength));
      buffer = this.buffers.length - 1;
    }
    this.tensors.push({ ...t, buffer });
    return this.tensors.length - 1;
  }

  op(code: number, version: number, inputs: number[], outputs: number[], options?: { type: number; fields: OptionFields }): void {
    let opcode = this.opcodes.findIndex((o) => o.code === code && o.version === version);
    if (opcode < 0) opcode = this.opcodes.push({ code, version }) - 1;
    this.ops.push({ opcode, inputs, outputs, options });
  }

  finish(description: string): Uint8Array {
    const b = new flatbuffers.Builder(1 << 16);
    const vec = (size: number, n: number, align: number, add: (i: number) => void) => {
      b.startVector(size, n, align);
      for (let i = n - 1; i >= 0; i--) add(i);
      return b.endVector();
    };
    const i32s = (a: ArrayLike<number>) => vec(4, a.length, 4, (i) => b.addInt32(a[i]));
    const f32s = (a: ArrayLike<number>) => vec(4, a.length, 4, (i) => b.addFloat32(a[i]));
    const i64s = (a: ArrayLike<number>) => vec(8, a.length, 8, (i) => b.addInt64(BigInt(a[i])));
    const offs = (a: number[]) => vec(4, a.length, 4, (i) => b.addOffset(a[i]));
    // Buffer { data: [ubyte] (0) }
    const buffers = this.buffers.map((u8) => {
      const data = u8 ? vec(1, u8.length, 16, (i) => b.addInt8(u8[i])) : 0;
      b.startObject(1);
      if (data) b.addFieldOffset(0, data, 0);
      return b.endObject();
    });
    // Tensor { shape (0), type (1), buffer (2), name (3), quantization (4) }
    // QuantizationParameters { scale (2), zero_point (3), quantized_dimension (6) }
    const tensors = this.tensors.map((t) => {
      const shape = i32s(t.shape);
      const name = b.createString(t.name);
      let quant = 0;
      if (t.scale) {
        const scale = f32s(t.scale);
        const zero = i64s(t.zero ?? Array.from(t.scale, () => 0));
        b.startObject(7);
        b.addFieldOffset(2, scale, 0);
        b.addFieldOffset(3, zero, 0);
        b.addFieldInt32(6, t.axis ?? 0, 0);
        quant = b.endObject();
      }
      b.startObject(5);
      b.addFieldOffset(0, shape, 0);
      b.addFieldInt8(1, t.type, 0);
      b.addFieldInt32(2, t.buffer, 0);
      b.addFieldOffset(3, name, 0);
      if (quant) b.addFieldOffset(4, quant, 0);
      return b.endObject();
    });
    // Operator { opcode_index (0), inputs (1), outputs (2), builtin_options_type (3), builtin_options (4) }
    const ops = this.ops.map((op) => {
      const inputs = i32s(op.inputs), outputs = i32s(op.outputs);
      let options = 0;
      if (op.options) {
        b.startObject(8);
        for (const [id, kind, value] of op.options.fields) {
          if (kind === 'i8') b.addFieldInt8(id, value, 0);
          else b.addFieldInt32(id, value, 0);
        }
        options = b.endObject();
      }
      b.startObject(5);
      b.addFieldInt32(0, op.opcode, 0);
      b.addFieldOffset(1, inputs, 0);
      b.addFieldOffset(2, outputs, 0);
      if (op.options) {
        b.addFieldInt8(3, op.options.type, 0);
        b.addFieldOffset(4, options, 0);
      }
      return b.endObject();
    });
    // SubGraph { tensors (0), inputs (1), outputs (2), operators (3), name (4) }
    const tensorVec = offs(tensors), inVec = i32s(this.inputs), outVec = i32s(this.outputs), opVec = offs(ops);
    const sgName = b.createString('main');
    b.startObject(5);
    b.addFieldOffset(0, tensorVec, 0);
    b.addFieldOffset(1, inVec, 0);
    b.addFieldOffset(2, outVec, 0);
    b.addFieldOffset(3, opVec, 0);
    b.addFieldOffset(4, sgName, 0);
    const subgraph = b.endObject();
    // OperatorCode { deprecated_builtin_code (0, int8, capped at 127), version (2), builtin_code (3) }
    const opcodes = this.opcodes.map(({ code, version }) => {
      b.startObject(4);
      b.addFieldInt8(0, Math.min(code, 127), 0);
      b.addFieldInt32(2, version, 1);
      b.addFieldInt32(3, code, 0);
      return b.endObject();
    });
    // SignatureDef { inputs (0), outputs (1), signature_key (2), subgraph_index (4) }; TensorMap { name (0), tensor_index (1) }
    const tensorMap = (index: number, name: string) => {
      const n = b.createString(name);
      b.startObject(2);
      b.addFieldOffset(0, n, 0);
      b.addFieldInt32(1, index, 0);
      return b.endObject();
    };
    const sigIn = offs(this.inputs.map((t, i) => tensorMap(t, `input_${i}`)));
    const sigOut = offs(this.outputs.map((t, i) => tensorMap(t, `output_${i}`)));
    const key = b.createString('serving_default');
    b.startObject(5);
    b.addFieldOffset(0, sigIn, 0);
    b.addFieldOffset(1, sigOut, 0);
    b.addFieldOffset(2, key, 0);
    b.addFieldInt32(4, 0, 0);
    const signature = b.endObject();
    // Model { version (0), operator_codes (1), subgraphs (2), description (3), buffers (4), signature_defs (7) }
    const ocVec = offs(opcodes), sgVec = offs([subgraph]), desc = b.createString(description), bufVec = offs(buffers), sigVec = offs([signature]);
    b.startObject(8);
    b.addFieldInt32(0, 3, 0);
    b.addFieldOffset(1, ocVec, 0);
    b.addFieldOffset(2, sgVec, 0);
    b.addFieldOffset(3, desc, 0);
    b.addFieldOffset(4, bufVec, 0);
    b.addFieldOffset(7, sigVec, 0);
    b.finish(b.endObject(), 'TFL3');
    return b.asUint8Array();
  }
}

/** The folded network as a fully int8 TFLite model for a fixed `batch` (float input and logits). */
export function tfliteInt8(net: FoldedNetwork, cal: Int8Calibration, batch: number): Uint8Array {
  const mb = new TfliteBuilder();
  const ids = new Map<string, number>();
  // int8 = uint8 − 128: the same grid as the ONNX QDQ model's uint8 activations.
  const act = (name: string) => {
    const a = cal.acts.get(name);
    if (!a) throw new RangeError(`calibration: no range for tensor ${name}`);
    const id = mb.tensor({ name: `${name}_q`, shape: [batch, ...net.shapes.get(name)!], type: TensorType.INT8, scale: [a.scale], zero: [a.zero - 128] });
    ids.set(name, id);
    return id;
  };
  const x = mb.tensor({ name: 'input', shape: [batch, ...net.inputShape], type: TensorType.FLOAT32 });
  mb.op(Op.QUANTIZE, 2, [x], [act('input')]);
  let logits = -1;
  for (const n of net.nodes) {
    if (n.op === 'conv') {
      const q = cal.convs.get(n.name)!;
      const sx = cal.acts.get(n.input)!.scale;
      const zeros = new Array(n.cout).fill(0);
      const w = mb.tensor({ name: `${n.name}_w`, shape: [n.cout, n.k, n.k, n.cin], type: TensorType.INT8, data: q.weights, scale: q.scales, zero: zeros, axis: 0 });
      const bias = mb.tensor({ name: `${n.name}_b`, shape: [n.cout], type: TensorType.INT32, data: q.bias, scale: Array.from(q.scales, (s) => Math.fround(s * sx)), zero: zeros, axis: 0 });
      // Conv2DOptions { padding (0), stride_w (1), stride_h (2), fused_activation_function (3) }
      mb.op(Op.CONV_2D, 3, [ids.get(n.input)!, w, bias], [act(n.name)], {
        type: Options.Conv2DOptions, fields: [[0, 'i8', SAME], [1, 'i32', n.stride], [2, 'i32', n.stride], [3, 'i8', n.relu ? RELU : NONE]],
      });
    } else if (n.op === 'add') {
      // AddOptions { fused_activation_function (0) }
      mb.op(Op.ADD, 2, [ids.get(n.inputs[0])!, ids.get(n.inputs[1])!], [act(n.name)], { type: Options.AddOptions, fields: [[0, 'i8', n.relu ? RELU : NONE]] });
    } else if (n.op === 'globalavgpool') {
      const axes = mb.tensor({ name: `${n.name}_axes`, shape: [2], type: TensorType.INT32, data: new Int32Array([1, 2]) });
      // ReducerOptions { keep_dims (0) }
      mb.op(Op.MEAN, 2, [ids.get(n.input)!, axes], [act(n.name)], { type: Options.ReducerOptions, fields: [[0, 'i8', 0]] });
      const f = mb.tensor({ name: `${n.name}_f`, shape: [batch, ...net.shapes.get(n.name)!], type: TensorType.FLOAT32 });
      mb.op(Op.DEQUANTIZE, 2, [ids.get(n.name)!], [f]);
      ids.set(n.name, f);
    } else {
      const w = mb.tensor({ name: `${n.name}_w`, shape: [n.cout, n.cin], type: TensorType.FLOAT32, data: n.weights });
      const bias = mb.tensor({ name: `${n.name}_b`, shape: [n.cout], type: TensorType.FLOAT32, data: n.bias });
      logits = mb.tensor({ name: n.name, shape: [batch, n.cout], type: TensorType.FLOAT32 });
      // FullyConnectedOptions { fused_activation_function (0) }
      mb.op(Op.FULLY_CONNECTED, 1, [ids.get(n.input)!, w, bias], [logits], { type: Options.FullyConnectedOptions, fields: [[0, 'i8', NONE]] });
      ids.set(n.name, logits);
    }
  }
  if (ids.get(net.output) !== logits) throw new RangeError(`network: expected it to end with a dense layer, got ${net.output}`);
  mb.inputs = [x];
  mb.outputs = [logits];
  return mb.finish('bitswitch bench: int8 ResNet');
}
