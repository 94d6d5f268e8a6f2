// The golden file decoded by hand from SPEC.md alone (DataView, TextDecoder and zlib's CRC-32; no
// reader, writer or packer of this package), compared with the model it was written from. This
// makes the golden file a check of the writer against the specification, not only a change detector.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { tinyModel, tinyModelV12, type Layer } from '../src/index.ts';

const bytes = new Uint8Array(readFileSync(new URL('./golden/tiny-v1.bsw', import.meta.url)));
const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const u16 = (o: number) => dv.getUint16(o, true);
const u32 = (o: number) => dv.getUint32(o, true);
const ascii = (o: number, n: number) => String.fromCharCode(...bytes.subarray(o, o + n));
const model = tinyModel(1);

interface Section { tag: string; offset: number; length: number; crc: number }
const count = u32(12);
const sections: Section[] = Array.from({ length: count }, (_, i) => {
  const o = 32 + 16 * i;
  return { tag: ascii(o, 4), offset: u32(o + 4), length: u32(o + 8), crc: u32(o + 12) };
});
const section = (tag: string) => sections.find((s) => s.tag === tag)!;
const json = (tag: string) => JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(section(tag).offset, section(tag).offset + section(tag).length)));

test('§2.1 header: magic, version 1.0, section count, file length, header CRC, zero reserved bytes', () => {
  assert.is(ascii(0, 8), 'BITSWTCH');
  assert.is(u16(8), 1);
  assert.is(u16(10), 0);
  assert.is(count, 5);
  assert.is(u32(16), bytes.length);
  const covered = new Uint8Array(20 + 16 * count);
  covered.set(bytes.subarray(0, 20));
  covered.set(bytes.subarray(32, 32 + 16 * count), 20);
  assert.is(u32(20), crc32(covered) >>> 0);
  assert.equal(Array.from(bytes.subarray(24, 32)), new Array(8).fill(0));
});

test('§2.2 section table: tags, 16-byte aligned offsets in order without overlap, lengths, CRCs, zero padding', () => {
  assert.equal(sections.map((s) => s.tag), ['GRPH', 'TENS', 'SENS', 'SUBN', 'META']);
  let end = 32 + 16 * count;
  for (const s of sections) {
    assert.is(s.offset % 16, 0, `${s.tag} offset`);
    assert.ok(s.offset >= end, `${s.tag} overlaps`);
    assert.ok(bytes.subarray(end, s.offset).every((b) => b === 0), `padding before ${s.tag}`);
    assert.ok(s.offset + s.length <= bytes.length);
    assert.is(s.crc, crc32(bytes.subarray(s.offset, s.offset + s.length)) >>> 0, `${s.tag} crc`);
    end = s.offset + s.length;
  }
  assert.is(bytes.length % 16, 0);
  assert.ok(bytes.subarray(end).every((b) => b === 0), 'trailing padding');
});

interface TensorRef { dtype: string; shape: number[]; offset: number; length: number }

/** §4 float32 tensor: little-endian binary32, row-major. */
function floats(ref: TensorRef): number[] {
  assert.is(ref.dtype, 'float32');
  assert.is(ref.length, 4 * ref.shape.reduce((a, b) => a * b, 1));
  assert.is(ref.offset % 16, 0);
  const at = section('TENS').offset + ref.offset;
  return Array.from({ length: ref.length / 4 }, (_, i) => dv.getFloat32(at + 4 * i, true));
}

/** §5 container bits of a b-bit integer. */
const containerBits = (b: number) => (b >= 5 ? 8 : b >= 3 ? 4 : 2);

/** §5 element c of a row starting at `row`: byte ⌊c·cb/8⌋, bit (c mod 8/cb)·cb from the LSB, cb-bit two's complement. */
function element(row: ArrayLike<number>, c: number, cb: number): number {
  const raw = (row[Math.floor((c * cb) / 8)] >> ((c % (8 / cb)) * cb)) & ((1 << cb) - 1);
  return raw >= 1 << (cb - 1) ? raw - (1 << cb) : raw;
}

/** §5 int<b> [N][K]: row r starts at r·rowBytes, rowBytes = ⌈⌈K·cb/8⌉/16⌉·16, zero padding. */
function ints(ref: TensorRef, b: number): number[] {
  assert.is(ref.dtype, `int${b}`);
  const [N, K] = ref.shape;
  const cb = containerBits(b);
  const rowBytes = Math.ceil(Math.ceil((K * cb) / 8) / 16) * 16;
  assert.is(ref.length, N * rowBytes);
  assert.is(ref.offset % 16, 0);
  const at = section('TENS').offset + ref.offset;
  const out: number[] = [];
  for (let r = 0; r < N; r++) {
    const row = bytes.subarray(at + r * rowBytes, at + (r + 1) * rowBytes);
    for (let c = 0; c < K; c++) out.push(element(row, c, cb));
    // padding after the last element of the row is zero
    const used = Math.ceil((K * cb) / 8);
    const lastBits = (K * cb) % 8;
    if (lastBits) assert.is(bytes[at + r * rowBytes + used - 1] >> lastBits, 0, `row ${r}: bits after element K-1`);
    assert.ok(bytes.subarray(at + r * rowBytes + used, at + (r + 1) * rowBytes).every((x) => x === 0), `row ${r} padding`);
  }
  return out;
}

