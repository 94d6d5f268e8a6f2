import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parseOnnx } from '../src/index.ts';
import { intAttr, intsAttr } from '../src/proto.ts';
import { withOp } from './fixtures.ts';

const message = (f: () => unknown): string => {
  try { f(); } catch (e) { assert.instance(e, RangeError); return (e as Error).message; }
  throw new Error('expected a RangeError');
};

test('bytes that are not ONNX: one line naming the file', () => {
  const m = message(() => parseOnnx(new TextEncoder().encode('not a model\n'), 'x.onnx'));
  assert.match(m, /^x\.onnx: not an ONNX model \(protobuf: .*\) — expected a \.onnx file$/);
  assert.not.match(m, /\n/);
});

test('an unsupported op is named with its node and the ops that are read', () => {
  assert.is(parseOnnx(withOp('Identity')).layers.length, 4); // the same graph with a supported op parses
  const m = message(() => parseOnnx(withOp('MaxPool', [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])])));
  assert.match(m, /^MaxPool node 'maxpool_\d+': op MaxPool is not supported \(format v1 has no max pooling.*\) — bitswitch import reads Conv, Gemm, MatMul/);
  assert.match(message(() => parseOnnx(withOp('Sigmoid'))), /^Sigmoid node 'sigmoid_\d+': op Sigmoid is not supported — /);
});

test('attributes the format cannot express are refused by name', () => {
  assert.match(message(() => parseOnnx(withOp('Identity', [], [intAttr('group', 2)]))), /Conv node 'conv_\d+': group 2: expected 1/);
  assert.match(message(() => parseOnnx(withOp('Identity', [], [intsAttr('dilations', [2, 2])]))), /dilations \[2,2\]: expected \[1, 1\]/);
  const pool = withOp('AveragePool', [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2]), intsAttr('pads', [1, 1, 0, 0])]);
  assert.match(message(() => parseOnnx(pool)), /AveragePool node 'averagepool_\d+': pads \[1,1,0,0\] on a 8×8 input: expected TF 'same' \(0 before, 0 after on this axis\) or all zero/);
});

test.run();
