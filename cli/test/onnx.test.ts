// bitswitch import / export through the bin, and `train --init model.onnx`'s mapping of an ONNX
// model onto the trainer's network.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModelFile } from '@bitswitch/format/node';
import { fp32FromOnnx, onnx } from '@bitswitch/onnx';
import { intsAttr } from '../../onnx/src/proto.ts';
import { mnistCnnOnnx, mnistFp32, withOp } from '../../onnx/test/fixtures.ts';

const root = new URL('../..', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'bitswitch-onnx-'));
const run = (...args: string[]) => spawnSync(process.execPath, ['cli/bin/bitswitch.mjs', ...args], { cwd: root, encoding: 'utf8' });
const oneLine = (stderr: string) => assert.ok(/^[^\n]+\n$/.test(stderr) && !/\n\s+at /.test(stderr), `expected one line, got ${JSON.stringify(stderr)}`);
const source = join(dir, 'mnist-cnn.onnx');
writeFileSync(source, mnistCnnOnnx());

test('import writes a file of the ONNX model at {8,4}; export writes QDQ ONNX of a bit list', () => {
  const bsw = join(dir, 'm.bsw');
  const r = run('import', source, '--calibrate', 'mnist', '--bits', '8,4', '--images', '20', '--test-images', '0', '--out', bsw);
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /wrote .*m\.bsw: 10 layers, 3 quantized \(int8 per channel\), bits \{8,4\}/);
  const m = readModelFile(bsw);
  assert.equal(m.bits, [8, 4]);
  assert.is(m.metadata?.dataset, 'mnist');
  const out = join(dir, 'm.onnx');
  const e = run('export', bsw, '--onnx', '--bits', '8,4,4', '--out', out);
  assert.is(e.status, 0, e.stderr);
  const g = onnx.ModelProto.decode(new Uint8Array(spawnSync('cat', [out]).stdout)).graph!;
  assert.is(g.node!.filter((n) => n.opType === 'QuantizeLinear').length, 3);
  assert.is(g.node!.filter((n) => n.opType === 'Clip').length, 2);
});

test('a bad or unsupported ONNX file: one line naming it, exit 1, nothing written', () => {
  const bad = join(dir, 'bad.onnx');
  writeFileSync(bad, 'not a model');
  const out = join(dir, 'never.bsw');
  let r = run('import', bad, '--calibrate', 'mnist', '--out', out);
  assert.is(r.status, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, /^bitswitch import: .*bad\.onnx: not an ONNX model/);
  const pool = join(dir, 'pool.onnx');
  writeFileSync(pool, withOp('MaxPool', [intsAttr('kernel_shape', [2, 2]), intsAttr('strides', [2, 2])]));
  r = run('import', pool, '--calibrate', 'mnist', '--out', out);
  assert.is(r.status, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, /^bitswitch import: MaxPool node 'maxpool_\d+': op MaxPool is not supported/);
  r = run('export', join(root, 'format/test/golden/tiny-v1.bsw'), '--onnx', '--bits', '3', '--out', join(dir, 'x.onnx'));
  assert.is(r.status, 1);
  oneLine(r.stderr);
  assert.match(r.stderr, /^bitswitch export: --bits: expected one of the model's bits/);
  assert.not.ok(existsSync(out) || existsSync(join(dir, 'x.onnx')));
});

test('train --init model.onnx: the ONNX weights land on the trainer\'s mnist-cnn variables exactly', async () => {
  const { mnistCnn, Network, Rng, resolveRecipe } = await import('@bitswitch/trainer');
  const { floatVariableNames, initNetwork, loadInit } = await import('@bitswitch/trainer');
  const spec = mnistCnn([28, 28, 1]);
  const recipe = resolveRecipe({ model: 'mnist-cnn', data: 'mnist' });
  const start = await loadInit(source, spec, recipe); // the hook `train --init` calls
  assert.is(start.format, 'bitswitch-fp32/1');
  const net = new Network(spec, { bits: recipe.bits, quantizer: 'double-rounding', perChannel: false }, new Rng(1));
  initNetwork(net, start, recipe, source);
  const want = mnistFp32();
  const values = await net.snapshot();
  for (const n of floatVariableNames(net)) assert.equal(Array.from(values[n]!), Array.from(want[n]), n);
  net.dispose();
  // a model of another architecture is refused by name
  assert.throws(() => fp32FromOnnx(withOp('Identity'), spec, 'x.onnx'), /--init: x\.onnx: input \[8,8,1\].* expected the architecture of mnist-cnn/);
});

test('train --init with an ONNX model of another architecture: one line naming it, exit 1', () => {
  const other = join(dir, 'other.onnx');
  writeFileSync(other, withOp('Identity'));
  const r = run('train', '--model', 'mnist-cnn', '--data', 'mnist', '--init', other, '--epochs', '1', '--train-limit', '200', '--test-limit', '20', '--workers', '1', '--backend', 'cpu', '--out', join(dir, 'run'));
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /^bitswitch train: --init: .*other\.onnx: input \[8,8,1\] \(H, W, C\) — expected the architecture of mnist-cnn \(train --model\)\n$/m);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
