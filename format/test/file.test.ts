import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { FormatError, crc32, describeModel, readFileInfo, readModel, tinyModel, writeModel } from '../src/index.ts';
import type { Model } from '../src/index.ts';

const golden = new Uint8Array(readFileSync(new URL('./golden/tiny-v1.bsw', import.meta.url)));

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
  expectFormatError(golden.slice(0, golden.length - 16), /^file length$/);
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
