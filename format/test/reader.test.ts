// The reader's validation, one rule of SPEC.md at a time. Each case rebuilds the golden file with one
// field broken, using a small encoder written from SPEC §2 (header, section table, CRC-32 by zlib;
// not this package's writer), and expects the whole message of §8: field, byte offset, what was
// expected and what was found. Edges that are valid (64 sections, accuracy 0 and 1, a 128-character
// name, unknown sections, checksums off) must read.
import { suite, test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { crc32 } from 'node:zlib';
import { FormatError, readFileInfo, readModel } from '../src/index.ts';

const golden = new Uint8Array(readFileSync(new URL('./golden/tiny-v1.bsw', import.meta.url)));
const gdv = new DataView(golden.buffer, golden.byteOffset, golden.byteLength);

interface Part { tag: string; data: Uint8Array }
/** The golden file's sections, in table order. */
const parts: Part[] = Array.from({ length: gdv.getUint32(12, true) }, (_, i) => {
  const e = 32 + 16 * i;
  const offset = gdv.getUint32(e + 4, true);
  return { tag: String.fromCharCode(...golden.subarray(e, e + 4)), data: golden.slice(offset, offset + gdv.getUint32(e + 8, true)) };
});
const part = (tag: string) => parts.find((p) => p.tag === tag)!.data;
const json = (tag: string) => JSON.parse(new TextDecoder().decode(part(tag)));
const text = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

/** SPEC §2: 32-byte header, the table, each section at the next multiple of 16, zero padding to 16. */
function encode(sections: Part[], minor = 0): { bytes: Uint8Array; offsets: Record<string, number> } {
  const align = (n: number) => Math.ceil(n / 16) * 16;
  let end = align(32 + 16 * sections.length);
  const offsets: Record<string, number> = {};
  const placed = sections.map((s) => {
    const at = end;
    offsets[s.tag] = at;
    end = align(at + s.data.length);
    return at;
  });
  const bytes = new Uint8Array(end);
  const dv = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode('BITSWTCH'), 0);
  dv.setUint16(8, 1, true);
  dv.setUint16(10, minor, true);
  dv.setUint32(12, sections.length, true);
  dv.setUint32(16, bytes.length, true);
  sections.forEach((s, i) => {
    const e = 32 + 16 * i;
    bytes.set(new TextEncoder().encode(s.tag), e);
    dv.setUint32(e + 4, placed[i], true);
    dv.setUint32(e + 8, s.data.length, true);
    dv.setUint32(e + 12, crc32(s.data) >>> 0, true);
    bytes.set(s.data, placed[i]);
  });
  const covered = new Uint8Array(20 + 16 * sections.length);
  covered.set(bytes.subarray(0, 20));
  covered.set(bytes.subarray(32, 32 + 16 * sections.length), 20);
  dv.setUint32(20, crc32(covered) >>> 0, true);
  return { bytes, offsets };
}

/** The golden sections with some replaced (JSON values are re-encoded; Uint8Array used as is). */
function rebuild(replace: Record<string, unknown> = {}, drop: string[] = []): { bytes: Uint8Array; offsets: Record<string, number> } {
  return encode(parts.filter((p) => !drop.includes(p.tag)).map((p) => {
    const r = replace[p.tag];
    return { tag: p.tag, data: r === undefined ? p.data : r instanceof Uint8Array ? r : text(r) };
  }));
}

/** GRPH with `edit` applied to a fresh copy of its JSON. */
function graph(edit: (g: any) => void): Uint8Array {
  const g = json('GRPH');
  edit(g);
  return rebuild({ GRPH: g }).bytes;
}

/** TENS with float32 values written at byte offsets of the section. */
function tens(values: [number, number][]): { bytes: Uint8Array; at: number } {
  const t = part('TENS').slice();
  for (const [o, v] of values) new DataView(t.buffer).setFloat32(o, v, true);
  const { bytes, offsets } = rebuild({ TENS: t });
  return { bytes, at: offsets.TENS };
}

function rejects(bytes: Uint8Array, message: string | RegExp, read: (b: Uint8Array) => unknown = readModel): void {
  try {
    read(bytes);
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    if (typeof message === 'string') assert.is(e.message, message);
    else assert.match(e.message, message);
    return;
  }
  assert.unreachable(`accepted; expected: ${message}`);
}

const G = 112; // GRPH is the first section after a 5-entry table: 32 + 5·16

test('the encoder reproduces the golden file, so every case below differs from it only where it says', () => {
  assert.equal(Array.from(rebuild().bytes), Array.from(golden));
});

test('§2.1 header: size, magic, major version, section count, reserved bytes, table size', () => {
  rejects(golden.slice(0, 31), 'header (byte 0): expected at least 32 bytes, got "31 bytes"', readFileInfo);
  const m = golden.slice(); m[7] = 0x58;
  rejects(m, 'magic (byte 0): expected "BITSWTCH", got "BITSWTCX"', readFileInfo);
  const v = golden.slice(); v[8] = 0; v[9] = 1;
  rejects(v, 'major version (byte 8): expected 1 (this reader understands format v1 only), got 256', readFileInfo);
  for (const [count, ok] of [[1, false], [65, false]] as const) {
    const c = golden.slice(); new DataView(c.buffer).setUint32(12, count, true);
    if (!ok) rejects(c, `section count (byte 12): expected 2..64, got ${count}`, readFileInfo);
  }
  for (const i of [24, 31]) {
    const r = golden.slice(); r[i] = 5;
    rejects(r, `reserved (byte ${i}): expected 0, got 5`, readFileInfo);
  }
  // 64 entries need 32 + 1024 bytes; a 1040-byte file cannot hold the table
  const t = new Uint8Array(1040);
  t.set(golden.subarray(0, 32));
  new DataView(t.buffer).setUint32(12, 64, true);
  new DataView(t.buffer).setUint32(16, 1040, true);
  rejects(t, 'section table (byte 32): expected 1056 bytes in the file, got 1040', readFileInfo);
});

