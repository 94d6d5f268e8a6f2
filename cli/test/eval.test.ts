// `bitswitch eval --subnets`: each SubNet of a file evaluated at its per-layer bits (trainer tfjs
// network or the reference math), beside the uniform precisions, and written with --json.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeModel } from '@bitswitch/format';
import { Network, Rng, networkToModel, smallCnn } from '@bitswitch/trainer';
import { evalCommand } from '../src/commands/eval.ts';

await tf.setBackend('cpu');
const dir = mkdtempSync(join(tmpdir(), 'eval-cli-'));

async function fileWithSubnets(subnets: { name: string; bits: number[] }[]): Promise<string> {
  const net = new Network(smallCnn([28, 28, 1], 10, { channels: [4, 4, 4], hidden: 6 }), { bits: [8, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(3));
  net.copyFloatBnToBits();
  for (const [n, v] of net.vars) if (n.includes('scale')) v.assign(tf.fill(v.shape, 0.05));
  const model = await networkToModel(net, { metadata: { dataset: 'mnist' } });
  net.dispose();
  model.subnets = subnets.map((s) => ({ ...s, budget: {} }));
  const path = join(dir, `m-${subnets.length}.bsw`);
  writeFileSync(path, writeModel(model));
  return path;
}

test('--subnets adds each SubNet at its per-layer bits (a uniform one equals that precision), with tfjs and the reference; --json writes them', async () => {
  const file = await fileWithSubnets([{ name: 'all4', bits: [4, 4, 4] }, { name: 'mixed-842', bits: [8, 4, 2] }]);
  for (const reference of [false, true]) {
    const json = join(dir, `acc-${reference}.json`);
    const out = await evalCommand(file, { data: 'mnist', limit: '40', subnets: true, json, reference, backend: 'cpu' });
    assert.equal(Object.keys(out), ['w8a8', 'w4a4', 'w2a2', 'all4', 'mixed-842']);
    assert.is(out.all4, out.w4a4, `${reference ? 'reference' : 'tfjs'}: a SubNet of all-4 bits is w4a4`);
    const written = JSON.parse(readFileSync(json, 'utf8')) as { accuracy: Record<string, number>; testImages: number; math: string };
    assert.equal(written.accuracy, out);
    assert.is(written.math, reference ? 'reference' : 'tfjs');
    assert.is(written.testImages, 40);
  }
});

test('--subnets REGEX picks SubNets by name; a bad pattern names the flag', async () => {
  const file = await fileWithSubnets([{ name: 'avg-bits<=3', bits: [4, 4, 2] }, { name: 'avg-bits<=3/l1_conv@8', bits: [8, 4, 2] }]);
  const out = await evalCommand(file, { data: 'mnist', limit: '10', bits: '8', subnets: '^avg-bits<=[\\d.]+$', backend: 'cpu' });
  assert.equal(Object.keys(out), ['w8a8', 'avg-bits<=3']);
  await evalCommand(file, { data: 'mnist', limit: '10', subnets: '(', backend: 'cpu' }).then(
    () => assert.unreachable('accepted'), (e: Error) => assert.match(e.message, /--subnets: expected a regular expression/));
  await evalCommand(file, { data: 'mnist', limit: '10', subnets: '^none$', backend: 'cpu' }).then(
    () => assert.unreachable('accepted'), (e: Error) => assert.match(e.message, /--subnets: .*holds no SubNets whose name matches/));
});

test('--subnets on a file without SubNets names the flag', async () => {
  const file = await fileWithSubnets([]);
  await evalCommand(file, { data: 'mnist', limit: '10', subnets: true, backend: 'cpu' }).then(
    () => assert.unreachable('accepted'),
    (e: Error) => assert.match(e.message, /--subnets: .*holds no SubNets/));
});

test.run();