test('§3 GRPH and §4–5 TENS: every layer and tensor decodes to the model it was written from', () => {
  const g = json('GRPH');
  assert.equal(g.bits, model.bits);
  assert.is(g.mode, model.mode);
  assert.equal(g.inputShape, model.inputShape);
  assert.is(g.layers.length, model.layers.length);
  let tensors = 0;
  g.layers.forEach((gl: Record<string, any>, i: number) => {
    const ml = model.layers[i] as Layer & Record<string, any>;
    for (const key of ['name', 'op', 'inputs', 'kernel', 'strides', 'padding', 'inChannels', 'outChannels', 'inFeatures', 'outFeatures', 'channels', 'epsilon', 'select', 'pool']) {
      assert.equal(gl[key], ml[key], `${ml.name}.${key}`);
    }
    const f32 = (v: ArrayLike<number>) => Array.from(v, Math.fround);
    if (ml.op === 'conv2d' || ml.op === 'dense') {
      const w = ml.weights;
      assert.is(gl.weights.kind, w.kind);
      if (w.kind === 'float') {
        assert.equal(floats(gl.weights.values), f32(w.values), `${ml.name} float weights`);
      } else {
        assert.is(gl.weights.bits, w.bits);
        assert.equal(gl.weights.values.shape, [ml.op === 'conv2d' ? ml.outChannels : ml.outFeatures, w.values.length / (ml.op === 'conv2d' ? ml.outChannels : ml.outFeatures)]);
        assert.equal(ints(gl.weights.values, w.bits), Array.from(w.values), `${ml.name} W̃_h`);
        assert.equal(floats(gl.weights.scale), f32(w.scale), `${ml.name} scale`);
        assert.equal(floats(gl.weights.actScales), f32(w.actScales), `${ml.name} actScales`);
        tensors += 2;
      }
      tensors++;
      if (ml.bias) { assert.equal(floats(gl.bias), f32(ml.bias), `${ml.name} bias`); tensors++; } else assert.is(gl.bias, undefined);
    }
    if (ml.op === 'batchnorm') {
      assert.equal(gl.params.shape, [ml.params.length / (4 * ml.channels), 4, ml.channels]);
      assert.equal(floats(gl.params), f32(ml.params), `${ml.name} params`);
      tensors++;
    }
  });
  assert.ok(tensors >= 15, `only ${tensors} tensors decoded`);
});

test('§7 optional sections: SENS, SUBN and META hold the model\'s records', () => {
  assert.equal(json('SENS'), model.sensitivity);
  assert.equal(json('SUBN'), model.subnets);
  assert.equal(json('META'), model.metadata);
});

test('§7.4 INPT (1.2): tiny-v1.2.bsw says minor 2 and its INPT section, checked like any other, holds the descriptor', () => {
  const b = new Uint8Array(readFileSync(new URL('./golden/tiny-v1.2.bsw', import.meta.url)));
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  assert.is(String.fromCharCode(...b.subarray(0, 8)), 'BITSWTCH');
  assert.equal([v.getUint16(8, true), v.getUint16(10, true)], [1, 2]);
  const n = v.getUint32(12, true);
  const table = Array.from({ length: n }, (_, i) => ({
    tag: String.fromCharCode(...b.subarray(32 + 16 * i, 36 + 16 * i)), offset: v.getUint32(36 + 16 * i, true), length: v.getUint32(40 + 16 * i, true), crc: v.getUint32(44 + 16 * i, true),
  }));
  assert.equal(table.map((t) => t.tag), ['GRPH', 'TENS', 'INPT', 'SENS', 'SUBN', 'META']);
  const inpt = table[2];
  const raw = b.subarray(inpt.offset, inpt.offset + inpt.length);
  assert.is(inpt.crc, crc32(raw) >>> 0);
  const input = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  // keys in the order §7.4 lists them
  assert.equal(Object.keys(input), ['layout', 'height', 'width', 'channels', 'dtype', 'range', 'mean', 'std', 'dataset', 'labels']);
  assert.equal(input, tinyModelV12(1).input);
  const graph = JSON.parse(new TextDecoder().decode(b.subarray(table[0].offset, table[0].offset + table[0].length)));
  assert.equal([input.height, input.width, input.channels], graph.inputShape);
  // §7.4's example: pixel 255 of an MNIST image → (255/255 − 0.1307)/0.3081
  const x = ((255 - input.range[0]) / (input.range[1] - input.range[0]) - input.mean[0]) / input.std[0];
  assert.is(Math.fround(x), Math.fround((1 - 0.1307) / 0.3081));
});

test("§5: the element rule above decodes the specification's own examples (4-bit 2F 03, 2-bit 39 01, 8-bit 80 7F)", () => {
  const decode = (raw: number[], b: number, K: number) => Array.from({ length: K }, (_, c) => element(raw, c, containerBits(b)));
  assert.equal(decode([0x2f, 0x03], 4, 3), [-1, 2, 3]);
  assert.equal(decode([0x39, 0x01], 2, 5), [1, -2, -1, 0, 1]);
  assert.equal(decode([0x80, 0x7f], 8, 2), [-128, 127]);
});

test.run();
