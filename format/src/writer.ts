// The one writer of format v1 (SPEC.md). Deterministic: the same Model gives the same bytes.
import { crc32 } from './crc32.ts';
import {
  ALIGN, packSigned,
} from './pack.ts';
import {
  HEADER_BYTES, MAGIC, MAJOR, MINOR, MINOR_BASE, MINOR_INPUT, MINOR_SENS_ERRORS, SECTION_ALIGN, SECTION_ENTRY_BYTES, TAG_GRAPH,
  TAG_INPUT, TAG_METADATA, TAG_SENSITIVITY, TAG_SUBNETS, TAG_TENSORS, alignUp, type TensorRef,
} from './layout.ts';
import type { Layer, Model, Weights } from './model.ts';
import { readModel } from './reader.ts';
import { FormatError } from './errors.ts';

class TensorBlob {
  private parts: { offset: number; bytes: Uint8Array }[] = [];
  private size = 0;

  add(dtype: string, shape: number[], bytes: Uint8Array): TensorRef {
    const offset = alignUp(this.size, ALIGN);
    this.parts.push({ offset, bytes });
    this.size = offset + bytes.length;
    return { dtype, shape, offset, length: bytes.length };
  }

  float32(values: Float32Array, shape: number[]): TensorRef {
    const bytes = new Uint8Array(values.length * 4);
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
    return this.add('float32', shape, bytes);
  }

  bytes(): Uint8Array {
    const out = new Uint8Array(alignUp(this.size, ALIGN));
    for (const p of this.parts) out.set(p.bytes, p.offset);
    return out;
  }
}

function weightsJson(w: Weights, n: number, k: number, blob: TensorBlob, field: string): unknown {
  if (w.values.length !== n * k) {
    throw new FormatError(`${field}.values`, 0, `${n * k} values ([${n}][${k}] from the layer's shape)`, `${w.values.length} values`);
  }
  if (w.kind === 'float') return { kind: 'float', values: blob.float32(w.values, [n, k]) };
  let packed: Uint8Array;
  try {
    packed = packSigned(w.values, w.bits, n, k);
  } catch (e) {
    throw new FormatError(`${field}.${(e as Error).message.split(':')[0]}`, 0, (e as Error).message.replace(/^[^:]*: expected /, ''));
  }
  return {
    kind: 'int',
    bits: w.bits,
    values: blob.add(`int${w.bits}`, [n, k], packed),
    scale: blob.float32(w.scale, [w.scale.length]),
    actScales: blob.float32(w.actScales, [w.actScales.length]),
  };
}

function layerJson(layer: Layer, blob: TensorBlob, field: string): Record<string, unknown> {
  const base = { name: layer.name, op: layer.op, inputs: layer.inputs };
  switch (layer.op) {
    case 'conv2d': {
      const k = layer.kernel[0] * layer.kernel[1] * layer.inChannels;
      return {
        ...base, kernel: layer.kernel, strides: layer.strides, padding: layer.padding,
        inChannels: layer.inChannels, outChannels: layer.outChannels,
        weights: weightsJson(layer.weights, layer.outChannels, k, blob, `${field}.weights`),
        ...(layer.bias ? { bias: blob.float32(layer.bias, [layer.bias.length]) } : {}),
      };
    }
    case 'dense':
      return {
        ...base, inFeatures: layer.inFeatures, outFeatures: layer.outFeatures,
        weights: weightsJson(layer.weights, layer.outFeatures, layer.inFeatures, blob, `${field}.weights`),
        ...(layer.bias ? { bias: blob.float32(layer.bias, [layer.bias.length]) } : {}),
      };
    case 'batchnorm':
      return {
        ...base, channels: layer.channels, epsilon: layer.epsilon, select: layer.select,
        params: blob.float32(layer.params, [layer.params.length / (4 * layer.channels), 4, layer.channels]),
      };
    case 'avgpool':
      return { ...base, pool: layer.pool, strides: layer.strides, padding: layer.padding };
    default:
      return base;
  }
}

const utf8 = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));

