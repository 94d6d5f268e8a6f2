// The one reader of format v1 (SPEC.md). Every field is validated before use; a bad file raises
// FormatError naming the field, the byte offset and what was expected. Allocations are bounded
// by the file's own size: no tensor is read whose bytes are not in the file.
import { crc32 } from './crc32.ts';
import { FormatError } from './errors.ts';
import {
  HEADER_BYTES, LIMITS, MAGIC, MAJOR, MAX_SECTIONS, SECTION_ALIGN, SECTION_ENTRY_BYTES, TAG_GRAPH,
  TAG_INPUT, TAG_METADATA, TAG_SENSITIVITY, TAG_SUBNETS, TAG_TENSORS, type TensorRef,
} from './layout.ts';
import type {
  BatchNormSelect, InputDescriptor, Layer, LayerSensitivity, Model, Padding, SubNet, Weights,
} from './model.ts';
import { ALIGN, packedBytes, unpackSigned } from './pack.ts';
import { inferShapes, outputSize } from './shapes.ts';

export interface SectionInfo {
  tag: string;
  offset: number;
  length: number;
  crc: number;
  crcOk: boolean;
}

export interface FileInfo {
  major: number;
  minor: number;
  fileLength: number;
  headerCrcOk: boolean;
  sections: SectionInfo[];
}

export interface ReadOptions {
  /** Reject a file whose header or section checksums do not match (default true). */
  verifyChecksums?: boolean;
}

const asBytes = (b: ArrayBuffer | Uint8Array) => (b instanceof Uint8Array ? b : new Uint8Array(b));