test('§2.1 section count edges: 2 (GRPH and TENS only) and 64 (unknown tags are skipped) read', () => {
  const two = rebuild({}, ['SENS', 'SUBN', 'META']).bytes;
  const m2 = readModel(two);
  assert.is(m2.layers.length, 16);
  assert.is(m2.sensitivity, undefined);
  assert.is(m2.subnets, undefined);
  assert.is(m2.metadata, undefined);
  const extra = Array.from({ length: 59 }, (_, i) => ({ tag: `X${String(i).padStart(3, '0')}`, data: Uint8Array.of(i) }));
  const many = encode([...parts, ...extra]);
  const info = readFileInfo(many.bytes);
  assert.is(info.sections.length, 64);
  assert.equal(info.sections[63], { tag: 'X058', offset: many.offsets.X058, length: 1, crc: crc32(Uint8Array.of(58)) >>> 0, crcOk: true });
  assert.equal(readModel(many.bytes), readModel(golden));
});

test('§2.2 section table: tags, order, overlap, lengths', () => {
  const entry = (i: number, edit: (dv: DataView, e: number, b: Uint8Array) => void) => {
    const b = golden.slice();
    edit(new DataView(b.buffer), 32 + 16 * i, b);
    return b;
  };
  rejects(entry(1, (_, e, b) => { b[e + 1] = 0x65; }), 'sections[1].tag (byte 48): expected four characters A-Z or 0-9, got "TeNS"', readFileInfo);
  rejects(entry(2, (_, e, b) => b.set(new TextEncoder().encode('GRPH'), e)), 'sections[2].tag (byte 64): expected a tag not used before, got "GRPH"', readFileInfo);
  rejects(entry(0, (dv, e) => dv.setUint32(e + 4, 120, true)), 'sections[0].offset (byte 36): expected a multiple of 16, at least 112, got 120', readFileInfo);
  rejects(entry(0, (dv, e) => dv.setUint32(e + 4, 96, true)), 'sections[0].offset (byte 36): expected a multiple of 16, at least 112, got 96', readFileInfo);
  // TENS may not start before GRPH ends (GRPH: 112 + 3043 = 3155)
  rejects(entry(1, (dv, e) => dv.setUint32(e + 4, 3152, true)), 'sections[1].offset (byte 52): expected a multiple of 16, at least 3155, got 3152', readFileInfo);
  const last = parts.length - 1;
  const lastOffset = gdv.getUint32(32 + 16 * last + 4, true);
  const room = golden.length - lastOffset;
  rejects(entry(last, (dv, e) => dv.setUint32(e + 8, room + 1, true)), `sections[${last}].length (byte ${32 + 16 * last + 8}): expected at most ${room} (end of file), got ${room + 1}`, readFileInfo);
  // a section that ends exactly at the end of the file is fine (checksums are reported, not enforced)
  const exact = readFileInfo(entry(last, (dv, e) => dv.setUint32(e + 8, room, true)));
  assert.is(exact.sections[last].length, room);
  assert.not.ok(exact.sections[last].crcOk);
  assert.not.ok(exact.headerCrcOk);
});

test('checksums: enforced by default with the section named, reported by readFileInfo, skipped on request', () => {
  const h = golden.slice(); h[20] ^= 1;
  rejects(h, 'header checksum (byte 20): expected the CRC-32 of the header and section table');
  assert.not.ok(readFileInfo(h).headerCrcOk);
  assert.equal(readModel(h, { verifyChecksums: false }), readModel(golden));
  // SUBN's budget 4 → 6 inside the section: its CRC (table entry 3, byte 92) no longer matches
  const s = golden.slice();
  const at = gdv.getUint32(32 + 16 * 3 + 4, true) + new TextDecoder().decode(part('SUBN')).indexOf('"avg-bits":4') + 11;
  assert.is(s[at], 0x34);
  s[at] = 0x36;
  rejects(s, 'SUBN checksum (byte 92): expected the CRC-32 of the section');
  assert.equal(readFileInfo(s).sections.map((x) => x.crcOk), [true, true, true, false, true]);
  assert.ok(readFileInfo(s).headerCrcOk);
  assert.equal(readModel(s, { verifyChecksums: false }).subnets![0].budget, { 'avg-bits': 6 });
});