/** SUBN's JSON (§7.2), keys in a fixed order; each SubNet's statistics are added to `blob` in the order of the SubNets and their keys. */
function subnetsJson(model: Model, blob: TensorBlob): unknown[] {
  const channels = new Map(model.layers.flatMap((l) => (l.op === 'batchnorm' ? [[l.name, l.channels] as const] : [])));
  return model.subnets!.map((s, i) => ({
    name: s.name, bits: s.bits, budget: s.budget, accuracy: s.accuracy,
    bn: s.bn === undefined ? undefined : Object.fromEntries(Object.entries(s.bn).map(([layer, v]) => {
      const c = channels.get(layer);
      if (c === undefined) throw new FormatError(`subnets[${i}].bn.${layer}`, 0, 'the name of a batchnorm layer', layer);
      if (v.length !== 2 * c) throw new FormatError(`subnets[${i}].bn.${layer}`, 0, `${2 * c} values (means then variances of ${c} channels)`, `${v.length} values`);
      return [layer, blob.float32(v, [2, c])];
    })),
  }));
}

/**
 * Serialises a Model to format v1 bytes. The result is read back and validated before it is
 * returned, so an invalid Model raises FormatError here rather than producing a bad file.
 */
export function writeModel(model: Model): Uint8Array {
  const blob = new TensorBlob();
  const graph = {
    bits: model.bits,
    mode: model.mode,
    inputShape: model.inputShape,
    layers: model.layers.map((l, i) => layerJson(l, blob, `layers[${i}]`)),
  };
  // SubNet statistics go into TENS after the graph's tensors, so SUBN is built before TENS is laid out
  const subnets = model.subnets && subnetsJson(model, blob);
  const sections: [string, Uint8Array][] = [[TAG_GRAPH, utf8(graph)], [TAG_TENSORS, blob.bytes()]];
  if (model.input) {
    const i = model.input;
    sections.push([TAG_INPUT, utf8({
      layout: i.layout, height: i.height, width: i.width, channels: i.channels, dtype: i.dtype, range: i.range,
      mean: i.mean, std: i.std, dataset: i.dataset, labels: i.labels,
    })]);
  }
  if (model.sensitivity) {
    // Fixed key order, so the same Model gives the same bytes however its objects were built.
    const sens = model.sensitivity.map((s) => ({
      layer: s.layer, hessianTrace: s.hessianTrace, hessianTraceStdErr: s.hessianTraceStdErr, probes: s.probes, params: s.params, macs: s.macs,
    }));
    sections.push([TAG_SENSITIVITY, utf8(sens)]);
  }
  if (subnets) sections.push([TAG_SUBNETS, utf8(subnets)]);
  if (model.metadata) sections.push([TAG_METADATA, utf8(model.metadata)]);

  const usesSens11 = model.sensitivity?.some((s) => s.hessianTraceStdErr !== undefined || s.probes !== undefined) ?? false;
  const usesSubnetBn = model.subnets?.some((s) => s.bn !== undefined) ?? false;
  const minor = usesSubnetBn ? MINOR : model.input ? MINOR_INPUT : usesSens11 ? MINOR_SENS_ERRORS : MINOR_BASE;
  const out = assembleFile(sections, MAJOR, minor);
  readModel(out); // validates everything; throws FormatError naming the field
  return out;
}

/** CRC-32 of header bytes 0..19 followed by the section table. */
export function headerCrc(bytes: Uint8Array, sectionCount: number): number {
  const head = crc32(bytes.subarray(0, 20));
  return crc32(bytes.subarray(HEADER_BYTES, HEADER_BYTES + sectionCount * SECTION_ENTRY_BYTES), head);
}

/**
 * Lays out sections after the header and table (16-byte aligned) and fills in lengths and
 * checksums. Does not validate the content: writeModel does, by reading its output back.
 */
export function assembleFile(sections: [string, Uint8Array][], major = MAJOR, minor = MINOR): Uint8Array {
  const tableEnd = HEADER_BYTES + sections.length * SECTION_ENTRY_BYTES;
  let cursor = alignUp(tableEnd, SECTION_ALIGN);
  const placed = sections.map(([tag, bytes]) => {
    const offset = cursor;
    cursor = alignUp(offset + bytes.length, SECTION_ALIGN);
    return { tag, bytes, offset };
  });
  const fileLength = cursor;
  const out = new Uint8Array(fileLength);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  view.setUint16(8, major, true);
  view.setUint16(10, minor, true);
  view.setUint32(12, sections.length, true);
  view.setUint32(16, fileLength, true);
  placed.forEach(({ tag, bytes, offset }, i) => {
    const e = HEADER_BYTES + i * SECTION_ENTRY_BYTES;
    for (let j = 0; j < 4; j++) out[e + j] = tag.charCodeAt(j);
    view.setUint32(e + 4, offset, true);
    view.setUint32(e + 8, bytes.length, true);
    view.setUint32(e + 12, crc32(bytes), true);
    out.set(bytes, offset);
  });
  view.setUint32(20, headerCrc(out, sections.length), true);
  return out;
}
