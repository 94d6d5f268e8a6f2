// Format 1.2: the INPT section (how to feed the model). Older files stay readable, INPT adds to a
// file without changing any other section, and every field is validated by name.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { FormatError, describeInput, describeModel, readFileInfo, readModel, tinyModel, tinyModelV11, tinyModelV12, writeModel, type Model } from '../src/index.ts';

const golden = (name: string) => new Uint8Array(readFileSync(new URL(`./golden/${name}`, import.meta.url)));
const golden12 = golden('tiny-v1.2.bsw');

/** The writer's error for `m`, or undefined when it writes the file. */
function writeError(m: Model): FormatError | undefined {
  try { writeModel(m); } catch (e) { return e as FormatError; }
  return undefined;
}

const sectionBytes = (bytes: Uint8Array) => new Map(readFileInfo(bytes).sections.map((s) => [s.tag, Buffer.from(bytes.subarray(s.offset, s.offset + s.length)).toString('hex')]));

test('1.2: the writer reproduces tiny-v1.2.bsw byte for byte; the reader gives back tinyModelV12', () => {
  assert.ok(Buffer.compare(Buffer.from(writeModel(tinyModelV12(1))), Buffer.from(golden12)) === 0, 'bytes differ from golden/tiny-v1.2.bsw');
  const info = readFileInfo(golden12);
  assert.is(info.minor, 2, 'a file with INPT says 1.2');
  assert.equal(info.sections.map((s) => s.tag), ['GRPH', 'TENS', 'INPT', 'SENS', 'SUBN', 'META']);
  assert.equal(readModel(golden12), tinyModelV12(1));
});

test('1.2: INPT only adds a section; every other section is byte-identical to the 1.1 file (a 1.1 reader skips INPT)', () => {
  const v11 = sectionBytes(golden('tiny-v1.1.bsw'));
  const v12 = sectionBytes(golden12);
  v12.delete('INPT');
  assert.equal([...v12.entries()], [...v11.entries()]);
});

test('1.0 and 1.1 files still read, without an input descriptor; a model with one is written as 1.2 even without 1.1 fields', () => {
  for (const name of ['tiny-v1.bsw', 'tiny-v1.1.bsw']) assert.not.ok('input' in readModel(golden(name)), name);
  const m = tinyModel(1);
  m.input = { ...tinyModelV12(1).input!, labels: undefined, dataset: undefined };
  delete m.input.labels; delete m.input.dataset;
  const bytes = writeModel(m);
  assert.is(readFileInfo(bytes).minor, 2);
  assert.equal(readModel(bytes).input, m.input);
  assert.is(readFileInfo(writeModel(tinyModelV11(1))).minor, 1);
});

test('INPT fields are validated by name, with the expected value', () => {
  const bad: [(i: Record<string, unknown>) => void, string, RegExp][] = [
    [(i) => { i.layout = 'CHW'; }, 'input.layout', /expected one of "NHWC", "NCHW", got "CHW"/],
    [(i) => { i.height = 28; }, 'input.height', /expected 8 \(inputShape\[0\]\), got 28/],
    [(i) => { i.channels = 3; }, 'input.channels', /expected 1 \(inputShape\[2\]\), got 3/],
    [(i) => { i.dtype = 'int8'; }, 'input.dtype', /expected one of "uint8", "float32"/],
    [(i) => { i.range = [0, 256]; }, 'input.range[1]', /expected an integer in 0\.\.255, got 256/],
    [(i) => { i.range = [0.5, 1]; }, 'input.range[0]', /expected an integer in 0\.\.255, got 0.5/],
    [(i) => { i.range = [9, 9]; }, 'input.range[1]', /expected more than range\[0\] \(9\), got 9/],
    [(i) => { i.dtype = 'float32'; i.range = [1, -1]; }, 'input.range[1]', /expected more than range\[0\] \(1\), got -1/],
    [(i) => { i.mean = [0.1, 0.2]; }, 'input.mean', /expected an array of 1 entries/],
    [(i) => { i.std = [0]; }, 'input.std[0]', /expected a finite number > 0, got 0/],
    [(i) => { i.mean = [Number.NaN]; }, 'input.mean[0]', /expected a finite number/],
    [(i) => { i.labels = ['a', 'b']; }, 'input.labels', /expected an array of 10 entries, got array of length 2/],
    [(i) => { (i.labels as string[])[3] = ''; }, 'input.labels[3]', /expected a string of 1\.\.128 characters/],
    [(i) => { i.dataset = ''; }, 'input.dataset', /expected a string of 1\.\.128 characters/],
    [(i) => { i.height = 'x'; }, 'input.height', /expected an integer/],
    [(i) => { i.range = 'x'; }, 'input.range', /expected an array of 2 entries/],
    [(i) => { i.dtype = 'float32'; i.range = ['a', 1]; }, 'input.range[0]', /expected a finite number/],
    [(i) => { i.dtype = 'float32'; i.range = [0, 'b']; }, 'input.range[1]', /expected a finite number/],
    [(i) => { i.std = ['x']; }, 'input.std[0]', /expected a finite number > 0/],
    [(i) => { i.std = [0.1, 0.2]; }, 'input.std', /expected an array of 1 entries/],
  ];
  for (const [mutate, field, message] of bad) {
    const m = tinyModelV12(1);
    mutate(m.input as unknown as Record<string, unknown>);
    const err = writeError(m);
    assert.instance(err, FormatError, `accepted: ${field}`);
    assert.is(err!.field, field);
    assert.match(err!.message, message);
  }
});

test('a negative mean is valid (only std must be positive)', () => {
  const neg = tinyModelV12(1);
  neg.input = { ...neg.input!, mean: [-0.5] };
  assert.equal(readModel(writeModel(neg)).input, neg.input);
});

test('a float32 input range and NCHW layout are valid; key order does not change the bytes', () => {
  const m = tinyModelV12(1);
  m.input = { ...m.input!, layout: 'NCHW', dtype: 'float32', range: [-1, 1.5] };
  assert.equal(readModel(writeModel(m)).input, m.input);
  const r = tinyModelV12(1);
  const { labels, dataset, std, mean, range, dtype, channels, width, height, layout } = r.input!;
  r.input = { labels, dataset, std, mean, range, dtype, channels, width, height, layout };
  assert.ok(Buffer.compare(Buffer.from(writeModel(r)), Buffer.from(golden12)) === 0);
});

test('describeModel lists INPT in one line', () => {
  assert.is(describeInput(tinyModelV12(1).input!), 'none (random weights): NHWC 8x8x1 uint8 0..255, mean [0.1307], std [0.3081], 10 labels');
  assert.ok(describeModel(readModel(golden12)).sections.includes('INPT (none (random weights): NHWC 8x8x1 uint8 0..255, mean [0.1307], std [0.3081], 10 labels)'));
});

test.run();