test('§2.3 required sections and JSON sections', () => {
  rejects(rebuild({}, ['GRPH']).bytes, 'GRPH section (byte 32): expected present');
  rejects(rebuild({}, ['TENS']).bytes, 'TENS section (byte 32): expected present');
  rejects(rebuild({ GRPH: '{"bits": [8' }).bytes, /^GRPH section \(byte 112\): expected UTF-8 JSON, got "/);
  rejects(rebuild({ META: Uint8Array.of(0x7b, 0xff, 0x7d) }).bytes, /^META section \(byte \d+\): expected UTF-8 JSON, got "/);
  const big = new Uint8Array((16 << 20) + 1).fill(0x20);
  const { bytes, offsets } = rebuild({ META: big });
  rejects(bytes, `META length (byte ${offsets.META}): expected at most ${16 << 20} bytes, got ${(16 << 20) + 1}`);
  const { bytes: arr, offsets: o2 } = rebuild({ META: [] });
  rejects(arr, `metadata (byte ${o2.META}): expected an object, got array of length 0`);
});

test('§3 graph: bits, mode, inputShape, layers', () => {
  rejects(rebuild({ GRPH: [] }).bytes, `graph (byte ${G}): expected an object, got array of length 0`);
  rejects(rebuild({ GRPH: null }).bytes, `graph (byte ${G}): expected an object, got null`);
  rejects(rebuild({ GRPH: 3 }).bytes, `graph (byte ${G}): expected an object, got 3`);
  rejects(graph((g) => { g.bits = []; }), `bits (byte ${G}): expected an array of 1..7 entries, got array of length 0`);
  rejects(graph((g) => { g.bits = [8, 7, 6, 5, 4, 3, 2, 1]; }), `bits (byte ${G}): expected an array of 1..7 entries, got array of length 8`);
  rejects(graph((g) => { g.bits = 8; }), `bits (byte ${G}): expected an array of 1..7 entries, got 8`);
  rejects(graph((g) => { g.bits = [8, 6, 4, 1]; }), `bits[3] (byte ${G}): expected an integer in 2..8, got 1`);
  rejects(graph((g) => { g.bits = [9, 6, 4, 2]; }), `bits[0] (byte ${G}): expected an integer in 2..8, got 9`);
  rejects(graph((g) => { g.bits = [8, 6.5, 4, 2]; }), `bits[1] (byte ${G}): expected an integer in 2..8, got 6.5`);
  rejects(graph((g) => { g.bits = [8, '6', 4, 2]; }), `bits[1] (byte ${G}): expected an integer in 2..8, got "6"`);
  rejects(graph((g) => { g.bits = [8, 6, 6, 2]; }), `bits[2] (byte ${G}): expected less than 6 (descending, no repeats), got 6`);
  rejects(graph((g) => { g.bits = [8, 4, 6, 2]; }), `bits[2] (byte ${G}): expected less than 4 (descending, no repeats), got 6`);
  rejects(graph((g) => { g.mode = 'single'; }), `mode (byte ${G}): expected one of "multi", "mixed", got "single"`);
  rejects(graph((g) => { g.inputShape = [8, 8]; }), `inputShape (byte ${G}): expected an array of 3 entries, got array of length 2`);
  rejects(graph((g) => { g.inputShape = [8, 0, 1]; }), `inputShape[1] (byte ${G}): expected an integer in 1..65536, got 0`);
  rejects(graph((g) => { g.inputShape = [8, 8, 65537]; }), `inputShape[2] (byte ${G}): expected an integer in 1..65536, got 65537`);
  rejects(graph((g) => { g.inputShape = [4096, 4097, 1]; }), `inputShape (byte ${G}): expected at most 16777216 elements, got "4096x4097x1"`);
  rejects(graph((g) => { g.layers = []; }), `layers (byte ${G}): expected an array of 1..4096 entries, got array of length 0`);
  rejects(graph((g) => { g.layers[2] = 'relu'; }), `layers[2] (byte ${G}): expected an object, got "relu"`);
});

test('§3 layers: names, ops, inputs and shapes agree', () => {
  rejects(graph((g) => { g.layers[2].name = 'conv0'; }), `layers[2].name (byte ${G}): expected a name not used before (and not "input"), got "conv0"`);
  rejects(graph((g) => { g.layers[0].name = 'input'; }), `layers[0].name (byte ${G}): expected a name not used before (and not "input"), got "input"`);
  rejects(graph((g) => { g.layers[2].name = ''; }), `layers[2].name (byte ${G}): expected a string of 1..128 characters, got ""`);
  rejects(graph((g) => { g.layers[2].name = 'r'.repeat(129); }), new RegExp(`^layers\\[2\\]\\.name \\(byte ${G}\\): expected a string of 1\\.\\.128 characters, got "r{60}…"$`));
  rejects(graph((g) => { g.layers[2].op = 'sigmoid'; }), `layers[2].op (byte ${G}): expected one of "conv2d", "dense", "batchnorm", "relu", "add", "flatten", "globalavgpool", "avgpool", got "sigmoid"`);
  rejects(graph((g) => { g.layers[9].inputs = ['bn2']; }), `layers[9].inputs (byte ${G}): expected an array of 2 entries, got array of length 1`);
  rejects(graph((g) => { g.layers[2].inputs = ['bn0', 'conv0']; }), `layers[2].inputs (byte ${G}): expected an array of 1 entries, got array of length 2`);
  rejects(graph((g) => { g.layers[9].inputs = ['bn2', 'relu3']; }), `layers[9].inputs[1] (byte ${G}): expected "input" or the name of an earlier layer, got "relu3"`);
  rejects(graph((g) => { g.layers[9].inputs = ['bn2', 'relu1']; }), `layers[9].inputs[1] (byte ${G}): expected a layer with output shape [4,4,8], got "shape [8,8,4]"`);
  rejects(graph((g) => { g.layers[13].inputs = ['relu2']; }), `layers[13].inputs[0] (byte ${G}): expected a layer with a rank-1 output, got "shape [4,4,8]"`);
  for (const op of ['conv2d', 'avgpool', 'globalavgpool']) {
    rejects(graph((g) => { g.layers[14] = { name: 'relu3', op, inputs: ['fc1'] }; }), `layers[14].inputs[0] (byte ${G}): expected a layer with a rank-3 output, got "shape [16]"`);
  }
  // a layer name of exactly 128 characters is valid
  const long = 'r'.repeat(128);
  const m = readModel(graph((g) => { g.layers[2].name = long; g.layers[3].inputs = [long]; }));
  assert.is(m.layers[2].name, long);
});

test('§3 op shapes: conv, pools, flatten and globalavgpool give the shapes the next layers need', () => {
  // conv0 'same' 3×3 on 8×8×1 → 8×8×4; a 1-channel input to conv1 is named
  rejects(graph((g) => { g.layers[3].inChannels = 5; }), `layers[3].inChannels (byte ${G}): expected 4 (channels of relu0), got 5`);
  rejects(graph((g) => { g.layers[3].kernel = [3, 0]; }), `layers[3].kernel[1] (byte ${G}): expected an integer in 1..65536, got 0`);
  rejects(graph((g) => { g.layers[3].kernel = [3]; }), `layers[3].kernel (byte ${G}): expected an array of 2 entries, got array of length 1`);
  rejects(graph((g) => { g.layers[3].strides = [0, 1]; }), `layers[3].strides[0] (byte ${G}): expected an integer in 1..65536, got 0`);
  rejects(graph((g) => { g.layers[3].padding = 'full'; }), `layers[3].padding (byte ${G}): expected one of "same", "valid", got "full"`);
  rejects(graph((g) => { g.layers[3].outChannels = 0; }), `layers[3].outChannels (byte ${G}): expected an integer in 1..65536, got 0`);
  // avgpool 'valid' on 4×4: a window of 5 leaves no output
  rejects(graph((g) => { g.layers[11].pool = [5, 2]; }), `layers[11].pool[0] (byte ${G}): expected a window of at most 4 with padding "valid", got 5`);
  rejects(graph((g) => { g.layers[11].pool = [2, 5]; }), `layers[11].pool[1] (byte ${G}): expected a window of at most 4 with padding "valid", got 5`);
  // pool 4×4 'valid' → 1×1×8, stride 1 'same' → 4×4×8: flatten then offers 8 or 128 features to fc1
  rejects(graph((g) => { g.layers[11].pool = [4, 4]; }), `layers[13].inFeatures (byte ${G}): expected 8 (features of flat), got 32`);
  rejects(graph((g) => { g.layers[11].strides = [1, 1]; g.layers[11].padding = 'same'; }), `layers[13].inFeatures (byte ${G}): expected 128 (features of flat), got 32`);
  rejects(graph((g) => { g.layers[11].strides = [2, 1]; }), `layers[13].inFeatures (byte ${G}): expected 48 (features of flat), got 32`);
  rejects(graph((g) => { g.layers[11].strides = [1, 2]; }), `layers[13].inFeatures (byte ${G}): expected 48 (features of flat), got 32`);
  rejects(graph((g) => { g.layers[11].pool = [2, 3]; }), `layers[13].inFeatures (byte ${G}): expected 16 (features of flat), got 32`);
  rejects(graph((g) => { g.layers[11].pool = [3, 2]; }), `layers[13].inFeatures (byte ${G}): expected 16 (features of flat), got 32`);
  // globalavgpool in place of the pool: [4,4,8] → [8]
  rejects(graph((g) => { g.layers[11] = { name: 'pool', op: 'globalavgpool', inputs: ['relu2'] }; }), `layers[13].inFeatures (byte ${G}): expected 8 (features of flat), got 32`);
  // a shortcut of stride 1 gives [8,8,8] at the add
  rejects(graph((g) => { g.layers[8].strides = [1, 1]; }), `layers[9].inputs[1] (byte ${G}): expected a layer with output shape [4,4,8], got "shape [8,8,8]"`);
  rejects(graph((g) => { g.layers[8].strides = [2, 1]; }), `layers[9].inputs[1] (byte ${G}): expected a layer with output shape [4,4,8], got "shape [4,8,8]"`);
  // conv2 'same' stride 2 over 8×8 → 4×4; relu after flatten keeps [32]
  rejects(graph((g) => { g.layers[6].strides = [1, 2]; }), `layers[9].inputs[1] (byte ${G}): expected a layer with output shape [8,4,8], got "shape [4,4,8]"`);
  rejects(graph((g) => {
    g.layers.splice(13, 0, { name: 'r', op: 'relu', inputs: ['flat'] });
    g.layers[14].inputs = ['r'];
    g.layers[14].inFeatures = 31;
  }), `layers[14].inFeatures (byte ${G}): expected 32 (features of r), got 31`);
  rejects(graph((g) => { g.inputShape = [4096, 4096, 1]; }), `layers[0] (byte ${G}): expected an output of at most 16777216 elements, got "4096x4096x4"`);
  // exactly 2^24 elements is allowed: 2048×2048×4
  const g = json('GRPH');
  g.inputShape = [2048, 2048, 1];
  g.layers.length = 3;
  const big = readModel(rebuild({ GRPH: g }, ['SENS', 'SUBN']).bytes);
  assert.equal(big.inputShape, [2048, 2048, 1]);
});

test('§3 dense and §3.1 weights: kinds, bits, tensor references', () => {
  rejects(graph((g) => { g.layers[13].inFeatures = 31; }), `layers[13].inFeatures (byte ${G}): expected 32 (features of flat), got 31`);
  rejects(graph((g) => { g.layers[13].outFeatures = 0; }), `layers[13].outFeatures (byte ${G}): expected an integer in 1..65536, got 0`);
  rejects(graph((g) => { g.layers[3].weights.kind = 'fixed'; }), `layers[3].weights.kind (byte ${G}): expected one of "float", "int", got "fixed"`);
  rejects(graph((g) => { g.layers[3].weights = 'w'; }), `layers[3].weights (byte ${G}): expected an object, got "w"`);
  rejects(graph((g) => { g.layers[3].weights.bits = 7; }), `layers[3].weights.bits (byte ${G}): expected an integer in 8..8, got 7`);
  rejects(graph((g) => { g.layers[3].weights.bits = 9; }), `layers[3].weights.bits (byte ${G}): expected an integer in 8..8, got 9`);
  const v = (edit: (r: any) => void) => graph((g) => edit(g.layers[3].weights.values));
  rejects(v((r) => { r.dtype = 'int4'; }), `layers[3].weights.values.dtype (byte ${G}): expected "int8", got "int4"`);
  rejects(v((r) => { r.shape = [4]; }), `layers[3].weights.values.shape (byte ${G}): expected an array of 2 entries, got array of length 1`);
  rejects(v((r) => { r.shape = [5, 36]; }), `layers[3].weights.values.shape[0] (byte ${G}): expected 4, got 5`);
  rejects(v((r) => { r.shape = [4, 35]; }), `layers[3].weights.values.shape[1] (byte ${G}): expected 36, got 35`);
  rejects(v((r) => { r.offset = 232; }), `layers[3].weights.values.offset (byte ${G}): expected a multiple of 16, got 232`);
  rejects(v((r) => { r.offset = -16; }), `layers[3].weights.values.offset (byte ${G}): expected an integer in 0..4640, got -16`);
  rejects(v((r) => { r.offset = 4656; }), `layers[3].weights.values.offset (byte ${G}): expected an integer in 0..4640, got 4656`);
  rejects(v((r) => { r.length = 176; }), `layers[3].weights.values.length (byte ${G}): expected 192 bytes, got 176`);
  rejects(v((r) => { r.offset = 4464; }), `layers[3].weights.values.length (byte ${G}): expected at most 176 (end of TENS), got 192`);
  // a tensor that ends exactly at the end of TENS reads
  assert.ok(readModel(v((r) => { r.offset = 4448; })));
  rejects(graph((g) => { g.layers[3].weights.scale.shape = [2]; }), `layers[3].weights.scale.shape[0] (byte ${G}): expected 1 or 4, got 2`);
  rejects(graph((g) => { g.layers[3].weights.scale.shape = [4, 1]; }), `layers[3].weights.scale.shape (byte ${G}): expected an array of 1 entries, got array of length 2`);
  rejects(graph((g) => { g.layers[3].weights.scale = 0.1; }), `layers[3].weights.scale (byte ${G}): expected an object, got 0.1`);
  rejects(graph((g) => { g.layers[3].weights.actScales.shape = [3]; }), `layers[3].weights.actScales.shape[0] (byte ${G}): expected 4, got 3`);
  rejects(graph((g) => { g.layers[0].bias.shape = [5]; }), `layers[0].bias.shape[0] (byte ${G}): expected 4, got 5`);
  rejects(graph((g) => { g.layers[13].bias.dtype = 'float16'; }), `layers[13].bias.dtype (byte ${G}): expected "float32", got "float16"`);
  rejects(graph((g) => { g.layers[0].weights.values.shape = [4, 8]; }), `layers[0].weights.values.shape[1] (byte ${G}): expected 9, got 8`);
  // no bias: the layer reads without one
  const nb = readModel(graph((g) => { delete g.layers[13].bias; }));
  assert.not.ok('bias' in nb.layers[13]);
});

test('§4 float32 tensors: finite, and scales > 0, each bad element named with its byte', () => {
  let r = tens([[4 * 3, NaN]]);
  rejects(r.bytes, `layers[0].weights.values[3] (byte ${r.at + 12}): expected a finite number, got NaN`);
  r = tens([[144 + 4 * 3, Infinity]]);
  rejects(r.bytes, `layers[0].bias[3] (byte ${r.at + 156}): expected a finite number, got Infinity`);
  r = tens([[416 + 4, -0.5]]);
  rejects(r.bytes, `layers[3].weights.scale[1] (byte ${r.at + 420}): expected a finite number > 0, got -0.5`);
  r = tens([[432 + 12, 0]]);
  rejects(r.bytes, `layers[3].weights.actScales[3] (byte ${r.at + 444}): expected a finite number > 0, got 0`);
  r = tens([[1088, Infinity]]);
  rejects(r.bytes, `layers[6].weights.scale[0] (byte ${r.at + 1088}): expected a finite number > 0, got Infinity`);
  // a negative weight, bias or BatchNorm shift is fine
  const ok = readModel(tens([[0, -2], [144, -3]]).bytes);
  assert.is((ok.layers[0] as any).weights.values[0], -2);
  assert.is((ok.layers[0] as any).bias[0], -3);
});

test('§3.2 BatchNorm: channels, epsilon, select, parameter sets, variance ≥ 0', () => {
  rejects(graph((g) => { g.layers[1].channels = 5; }), `layers[1].channels (byte ${G}): expected 4 (last dimension of conv0), got 5`);
  rejects(graph((g) => { g.layers[1].epsilon = 0; }), `layers[1].epsilon (byte ${G}): expected a finite number > 0, got 0`);
  rejects(graph((g) => { g.layers[1].epsilon = -1e-3; }), `layers[1].epsilon (byte ${G}): expected a finite number > 0, got -0.001`);
  rejects(graph((g) => { g.layers[1].epsilon = '1e-3'; }), `layers[1].epsilon (byte ${G}): expected a finite number > 0, got "1e-3"`);
  rejects(graph((g) => { g.layers[1].select = { kind: 'per-layer' }; }), `layers[1].select.kind (byte ${G}): expected one of "single", "per-bit", "per-pair", got "per-layer"`);
  rejects(graph((g) => { g.layers[4].select.layer = 'conv0'; }), `layers[4].select.layer (byte ${G}): expected the name of an earlier quantized layer, got "conv0"`);
  rejects(graph((g) => { g.layers[4].select.layer = 'conv2'; }), `layers[4].select.layer (byte ${G}): expected the name of an earlier quantized layer, got "conv2"`);
  rejects(graph((g) => { g.layers[7].select.prev = 'relu1'; }), `layers[7].select.prev (byte ${G}): expected the name of an earlier quantized layer, got "relu1"`);
  rejects(graph((g) => { g.layers[7].select.layer = 'short'; }), `layers[7].select.layer (byte ${G}): expected the name of an earlier quantized layer, got "short"`);
  rejects(graph((g) => { g.layers[4].select.layer = 7; }), `layers[4].select.layer (byte ${G}): expected a string of 1..128 characters, got 7`);
  // sets: single 1, per-bit |B| = 4, per-pair |B|² = 16
  rejects(graph((g) => { g.layers[1].params.shape = [4, 4, 4]; }), `layers[1].params.shape[0] (byte ${G}): expected 1, got 4`);
  rejects(graph((g) => { g.layers[4].params.shape = [1, 4, 4]; }), `layers[4].params.shape[0] (byte ${G}): expected 4, got 1`);
  rejects(graph((g) => { g.layers[7].params.shape = [4, 4, 8]; }), `layers[7].params.shape[0] (byte ${G}): expected 16, got 4`);
  // variance is row 3 of each set: bn0 set 0 channel 2 at 160 + (3·4 + 2)·4; bn1 set 3 channel 3 at 448 + (15·4 + 3)·4
  rejects(tens([[160 + 56, -1]]).bytes, `layers[1].params[0][3][2] (variance) (byte ${G}): expected a number >= 0, got -1`);
  rejects(tens([[448 + 252, -0.25]]).bytes, `layers[4].params[3][3][3] (variance) (byte ${G}): expected a number >= 0, got -0.25`);
  // a zero variance, and negative γ, β and mean, are valid
  const m = readModel(tens([[160 + 48, 0], [160, -1], [160 + 16, -1], [160 + 32, -1]]).bytes);
  assert.is((m.layers[1] as any).params[12], 0);
});

test('§7.1 SENS and §7.2 SUBN records', () => {
  const at = rebuild().offsets;
  const sens = (edit: (s: any[]) => void) => { const s = json('SENS'); edit(s); return rebuild({ SENS: s }).bytes; };
  rejects(rebuild({ SENS: {} }).bytes, `sensitivity (byte ${at.SENS}): expected an array of 0..4096 entries, got object`);
  rejects(sens((s) => { s[1] = 1; }), `sensitivity[1] (byte ${at.SENS}): expected an object, got 1`);
  rejects(sens((s) => { s[0].layer = 'conv0'; }), `sensitivity[0].layer (byte ${at.SENS}): expected the name of a quantized layer, got "conv0"`);
  rejects(sens((s) => { s[0].hessianTrace = 'x'; }), `sensitivity[0].hessianTrace (byte ${at.SENS}): expected a finite number, got "x"`);
  rejects(sens((s) => { s[0].params = 0; }), `sensitivity[0].params (byte ${at.SENS}): expected an integer in 1..9007199254740991, got 0`);
  rejects(sens((s) => { s[0].macs = -1; }), `sensitivity[0].macs (byte ${at.SENS}): expected an integer in 0..9007199254740991, got -1`);
  rejects(sens((s) => { s[0].hessianTraceStdErr = -0.5; }), `sensitivity[0].hessianTraceStdErr (byte ${at.SENS}): expected a finite number >= 0, got -0.5`);
  rejects(sens((s) => { s[0].probes = 0; }), `sensitivity[0].probes (byte ${at.SENS}): expected an integer in 1..9007199254740991, got 0`);
  const ok = readModel(sens((s) => { s[0].hessianTraceStdErr = 0; s[0].probes = 1; s[0].macs = 0; s[0].hessianTrace = -2; }));
  assert.equal(ok.sensitivity![0], { layer: 'conv1', hessianTrace: -2, params: 144, macs: 0, hessianTraceStdErr: 0, probes: 1 });
  assert.equal(readModel(rebuild({ SENS: [] }).bytes).sensitivity, []);

  const subn = (edit: (s: any[]) => void) => { const s = json('SUBN'); edit(s); return rebuild({ SUBN: s }).bytes; };
  rejects(rebuild({ SUBN: '"avg4"' }).bytes, `subnets (byte ${at.SUBN}): expected an array of 0..100000 entries, got "avg4"`);
  rejects(subn((s) => { s.push({ ...s[0] }); }), `subnets[1].name (byte ${at.SUBN}): expected a name not used before, got "avg4"`);
  rejects(subn((s) => { s[0].bits = [8, 4, 2]; }), `subnets[0].bits (byte ${at.SUBN}): expected an array of 4 entries, got array of length 3`);
  rejects(subn((s) => { s[0].bits = [8, 4, 3, 2]; }), `subnets[0].bits[2] (byte ${at.SUBN}): expected one of 8, 6, 4, 2, got 3`);
  rejects(subn((s) => { s[0].budget = 4; }), `subnets[0].budget (byte ${at.SUBN}): expected an object, got 4`);
  rejects(subn((s) => { s[0].budget = { 'avg-bits': 4, bytes: '1k' }; }), `subnets[0].budget.bytes (byte ${at.SUBN}): expected a finite number, got "1k"`);
  rejects(subn((s) => { s[0].accuracy = 1.5; }), `subnets[0].accuracy (byte ${at.SUBN}): expected a number in 0..1, got 1.5`);
  rejects(subn((s) => { s[0].accuracy = -0.25; }), `subnets[0].accuracy (byte ${at.SUBN}): expected a number in 0..1, got -0.25`);
  rejects(subn((s) => { s[0].accuracy = null; }), `subnets[0].accuracy (byte ${at.SUBN}): expected a finite number, got null`);
  for (const acc of [0, 1]) assert.is(readModel(subn((s) => { s[0].accuracy = acc; })).subnets![0].accuracy, acc);
  const two = readModel(subn((s) => { delete s[0].accuracy; s.push({ name: 'b', bits: [2, 2, 2, 2], budget: {} }); })).subnets!;
  assert.equal(two, [{ name: 'avg4', bits: [8, 4, 2, 2], budget: { 'avg-bits': 4 } }, { name: 'b', bits: [2, 2, 2, 2], budget: {} }]);
});

/** A file of GRPH (layers without tensors) and an empty TENS. */
function minimal(g: Record<string, unknown>): Uint8Array {
  return encode([{ tag: 'GRPH', data: text({ mode: 'multi', inputShape: [1, 1, 1], layers: [{ name: 'f', op: 'flatten', inputs: ['input'] }], ...g }) }, { tag: 'TENS', data: new Uint8Array(0) }]).bytes;
}

test('inputs: an ArrayBuffer, and a Uint8Array view that does not start at its buffer\'s first byte', () => {
  const want = readModel(golden);
  assert.equal(readModel(golden.slice().buffer), want);
  const big = new Uint8Array(golden.length + 3);
  big.set(golden, 3);
  assert.equal(readModel(big.subarray(3)), want);
  assert.equal(readFileInfo(big.subarray(3)), readFileInfo(golden));
  assert.equal(readFileInfo(golden.slice().buffer).sections.length, 5);
});

test('variance is checked in every set and channel, and only there (a negative γ of the next set is fine)', () => {
  // bn1 (4 sets × 4 rows × 4 channels at TENS 448): γ of set 1, channel 0 is value 16
  const m = readModel(tens([[448 + 64, -2]]).bytes);
  assert.is((m.layers[4] as any).params[16], -2);
  // bn2 (16 sets, 8 channels at 1120): the variance of set 15, channel 7 is value (15·4 + 3)·8 + 7
  rejects(tens([[1120 + 4 * ((15 * 4 + 3) * 8 + 7), -3]]).bytes, `layers[7].params[15][3][7] (variance) (byte ${G}): expected a number >= 0, got -3`);
});

test('header and table edges: a 32-byte file, a file that ends with its table, the expected size on a length mismatch', () => {
  const h = golden.slice(0, 32);
  new DataView(h.buffer).setUint32(16, 32, true);
  rejects(h, 'section table (byte 32): expected 112 bytes in the file, got 32', readFileInfo);
  // two empty sections at offset 64, right after the table: the table may end the file
  const t = new Uint8Array(64);
  const dv = new DataView(t.buffer);
  t.set(new TextEncoder().encode('BITSWTCH'));
  dv.setUint16(8, 1, true);
  dv.setUint32(12, 2, true);
  dv.setUint32(16, 64, true);
  t.set(new TextEncoder().encode('GRPH'), 32);
  t.set(new TextEncoder().encode('TENS'), 48);
  dv.setUint32(36, 64, true);
  dv.setUint32(52, 64, true);
  assert.equal(readFileInfo(t).sections.map((x) => [x.tag, x.offset, x.length, x.crcOk]), [['GRPH', 64, 0, true], ['TENS', 64, 0, true]]);
  try {
    readFileInfo(golden.slice(0, golden.length - 16));
    assert.unreachable('accepted a truncated file');
  } catch (e) {
    assert.is((e as FormatError).expected, `${golden.length - 16} (the actual size)`);
  }
});

test('JSON sections: invalid UTF-8 inside a string is refused, numbers too large for a double are not finite', () => {
  const meta = Uint8Array.from([...text('{"a":"'), 0xff, ...text('"}')]);
  const { bytes, offsets } = rebuild({ META: meta });
  rejects(bytes, new RegExp(`^META section \\(byte ${offsets.META}\\): expected UTF-8 JSON, got "`));
  const sensText = new TextDecoder().decode(part('SENS')).replace('"hessianTrace":0.5', '"hessianTrace":1e999');
  const r = rebuild({ SENS: sensText });
  rejects(r.bytes, `sensitivity[0].hessianTrace (byte ${r.offsets.SENS}): expected a finite number, got Infinity`);
  const r2 = rebuild({ GRPH: new TextDecoder().decode(part('GRPH')).replace('"epsilon":0.001', '"epsilon":1e999') });
  rejects(r2.bytes, `layers[1].epsilon (byte ${G}): expected a finite number > 0, got Infinity`);
});

test('every field path is named: inputs, channels, features, pools, weights of dense layers, SENS and SUBN names', () => {
  rejects(graph((g) => { g.layers[2].inputs = [5]; }), `layers[2].inputs[0] (byte ${G}): expected a string of 1..128 characters, got 5`);
  rejects(graph((g) => { g.layers[3].inChannels = 0; }), `layers[3].inChannels (byte ${G}): expected an integer in 1..65536, got 0`);
  rejects(graph((g) => { g.layers[1].channels = 0; }), `layers[1].channels (byte ${G}): expected an integer in 1..65536, got 0`);
  rejects(graph((g) => { g.layers[13].inFeatures = 0; }), `layers[13].inFeatures (byte ${G}): expected an integer in 1..16777216, got 0`);
  rejects(graph((g) => { g.layers[13].weights.kind = 'x'; }), `layers[13].weights.kind (byte ${G}): expected one of "float", "int", got "x"`);
  rejects(graph((g) => { g.layers[11].pool = [0, 2]; }), `layers[11].pool[0] (byte ${G}): expected an integer in 1..65536, got 0`);
  rejects(graph((g) => { g.layers[11].strides = [2]; }), `layers[11].strides (byte ${G}): expected an array of 2 entries, got array of length 1`);
  rejects(graph((g) => { g.layers[11].padding = 'full'; }), `layers[11].padding (byte ${G}): expected one of "same", "valid", got "full"`);
  // conv0 'valid' on a 2×8 or 8×2 input: the 3×3 window does not fit
  rejects(graph((g) => { g.inputShape = [2, 8, 1]; g.layers[0].padding = 'valid'; }), `layers[0].kernel[0] (byte ${G}): expected a window of at most 2 with padding "valid", got 3`);
  rejects(graph((g) => { g.inputShape = [8, 2, 1]; g.layers[0].padding = 'valid'; }), `layers[0].kernel[1] (byte ${G}): expected a window of at most 2 with padding "valid", got 3`);
  const at = rebuild().offsets;
  const s = json('SENS'); s[0].layer = 5;
  rejects(rebuild({ SENS: s }).bytes, `sensitivity[0].layer (byte ${at.SENS}): expected a string of 1..128 characters, got 5`);
  const n = json('SUBN'); n[0].name = '';
  rejects(rebuild({ SUBN: n }).bytes, `subnets[0].name (byte ${at.SUBN}): expected a string of 1..128 characters, got ""`);
});

test('a quantized dense layer can select BatchNorm sets, a float one cannot', () => {
  // 3072 bytes of float32 1.0 after TENS: a float fc1 [16, 32] (2048 bytes) and BatchNorm params [4, 4, 16] (1024 bytes)
  const t = new Uint8Array(part('TENS').length + 3072);
  t.set(part('TENS'));
  const dv = new DataView(t.buffer);
  for (let o = part('TENS').length; o < t.length; o += 4) dv.setFloat32(o, 1, true);
  const base = part('TENS').length;
  const withBn = (edit: (g: any) => void) => {
    const g = json('GRPH');
    g.layers.splice(15, 0, { name: 'bnx', op: 'batchnorm', inputs: ['relu3'], channels: 16, epsilon: 0.001, select: { kind: 'per-bit', layer: 'fc1' },
      params: { dtype: 'float32', shape: [4, 4, 16], offset: base + 2048, length: 1024 } });
    g.layers[16].inputs = ['bnx'];
    edit(g);
    return rebuild({ GRPH: g, TENS: t }, ['SENS', 'SUBN']).bytes;
  };
  const m = readModel(withBn(() => {}));
  assert.equal((m.layers[15] as any).select, { kind: 'per-bit', layer: 'fc1' });
  rejects(withBn((g) => { g.layers[13].weights = { kind: 'float', values: { dtype: 'float32', shape: [16, 32], offset: base, length: 2048 } }; }),
    'layers[15].select.layer (byte 80): expected the name of an earlier quantized layer, got "fc1"'); // three sections: GRPH at 32 + 3·16
});

test('layers without parameters read back as name, op and inputs only', () => {
  const m = readModel(minimal({ bits: [8], inputShape: [2, 2, 3], layers: [
    { name: 'g', op: 'globalavgpool', inputs: ['input'] }, { name: 'r', op: 'relu', inputs: ['g'] },
    { name: 'f', op: 'flatten', inputs: ['r'] }, { name: 'a', op: 'add', inputs: ['f', 'r'] },
  ] }));
  assert.equal(m.layers, [
    { name: 'g', op: 'globalavgpool', inputs: ['input'] }, { name: 'r', op: 'relu', inputs: ['g'] },
    { name: 'f', op: 'flatten', inputs: ['r'] }, { name: 'a', op: 'add', inputs: ['f', 'r'] },
  ]);
});

test.run();

// the large files last: a failure above already settles a mutant
const limits = suite('limits');

limits('size limits are inclusive: 7 bits, 4096 layers, 65536 per dimension, 2^24 elements, 16 MiB of JSON', () => {
  assert.equal(readModel(minimal({ bits: [8, 7, 6, 5, 4, 3, 2] })).bits, [8, 7, 6, 5, 4, 3, 2]);
  assert.equal(readModel(minimal({ bits: [2] })).bits, [2]);
  const relus = (n: number) => Array.from({ length: n }, (_, i) => ({ name: `r${i}`, op: 'relu', inputs: [i ? `r${i - 1}` : 'input'] }));
  assert.is(readModel(minimal({ bits: [8], layers: relus(4096) })).layers.length, 4096);
  rejects(minimal({ bits: [8], layers: relus(4097) }), 'layers (byte 64): expected an array of 1..4096 entries, got array of length 4097');
  const flat = readModel(minimal({ bits: [8], inputShape: [65536, 256, 1] }));
  assert.equal(flat.inputShape, [65536, 256, 1]);
  rejects(minimal({ bits: [8], inputShape: [65536, 256, 2] }), 'inputShape (byte 64): expected at most 16777216 elements, got "65536x256x2"');
  // JSON of exactly 16 MiB reads
  const meta = new Uint8Array(16 << 20).fill(0x20);
  meta.set(text('{"a":1}'));
  const { bytes } = rebuild({ META: meta });
  assert.equal(readModel(bytes).metadata, { a: 1 });
});

limits.run();
