// Bad input gives a RangeError that names what was expected; precision specs resolve as documented.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quantizedLayers, type Model } from '@bitswitch/format';
import { buildResNet } from '../src/testing.ts';
import { createTsBackend } from '../src/backend-ts.ts';
import { Runtime } from '../src/executor.ts';
import { resolvePrecision } from '../src/precision.ts';
import { referenceForward } from '../src/reference.ts';

const model = buildResNet({ inputShape: [8, 8, 1], blocks: 1, widths: [4, 8], calibrationImages: 2 });
const layers = quantizedLayers(model).length;
const rt = new Runtime(model, createTsBackend());

function throwsRange(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, RangeError);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a RangeError matching ${pattern}`);
}

test('uniform, per-layer and SubNet precisions resolve to one bit per quantized layer', () => {
  assert.equal(resolvePrecision(model, layers, 4).bits, new Array(layers).fill(4));
  assert.is(resolvePrecision(model, layers, 4).label, 'w4a4');
  const list = Array.from({ length: layers }, (_, i) => model.bits[i % model.bits.length]);
  assert.equal(resolvePrecision(model, layers, list).bits, list);
  assert.equal(resolvePrecision(model, layers, list).bitIndex, list.map((b) => model.bits.indexOf(b)));
  const sub = model.subnets![0];
  assert.equal(rt.setPrecision(sub.name).bits, sub.bits);
});

test('unknown SubNet name lists the known names', () => {
  throwsRange(() => rt.setPrecision('nope'), /SubNet name in \['mixed-cycle'/);
});

test('a bit not in the model list names the list', () => {
  throwsRange(() => rt.setPrecision(3), /one of the model's bits \[8,6,4,2\], got 3/);
  throwsRange(() => rt.setPrecision(new Array(layers).fill(8).fill(5, 1, 2)), /precision\[1\]: expected one of the model's bits \[8,6,4,2\], got 5/);
});

test('a per-layer list of the wrong length names the layer count', () => {
  throwsRange(() => rt.setPrecision([8, 8]), new RegExp(`expected ${layers} bits \\(one per quantized layer\\), got 2`));
  const bad: Model = { ...model, subnets: [{ name: 'short', bits: [8], budget: {} }] };
  throwsRange(() => new Runtime(bad, createTsBackend()).setPrecision('short'), /subnet 'short'.bits: expected \d+ bits/);
});

test('wrong image size or batch names the expected element count', () => {
  throwsRange(() => rt.run(new Float32Array(10)), /input.length: expected batch 1 × \[8,8,1\] = 64 values, got 10/);
  throwsRange(() => rt.run(new Float32Array(64), 2), /expected batch 2 × \[8,8,1\] = 128 values, got 64/);
  throwsRange(() => rt.run(new Float32Array(64), 0), /batch: expected an integer >= 1, got 0/);
  throwsRange(() => referenceForward(model, 8, new Float32Array(63)), /= 64 values, got 63/);
});

test('malformed graphs are rejected with the layer and field', () => {
  const wrongScales: Model = structuredClone(model);
  const q = quantizedLayers(wrongScales)[0];
  if (q.weights.kind === 'int') q.weights.actScales = new Float32Array(2);
  throwsRange(() => new Runtime(wrongScales, createTsBackend()), new RegExp(`${q.name}.weights.actScales: expected 4 scales`));
  const dangling: Model = structuredClone(model);
  dangling.layers[1].inputs = ['missing'];
  throwsRange(() => new Runtime(dangling, createTsBackend()), /inputs: expected names of earlier layers or 'input', got 'missing'/);
  const badSelect: Model = structuredClone(model);
  const bn = badSelect.layers.find((l) => l.op === 'batchnorm' && l.select.kind === 'per-bit')!;
  if (bn.op === 'batchnorm') bn.select = { kind: 'per-bit', layer: 'stem' };
  throwsRange(() => new Runtime(badSelect, createTsBackend()), /select: expected the name of a quantized layer, got 'stem'/);
});

test.run();
