import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { FormatError, crc32, describeModel, readFileInfo, readModel, tinyModel, tinyModelV11, writeModel } from '../src/index.ts';
import type { Model } from '../src/index.ts';

const golden = new Uint8Array(readFileSync(new URL('./golden/tiny-v1.bsw', import.meta.url)));
const golden11 = new Uint8Array(readFileSync(new URL('./golden/tiny-v1.1.bsw', import.meta.url)));

test('crc32 check value', () => {
  assert.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test('the writer reproduces the golden file byte for byte', () => {
  const bytes = writeModel(tinyModel(1));
  assert.is(bytes.length, golden.length);
  assert.ok(Buffer.compare(Buffer.from(bytes), Buffer.from(golden)) === 0, 'bytes differ from golden/tiny-v1.bsw');
});

test('the reader round-trips the golden file', () => {
  const model = readModel(golden);
  assert.equal(model, tinyModel(1));
  assert.ok(Buffer.compare(Buffer.from(writeModel(model)), Buffer.from(golden)) === 0);
});

test('header, alignment and checksums are as specified', () => {
  const info = readFileInfo(golden);
  assert.is(info.major, 1);
  assert.is(info.minor, 0);
  assert.ok(info.headerCrcOk);
  assert.equal(info.sections.map((s) => s.tag), ['GRPH', 'TENS', 'SENS', 'SUBN', 'META']);
  for (const s of info.sections) {
    assert.ok(s.crcOk, s.tag);
    assert.is(s.offset % 16, 0, `${s.tag} offset aligned`);
  }
});

test('1.1: SENS std errors and probe counts reproduce their golden file and round-trip', () => {
  const bytes = writeModel(tinyModelV11(1));
  assert.ok(Buffer.compare(Buffer.from(bytes), Buffer.from(golden11)) === 0, 'bytes differ from golden/tiny-v1.1.bsw');
  const info = readFileInfo(golden11);
  assert.is(info.minor, 1, 'a file with 1.1 fields says 1.1');
  const model = readModel(golden11);
  assert.equal(model, tinyModelV11(1));
  assert.equal(model.sensitivity!.map((s) => [s.hessianTraceStdErr, s.probes]), [[0.125, 40], [0.25, 41], [0.375, 42], [undefined, undefined]]);
  assert.is(model.sensitivity![3].hessianTrace, -0.75, 'a negative trace is a valid estimate');
});

test('1.0 files (no std errors) still read, and a model without 1.1 fields is written as 1.0', () => {
  const model = readModel(golden);
  assert.is(readFileInfo(golden).minor, 0);
  for (const s of model.sensitivity!) {
    assert.not.ok('hessianTraceStdErr' in s, `${s.layer}: no std error in a 1.0 file`);
    assert.not.ok('probes' in s, `${s.layer}: no probe count in a 1.0 file`);
  }
});

test('SENS 1.1 fields are validated by name; key order does not change the bytes', () => {
  const bad: [(s: Record<string, unknown>) => void, RegExp, RegExp][] = [
    [(s) => { s.hessianTraceStdErr = -0.5; }, /^sensitivity\[1\]\.hessianTraceStdErr$/, /expected a finite number >= 0, got -0.5/],
    [(s) => { s.hessianTraceStdErr = 'big'; }, /^sensitivity\[1\]\.hessianTraceStdErr$/, /expected a finite number/],
    [(s) => { s.probes = 0; }, /^sensitivity\[1\]\.probes$/, /expected an integer in 1\.\./],
    [(s) => { s.probes = 2.5; }, /^sensitivity\[1\]\.probes$/, /got 2.5/],
  ];
  for (const [mutate, field, message] of bad) {
    const m = tinyModelV11(1);
    mutate(m.sensitivity![1] as unknown as Record<string, unknown>);
    try {
      writeModel(m);
      assert.unreachable(`accepted: ${field}`);
    } catch (e) {
      if (!(e instanceof FormatError)) throw e;
      assert.match(e.field, field);
      assert.match(e.message, message);
    }
  }
  const m = tinyModelV11(1);
  m.sensitivity = m.sensitivity!.map(({ probes, macs, params, hessianTraceStdErr, hessianTrace, layer }) => ({ probes, macs, params, hessianTraceStdErr, hessianTrace, layer }));
  assert.ok(Buffer.compare(Buffer.from(writeModel(m)), Buffer.from(golden11)) === 0);
});

function expectFormatError(bytes: Uint8Array, field: RegExp) {
  try {
    readModel(bytes);
  } catch (e) {
    assert.instance(e, FormatError);
    assert.match((e as FormatError).field, field);
    return (e as FormatError);
  }
  assert.unreachable('no FormatError');
}

test('bad magic, newer major version, truncation and wrong length are rejected by name', () => {
  const b = golden.slice(); b[0] = 0x41;
  expectFormatError(b, /^magic$/);
  const v = golden.slice(); v[8] = 2;
  const err = expectFormatError(v, /^major version$/)!;
  assert.match(err.message, /understands format v1 only/);
  expectFormatError(golden.slice(0, 20), /^header$/);
  const cut = expectFormatError(golden.slice(0, golden.length - 16), /^file length$/)!;
  assert.is(cut.message, `file length (byte 16): the file is truncated: it has ${golden.length - 16} bytes but its header says ${golden.length} — copy or download it again`);
  const long = expectFormatError(Uint8Array.from([...golden, 0]), /^file length$/)!;
  assert.match(long.message, /has \d+ bytes but its header says \d+ \(extra bytes at the end\)/);
});

test('a flipped byte in any section fails its checksum', () => {
  const info = readFileInfo(golden);
  for (const s of info.sections) {
    const b = golden.slice();
    b[s.offset + (s.length >> 1)] ^= 0x10;
    expectFormatError(b, new RegExp(`^${s.tag} checksum$`));
  }
  const h = golden.slice(); h[33] ^= 1;
  expectFormatError(h, /checksum|tag/);
});

test('the writer refuses invalid models with the field named', () => {
  const cases: [(m: Model) => void, RegExp][] = [
    [(m) => { m.bits = [8, 8, 4]; }, /bits\[1\]/],
    [(m) => { m.bits = [9, 4]; }, /bits\[0\]/],
    [(m) => { (m.layers[3] as any).inChannels = 5; }, /layers\[3\]\.(inChannels|weights\.values)/],
    [(m) => { (m.layers[3] as any).weights.scale = Float32Array.of(0.1, -0.1, 0.1, 0.1); }, /layers\[3\]\.weights\.scale\[1\]/],
    [(m) => { (m.layers[3] as any).weights.actScales = Float32Array.of(1, 1); }, /layers\[3\]\.weights\.actScales/],
    [(m) => { m.layers[4].inputs = ['nope']; }, /layers\[4\]\.inputs\[0\]/],
    [(m) => { (m.layers[7] as any).select = { kind: 'per-bit', layer: 'conv0' }; }, /layers\[7\]\.select\.layer/],
    [(m) => { m.subnets![0].bits = [8, 4, 3, 2]; }, /subnets\[0\]\.bits\[2\]/],
    [(m) => { m.sensitivity![0].layer = 'fc2'; }, /sensitivity\[0\]\.layer/],
    [(m) => { (m.layers[0] as any).weights.values[3] = NaN; }, /layers\[0\]\.weights\.values\[3\]/],
  ];
  for (const [mutate, field] of cases) {
    const m = tinyModel(1);
    mutate(m);
    try {
      writeModel(m);
      assert.unreachable(`accepted: ${field}`);
    } catch (e) {
      if (!(e instanceof FormatError) && !(e instanceof RangeError)) throw e;
      assert.match(e instanceof FormatError ? e.field : e.message, field);
    }
  }
});

test('describeModel reports sizes at each precision and sections', () => {
  const s = describeModel(readModel(golden));
  assert.is(s.quantizedLayers, 4);
  assert.equal(s.bits, [8, 6, 4, 2]);
  const bytes = Object.fromEntries(s.bytesAtBits.map((r) => [r.bits, r.bytes]));
  // float layers: conv0 36 + fc2 160 params at 4 bytes; int rows padded to 16 bytes
  const float = (36 + 160) * 4;
  assert.is(bytes[8], float + 4 * 48 + 8 * 48 + 8 * 16 + 16 * 32);
  assert.is(bytes[4], float + 4 * 32 + 8 * 32 + 8 * 16 + 16 * 16);
  assert.is(bytes[2], float + 4 * 16 + 8 * 16 + 8 * 16 + 16 * 16);
  assert.is(s.macs, 8 * 8 * 4 * 9 + 8 * 8 * 4 * 36 + 4 * 4 * 8 * 36 + 4 * 4 * 8 * 4 + 32 * 16 + 16 * 10);
});

test.run();
