// Format 1.3: BatchNorm statistics per SubNet (SPEC §7.2). They live in TENS after the graph's
// tensors; older files and files without them are unchanged, and every field is validated by name.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { FormatError, describeModel, readFileInfo, readModel, tinyModelV12, tinyModelV13, writeModel, type Model } from '../src/index.ts';

const golden = (name: string) => new Uint8Array(readFileSync(new URL(`./golden/${name}`, import.meta.url)));
const golden13 = golden('tiny-v1.3.bsw');

function writeError(m: Model): FormatError | undefined {
  try { writeModel(m); } catch (e) { return e as FormatError; }
  return undefined;
}

test('1.3: the writer reproduces tiny-v1.3.bsw byte for byte; the reader gives back tinyModelV13', () => {
  assert.ok(Buffer.compare(Buffer.from(writeModel(tinyModelV13(1))), Buffer.from(golden13)) === 0, 'bytes differ from golden/tiny-v1.3.bsw');
  assert.is(readFileInfo(golden13).minor, 3, 'a file with SubNet statistics says 1.3');
  assert.equal(readModel(golden13), tinyModelV13(1));
  assert.ok(describeModel(tinyModelV13(1)).sections.includes('SUBN (2 subnets, 1 with their own BatchNorm statistics)'), describeModel(tinyModelV13(1)).sections.join('; '));
  assert.ok(describeModel(tinyModelV12(1)).sections.includes('SUBN (1 subnets)'));
});

test('1.3 by hand (§7.2, §4): SUBN names each statistic by a tensor reference into TENS after the graph\'s tensors', () => {
  const b = golden13;
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const n = v.getUint32(12, true);
  const table = new Map(Array.from({ length: n }, (_, i) => [String.fromCharCode(...b.subarray(32 + 16 * i, 36 + 16 * i)), { offset: v.getUint32(36 + 16 * i, true), length: v.getUint32(40 + 16 * i, true) }]));
  const json = (tag: string) => JSON.parse(new TextDecoder().decode(b.subarray(table.get(tag)!.offset, table.get(tag)!.offset + table.get(tag)!.length)));
  const subn = json('SUBN') as { name: string; bn?: Record<string, { dtype: string; shape: number[]; offset: number; length: number }> }[];
  assert.equal(Object.keys(subn[0]!), ['name', 'bits', 'budget', 'accuracy', 'bn']);
  assert.not.ok('bn' in subn[1]!, 'a SubNet without statistics has no bn key');
  const want = tinyModelV13(1).subnets![0]!.bn!;
  assert.equal(Object.keys(subn[0]!.bn!), Object.keys(want));
  // every graph tensor ends before the first statistic
  let graphEnd = 0;
  JSON.stringify(json('GRPH'), (_k, val) => { if (val && typeof val === 'object' && 'offset' in val && 'length' in val) graphEnd = Math.max(graphEnd, val.offset + val.length); return val; });
  const tens = table.get('TENS')!;
  for (const [layer, ref] of Object.entries(subn[0]!.bn!)) {
    assert.is(ref.dtype, 'float32');
    assert.equal(ref.shape, [2, want[layer]!.length / 2]);
    assert.ok(ref.offset >= graphEnd && ref.offset % 16 === 0, `${layer} at ${ref.offset}, graph tensors end at ${graphEnd}`);
    const got = Array.from({ length: ref.length / 4 }, (_, i) => v.getFloat32(tens.offset + ref.offset + 4 * i, true));
    assert.equal(got, Array.from(want[layer]!), layer);
  }
});

test('a file without SubNet statistics is written as before (1.2 here), and a 1.3 file differs from it only in SUBN and TENS', () => {
  const plain = writeModel(tinyModelV12(1));
  assert.ok(Buffer.compare(Buffer.from(plain), Buffer.from(golden('tiny-v1.2.bsw'))) === 0);
  const tags = (bytes: Uint8Array) => new Map(readFileInfo(bytes).sections.map((s) => [s.tag, Buffer.from(bytes.subarray(s.offset, s.offset + s.length)).toString('hex')]));
  const a = tags(plain), c = tags(golden13);
  for (const tag of ['GRPH', 'INPT', 'SENS', 'META']) assert.is(c.get(tag), a.get(tag), tag);
  // TENS only grows: the graph's tensors keep their bytes
  assert.ok(c.get('TENS')!.startsWith(a.get('TENS')!));
});

test('bad statistics are refused by name: not a batchnorm layer, wrong length, negative or non-finite variance', () => {
  const cases: [string, (m: Model) => void, RegExp][] = [
    ['conv layer', (m) => { m.subnets![0]!.bn = { conv1: new Float32Array(8) }; }, /subnets\[0\]\.bn\.conv1.*batchnorm/],
    ['unknown layer', (m) => { m.subnets![0]!.bn = { nope: new Float32Array(8) }; }, /subnets\[0\]\.bn\.nope/],
    ['length', (m) => { m.subnets![0]!.bn = { bn2: new Float32Array(15) }; }, /subnets\[0\]\.bn\.bn2.*16 values/],
    ['negative variance', (m) => { const s = new Float32Array(16); s[8 + 3] = -1; m.subnets![0]!.bn = { bn2: s }; }, /subnets\[0\]\.bn\.bn2\[1\]\[3\] \(variance\).*>= 0/],
    ['NaN mean', (m) => { const s = new Float32Array(16); s[2] = NaN; m.subnets![1]!.bn = { bn2: s }; }, /subnets\[1\]\.bn\.bn2/],
  ];
  for (const [what, edit, re] of cases) {
    const m = tinyModelV13(1);
    edit(m);
    const e = writeError(m);
    assert.ok(e instanceof FormatError, `${what}: expected a FormatError, got ${e}`);
    assert.match(e!.message, re, what);
  }
});

test.run();