/** Reads and validates the header and section table; checksums are reported, not enforced. */
export function readFileInfo(input: ArrayBuffer | Uint8Array): FileInfo {
  const bytes = asBytes(input);
  if (bytes.length < HEADER_BYTES) {
    throw new FormatError('header', 0, `at least ${HEADER_BYTES} bytes`, `${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(...bytes.subarray(0, 8));
  if (magic !== MAGIC) throw new FormatError('magic', 0, `"${MAGIC}"`, magic);
  const major = view.getUint16(8, true);
  const minor = view.getUint16(10, true);
  if (major !== MAJOR) {
    throw new FormatError('major version', 8, `${MAJOR} (this reader understands format v${MAJOR} only)`, major);
  }
  const count = view.getUint32(12, true);
  if (count < 2 || count > MAX_SECTIONS) throw new FormatError('section count', 12, `2..${MAX_SECTIONS}`, count);
  const fileLength = view.getUint32(16, true);
  if (fileLength !== bytes.length) {
    const plain = bytes.length < fileLength
      ? `the file is truncated: it has ${bytes.length} bytes but its header says ${fileLength} — copy or download it again`
      : `the file has ${bytes.length} bytes but its header says ${fileLength} (extra bytes at the end) — copy or download it again`;
    throw new FormatError('file length', 16, `${bytes.length} (the actual size)`, fileLength, plain);
  }
  for (let i = 24; i < 32; i++) if (bytes[i] !== 0) throw new FormatError('reserved', i, '0', bytes[i]);
  const tableEnd = HEADER_BYTES + count * SECTION_ENTRY_BYTES;
  if (tableEnd > bytes.length) throw new FormatError('section table', HEADER_BYTES, `${tableEnd} bytes in the file`, bytes.length);
  const headCrc = crc32(bytes.subarray(HEADER_BYTES, tableEnd), crc32(bytes.subarray(0, 20)));
  const sections: SectionInfo[] = [];
  let previousEnd = tableEnd;
  for (let i = 0; i < count; i++) {
    const e = HEADER_BYTES + i * SECTION_ENTRY_BYTES;
    const tag = String.fromCharCode(...bytes.subarray(e, e + 4));
    if (!/^[A-Z0-9]{4}$/.test(tag)) throw new FormatError(`sections[${i}].tag`, e, 'four characters A-Z or 0-9', tag);
    if (sections.some((s) => s.tag === tag)) throw new FormatError(`sections[${i}].tag`, e, 'a tag not used before', tag);
    const offset = view.getUint32(e + 4, true);
    const length = view.getUint32(e + 8, true);
    const crc = view.getUint32(e + 12, true);
    if (offset % SECTION_ALIGN !== 0 || offset < previousEnd) {
      throw new FormatError(`sections[${i}].offset`, e + 4, `a multiple of ${SECTION_ALIGN}, at least ${previousEnd}`, offset);
    }
    if (offset + length > bytes.length) {
      throw new FormatError(`sections[${i}].length`, e + 8, `at most ${bytes.length - offset} (end of file)`, length);
    }
    previousEnd = offset + length;
    sections.push({ tag, offset, length, crc, crcOk: crc32(bytes.subarray(offset, offset + length)) === crc });
  }
  return { major, minor, fileLength, headerCrcOk: headCrc === view.getUint32(20, true), sections };
}

/** Parses and validates a whole model file. */
export function readModel(input: ArrayBuffer | Uint8Array, options: ReadOptions = {}): Model {
  const bytes = asBytes(input);
  const info = readFileInfo(bytes);
  if (options.verifyChecksums !== false) {
    if (!info.headerCrcOk) throw new FormatError('header checksum', 20, 'the CRC-32 of the header and section table');
    info.sections.forEach((s, i) => {
      if (!s.crcOk) throw new FormatError(`${s.tag} checksum`, HEADER_BYTES + i * SECTION_ENTRY_BYTES + 12, 'the CRC-32 of the section');
    });
  }
  const section = (tag: string) => info.sections.find((s) => s.tag === tag);
  const graphSection = section(TAG_GRAPH);
  const tensorSection = section(TAG_TENSORS);
  if (!graphSection) throw new FormatError('GRPH section', HEADER_BYTES, 'present');
  if (!tensorSection) throw new FormatError('TENS section', HEADER_BYTES, 'present');
  const tensors = bytes.subarray(tensorSection.offset, tensorSection.offset + tensorSection.length);
  const graph = new Checker(graphSection.offset, tensors, tensorSection.offset);
  const model = parseGraph(graph, parseJson(bytes, graphSection));

  const inpt = section(TAG_INPUT);
  if (inpt) model.input = parseInput(new Checker(inpt.offset), parseJson(bytes, inpt), model);
  const sens = section(TAG_SENSITIVITY);
  if (sens) model.sensitivity = parseSensitivity(new Checker(sens.offset), parseJson(bytes, sens), model);
  const subn = section(TAG_SUBNETS);
  if (subn) model.subnets = parseSubnets(new Checker(subn.offset, tensors, tensorSection.offset), parseJson(bytes, subn), model);
  const meta = section(TAG_METADATA);
  if (meta) {
    const c = new Checker(meta.offset);
    model.metadata = c.obj(parseJson(bytes, meta), 'metadata');
  }
  return model;
}

function parseJson(bytes: Uint8Array, s: SectionInfo): unknown {
  if (s.length > LIMITS.jsonBytes) throw new FormatError(`${s.tag} length`, s.offset, `at most ${LIMITS.jsonBytes} bytes`, s.length);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(s.offset, s.offset + s.length));
    return JSON.parse(text);
  } catch (e) {
    throw new FormatError(`${s.tag} section`, s.offset, 'UTF-8 JSON', (e as Error).message);
  }
}

/** Small typed accessors that raise FormatError with the field path. */
class Checker {
  constructor(readonly offset: number, readonly tensors?: Uint8Array, readonly tensorsOffset = 0) {}

  fail(field: string, expected: string, got?: unknown): never {
    throw new FormatError(field, this.offset, expected, got);
  }
  obj(v: unknown, field: string): Record<string, unknown> {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) this.fail(field, 'an object', v);
    return v as Record<string, unknown>;
  }
  arr(v: unknown, field: string, min: number, max: number): unknown[] {
    if (!Array.isArray(v) || v.length < min || v.length > max) this.fail(field, `an array of ${min === max ? min : `${min}..${max}`} entries`, v);
    return v as unknown[];
  }
  int(v: unknown, field: string, min: number, max: number): number {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) this.fail(field, `an integer in ${min}..${max}`, v);
    return v as number;
  }
  num(v: unknown, field: string, positive: boolean): number {
    if (typeof v !== 'number' || !Number.isFinite(v) || (positive && !(v > 0))) {
      this.fail(field, positive ? 'a finite number > 0' : 'a finite number', v);
    }
    return v as number;
  }
  str(v: unknown, field: string, max = LIMITS.nameLength): string {
    if (typeof v !== 'string' || v.length === 0 || v.length > max) this.fail(field, `a string of 1..${max} characters`, v);
    return v as string;
  }
  oneOf<T extends string>(v: unknown, field: string, options: readonly T[]): T {
    if (!options.includes(v as T)) this.fail(field, `one of ${options.map((o) => JSON.stringify(o)).join(', ')}`, v);
    return v as T;
  }
  pair(v: unknown, field: string, min: number): [number, number] {
    const a = this.arr(v, field, 2, 2);
    return [this.int(a[0], `${field}[0]`, min, LIMITS.dimension), this.int(a[1], `${field}[1]`, min, LIMITS.dimension)];
  }

  /** Locates a tensor in TENS after checking dtype, shape and that its bytes lie in the section. */
  tensorRef(v: unknown, field: string, dtype: string, shape: number[], length: number): TensorRef {
    const o = this.obj(v, field);
    if (o.dtype !== dtype) this.fail(`${field}.dtype`, JSON.stringify(dtype), o.dtype);
    const s = this.arr(o.shape, `${field}.shape`, shape.length, shape.length);
    s.forEach((d, i) => { if (d !== shape[i]) this.fail(`${field}.shape[${i}]`, String(shape[i]), d); });
    const size = this.tensors!.length;
    const offset = this.int(o.offset, `${field}.offset`, 0, size);
    if (offset % ALIGN !== 0) this.fail(`${field}.offset`, `a multiple of ${ALIGN}`, offset);
    if (o.length !== length) this.fail(`${field}.length`, `${length} bytes`, o.length);
    if (offset + length > size) this.fail(`${field}.length`, `at most ${size - offset} (end of TENS)`, length);
    return { dtype, shape, offset, length };
  }

  float32(v: unknown, field: string, shape: number[], check: 'finite' | 'positive' = 'finite'): Float32Array {
    const count = shape.reduce((a, b) => a * b, 1);
    const ref = this.tensorRef(v, field, 'float32', shape, count * 4);
    const view = new DataView(this.tensors!.buffer, this.tensors!.byteOffset + ref.offset, ref.length);
    const out = new Float32Array(count);
    for (let i = 0; i < count; i++) {
      const x = view.getFloat32(i * 4, true);
      if (!Number.isFinite(x) || (check === 'positive' && !(x > 0))) {
        throw new FormatError(`${field}[${i}]`, this.tensorsOffset + ref.offset + i * 4,
          check === 'positive' ? 'a finite number > 0' : 'a finite number', x);
      }
      out[i] = x;
    }
    return out;
  }
}

type Shape = number[];

/** BatchNorm variances `values[at .. at + channels)` must be >= 0; the first that is not is named `${row}[ch] (variance)`. */
function checkVariances(c: Checker, values: Float32Array, at: number, channels: number, row: string): void {
  for (let ch = 0; ch < channels; ch++) {
    if (values[at + ch]! < 0) c.fail(`${row}[${ch}] (variance)`, 'a number >= 0', values[at + ch]);
  }
}

function convOutput(c: Checker, field: string, size: number, k: number, s: number, padding: Padding): number {
  const out = outputSize(size, k, s, padding);
  if (out < 1) c.fail(field, `a window of at most ${size} with padding "valid"`, k);
  return out;
}

function parseWeights(c: Checker, v: unknown, field: string, n: number, k: number, bits: number[]): Weights {
  const o = c.obj(v, field);
  const kind = c.oneOf(o.kind, `${field}.kind`, ['float', 'int'] as const);
  if (kind === 'float') return { kind, values: c.float32(o.values, `${field}.values`, [n, k]) };
  const h = c.int(o.bits, `${field}.bits`, Math.max(2, ...bits), 8);
  const ref = c.tensorRef(o.values, `${field}.values`, `int${h}`, [n, k], packedBytes(n, k, h));
  const values = unpackSigned(c.tensors!.subarray(ref.offset, ref.offset + ref.length), h, n, k);
  const scaleLen = c.arr(c.obj(o.scale, `${field}.scale`).shape, `${field}.scale.shape`, 1, 1)[0];
  if (scaleLen !== 1 && scaleLen !== n) c.fail(`${field}.scale.shape[0]`, `1 or ${n}`, scaleLen);
  const scale = c.float32(o.scale, `${field}.scale`, [scaleLen as number], 'positive');
  const actScales = c.float32(o.actScales, `${field}.actScales`, [bits.length], 'positive');
  return { kind, bits: h, values, scale, actScales };
}

function parseSelect(c: Checker, v: unknown, field: string, quantized: Set<string>, nbits: number): [BatchNormSelect, number] {
  const o = c.obj(v, field);
  const kind = c.oneOf(o.kind, `${field}.kind`, ['single', 'per-bit', 'per-pair'] as const);
  const ref = (x: unknown, f: string) => {
    const name = c.str(x, f);
    if (!quantized.has(name)) c.fail(f, 'the name of an earlier quantized layer', name);
    return name;
  };
  if (kind === 'single') return [{ kind }, 1];
  if (kind === 'per-bit') return [{ kind, layer: ref(o.layer, `${field}.layer`) }, nbits];
  return [{ kind, prev: ref(o.prev, `${field}.prev`), layer: ref(o.layer, `${field}.layer`) }, nbits * nbits];
}

function parseGraph(c: Checker, json: unknown): Model {
  const g = c.obj(json, 'graph');
  const bitsRaw = c.arr(g.bits, 'bits', 1, LIMITS.bits);
  const bits = bitsRaw.map((b, i) => c.int(b, `bits[${i}]`, 2, 8));
  bits.forEach((b, i) => { if (i > 0 && b >= bits[i - 1]) c.fail(`bits[${i}]`, `less than ${bits[i - 1]} (descending, no repeats)`, b); });
  const mode = c.oneOf(g.mode, 'mode', ['multi', 'mixed'] as const);
  const inputShape = c.arr(g.inputShape, 'inputShape', 3, 3).map((d, i) => c.int(d, `inputShape[${i}]`, 1, LIMITS.dimension));
  if (inputShape.reduce((a, b) => a * b, 1) > LIMITS.inputElements) c.fail('inputShape', `at most ${LIMITS.inputElements} elements`, inputShape.join('x'));

  const shapes = new Map<string, Shape>([['input', inputShape]]);
  const quantized = new Set<string>();
  const layersRaw = c.arr(g.layers, 'layers', 1, LIMITS.layers);
  const layers: Layer[] = layersRaw.map((raw, li) => {
    const f = `layers[${li}]`;
    const o = c.obj(raw, f);
    const name = c.str(o.name, `${f}.name`);
    if (shapes.has(name)) c.fail(`${f}.name`, 'a name not used before (and not "input")', name);
    const op = c.oneOf(o.op, `${f}.op`, ['conv2d', 'dense', 'batchnorm', 'relu', 'add', 'flatten', 'globalavgpool', 'avgpool'] as const);
    const inputs = c.arr(o.inputs, `${f}.inputs`, op === 'add' ? 2 : 1, op === 'add' ? 2 : 1).map((x, i) => {
      const n = c.str(x, `${f}.inputs[${i}]`);
      if (!shapes.has(n)) c.fail(`${f}.inputs[${i}]`, '"input" or the name of an earlier layer', n);
      return n;
    });
    const inShape = shapes.get(inputs[0])!;
    const need = (rank: number) => {
      if (inShape.length !== rank) c.fail(`${f}.inputs[0]`, `a layer with a rank-${rank} output`, `shape [${inShape}]`);
    };
    let layer: Layer;
    let outShape: Shape;
    switch (op) {
      case 'conv2d': {
        need(3);
        const kernel = c.pair(o.kernel, `${f}.kernel`, 1);
        const strides = c.pair(o.strides, `${f}.strides`, 1);
        const padding = c.oneOf(o.padding, `${f}.padding`, ['same', 'valid'] as const);
        const inChannels = c.int(o.inChannels, `${f}.inChannels`, 1, LIMITS.dimension);
        if (inChannels !== inShape[2]) c.fail(`${f}.inChannels`, `${inShape[2]} (channels of ${inputs[0]})`, inChannels);
        const outChannels = c.int(o.outChannels, `${f}.outChannels`, 1, LIMITS.dimension);
        const k = kernel[0] * kernel[1] * inChannels;
        const weights = parseWeights(c, o.weights, `${f}.weights`, outChannels, k, bits);
        const bias = o.bias === undefined ? undefined : c.float32(o.bias, `${f}.bias`, [outChannels]);
        layer = { name, op, inputs, kernel, strides, padding, inChannels, outChannels, weights, ...(bias ? { bias } : {}) };
        outShape = [convOutput(c, `${f}.kernel[0]`, inShape[0], kernel[0], strides[0], padding),
          convOutput(c, `${f}.kernel[1]`, inShape[1], kernel[1], strides[1], padding), outChannels];
        if (weights.kind === 'int') quantized.add(name);
        break;
      }
      case 'dense': {
        need(1);
        const inFeatures = c.int(o.inFeatures, `${f}.inFeatures`, 1, LIMITS.inputElements);
        if (inFeatures !== inShape[0]) c.fail(`${f}.inFeatures`, `${inShape[0]} (features of ${inputs[0]})`, inFeatures);
        const outFeatures = c.int(o.outFeatures, `${f}.outFeatures`, 1, LIMITS.dimension);
        const weights = parseWeights(c, o.weights, `${f}.weights`, outFeatures, inFeatures, bits);
        const bias = o.bias === undefined ? undefined : c.float32(o.bias, `${f}.bias`, [outFeatures]);
        layer = { name, op, inputs, inFeatures, outFeatures, weights, ...(bias ? { bias } : {}) };
        outShape = [outFeatures];
        if (weights.kind === 'int') quantized.add(name);
        break;
      }
      case 'batchnorm': {
        const channels = c.int(o.channels, `${f}.channels`, 1, LIMITS.dimension);
        if (channels !== inShape[inShape.length - 1]) c.fail(`${f}.channels`, `${inShape[inShape.length - 1]} (last dimension of ${inputs[0]})`, channels);
        const epsilon = c.num(o.epsilon, `${f}.epsilon`, true);
        const [select, sets] = parseSelect(c, o.select, `${f}.select`, quantized, bits.length);
        const params = c.float32(o.params, `${f}.params`, [sets, 4, channels]);
        for (let s = 0; s < sets; s++) checkVariances(c, params, (s * 4 + 3) * channels, channels, `${f}.params[${s}][3]`);
        layer = { name, op, inputs, channels, epsilon, select, params };
        outShape = inShape;
        break;
      }
      case 'avgpool': {
        need(3);
        const pool = c.pair(o.pool, `${f}.pool`, 1);
        const strides = c.pair(o.strides, `${f}.strides`, 1);
        const padding = c.oneOf(o.padding, `${f}.padding`, ['same', 'valid'] as const);
        layer = { name, op, inputs, pool, strides, padding };
        outShape = [convOutput(c, `${f}.pool[0]`, inShape[0], pool[0], strides[0], padding),
          convOutput(c, `${f}.pool[1]`, inShape[1], pool[1], strides[1], padding), inShape[2]];
        break;
      }
      case 'add': {
        const other = shapes.get(inputs[1])!;
        if (other.join() !== inShape.join()) c.fail(`${f}.inputs[1]`, `a layer with output shape [${inShape}]`, `shape [${other}]`);
        layer = { name, op, inputs };
        outShape = inShape;
        break;
      }
      case 'globalavgpool':
        need(3);
        layer = { name, op, inputs };
        outShape = [inShape[2]];
        break;
      case 'flatten':
        layer = { name, op, inputs };
        outShape = [inShape.reduce((a, b) => a * b, 1)];
        break;
      default: // relu
        layer = { name, op, inputs };
        outShape = inShape;
    }
    if (outShape.reduce((a, b) => a * b, 1) > LIMITS.inputElements) c.fail(`${f}`, `an output of at most ${LIMITS.inputElements} elements`, outShape.join('x'));
    shapes.set(name, outShape);
    return layer;
  });
  return { bits, mode, inputShape, layers };
}

function quantizedNames(model: Model): string[] {
  return model.layers.filter((l) => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int').map((l) => l.name);
}

function parseSensitivity(c: Checker, json: unknown, model: Model): LayerSensitivity[] {
  const names = new Set(quantizedNames(model));
  return c.arr(json, 'sensitivity', 0, LIMITS.layers).map((raw, i) => {
    const f = `sensitivity[${i}]`;
    const o = c.obj(raw, f);
    const layer = c.str(o.layer, `${f}.layer`);
    if (!names.has(layer)) c.fail(`${f}.layer`, 'the name of a quantized layer', layer);
    const entry: LayerSensitivity = {
      layer,
      hessianTrace: c.num(o.hessianTrace, `${f}.hessianTrace`, false),
      params: c.int(o.params, `${f}.params`, 1, Number.MAX_SAFE_INTEGER),
      macs: c.int(o.macs, `${f}.macs`, 0, Number.MAX_SAFE_INTEGER),
    };
    // 1.1 fields, optional so that 1.0 files still read.
    if (o.hessianTraceStdErr !== undefined) {
      const se = c.num(o.hessianTraceStdErr, `${f}.hessianTraceStdErr`, false);
      if (se < 0) c.fail(`${f}.hessianTraceStdErr`, 'a finite number >= 0', se);
      entry.hessianTraceStdErr = se;
    }
    if (o.probes !== undefined) entry.probes = c.int(o.probes, `${f}.probes`, 1, Number.MAX_SAFE_INTEGER);
    return entry;
  });
}

function parseInput(c: Checker, json: unknown, model: Model): InputDescriptor {
  const o = c.obj(json, 'input');
  const layout = c.oneOf(o.layout, 'input.layout', ['NHWC', 'NCHW'] as const);
  const [height, width, channels] = (['height', 'width', 'channels'] as const).map((k, i) => {
    const v = c.int(o[k], `input.${k}`, 1, LIMITS.dimension);
    if (v !== model.inputShape[i]) c.fail(`input.${k}`, `${model.inputShape[i]} (inputShape[${i}])`, v);
    return v;
  });
  const dtype = c.oneOf(o.dtype, 'input.dtype', ['uint8', 'float32'] as const);
  const r = c.arr(o.range, 'input.range', 2, 2);
  const range: [number, number] = dtype === 'uint8'
    ? [c.int(r[0], 'input.range[0]', 0, 255), c.int(r[1], 'input.range[1]', 0, 255)]
    : [c.num(r[0], 'input.range[0]', false), c.num(r[1], 'input.range[1]', false)];
  if (!(range[1] > range[0])) c.fail('input.range[1]', `more than range[0] (${range[0]})`, range[1]);
  const mean = c.arr(o.mean, 'input.mean', channels, channels).map((v, i) => c.num(v, `input.mean[${i}]`, false));
  const std = c.arr(o.std, 'input.std', channels, channels).map((v, i) => c.num(v, `input.std[${i}]`, true));
  const input: InputDescriptor = { layout, height, width, channels, dtype, range, mean, std };
  if (o.dataset !== undefined) input.dataset = c.str(o.dataset, 'input.dataset');
  if (o.labels !== undefined) {
    const last = model.layers[model.layers.length - 1].name;
    const outputs = inferShapes(model).get(last)!.reduce((a, b) => a * b, 1);
    input.labels = c.arr(o.labels, 'input.labels', outputs, outputs).map((v, i) => c.str(v, `input.labels[${i}]`));
  }
  return input;
}

function parseSubnets(c: Checker, json: unknown, model: Model): SubNet[] {
  const count = quantizedNames(model).length;
  const seen = new Set<string>();
  return c.arr(json, 'subnets', 0, 100000).map((raw, i) => {
    const f = `subnets[${i}]`;
    const o = c.obj(raw, f);
    const name = c.str(o.name, `${f}.name`);
    if (seen.has(name)) c.fail(`${f}.name`, 'a name not used before', name);
    seen.add(name);
    const bits = c.arr(o.bits, `${f}.bits`, count, count).map((b, j) => {
      if (!model.bits.includes(b as number)) c.fail(`${f}.bits[${j}]`, `one of ${model.bits.join(', ')}`, b);
      return b as number;
    });
    const budgetRaw = c.obj(o.budget, `${f}.budget`);
    const budget: Record<string, number> = {};
    for (const [k, v] of Object.entries(budgetRaw)) budget[k] = c.num(v, `${f}.budget.${k}`, false);
    const sub: SubNet = { name, bits, budget };
    if (o.accuracy !== undefined) {
      const acc = c.num(o.accuracy, `${f}.accuracy`, false);
      if (acc < 0 || acc > 1) c.fail(`${f}.accuracy`, 'a number in 0..1', acc);
      sub.accuracy = acc;
    }
    if (o.bn !== undefined) {
      const bnRaw = c.obj(o.bn, `${f}.bn`);
      const bn: Record<string, Float32Array> = {};
      for (const [layer, ref] of Object.entries(bnRaw)) {
        const l = model.layers.find((x) => x.name === layer);
        if (l?.op !== 'batchnorm') c.fail(`${f}.bn`, 'keys that name batchnorm layers', layer);
        const stats = c.float32(ref, `${f}.bn.${layer}`, [2, l.channels]);
        checkVariances(c, stats, l.channels, l.channels, `${f}.bn.${layer}[1]`);
        bn[layer] = stats;
      }
      sub.bn = bn;
    }
    return sub;
  });
}
