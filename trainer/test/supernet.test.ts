import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { readModel, writeModel, type BatchNormLayer } from '@bitswitch/format';
import { resnet, smallCnn, type BatchNormNode } from '../src/nn/models.ts';
import { Network } from '../src/nn/network.ts';
import { Rng, deriveRng } from '../src/math/rng.ts';
import { SuperNetwork, pairKey, previousQuantizedLayer } from '../src/nn/supernet.ts';
import { networkToModel } from '../src/io/export.ts';
import { networkFromModel, specFromModel } from '../src/io/import.ts';
import { logitsOf } from '../src/loops/evaluate.ts';
import { sensitivityTargetFromModel } from '../src/sensitivity/target.ts';
import { explicitHessian, hutchinsonTrace } from '../src/sensitivity/hessian.ts';

await tf.setBackend('cpu');

const spec = smallCnn([8, 8, 1], 3, { channels: [4, 5, 6], hidden: 7 });
const bnNodes = (s = spec) => s.nodes.filter((n): n is BatchNormNode => n.op === 'batchnorm');

/** A multi-precision network whose every variable holds distinct seeded values (BN var > 0). */
function randomMulti(bits: number[], seed = 1): Network {
  const net = new Network(spec, { bits, quantizer: 'double-rounding', perChannel: false }, new Rng(seed));
  const rng = new Rng(seed + 100);
  for (const [name, v] of net.vars) {
    const vals = Float32Array.from({ length: v.size }, () => rng.normal());
    if (/\/(var@|wscale|ascale)/.test(name)) vals.forEach((x, i) => (vals[i] = 0.05 + Math.abs(x) * (name.includes('var@') ? 1 : 0.05)));
    v.assign(tf.tensor(vals, v.shape));
  }
  return net;
}

test('previous quantized layer follows first inputs (main branch of an add) and stops at float layers', async () => {
  assert.is(previousQuantizedLayer(spec, 'l1_conv'), undefined); // after the float stem
  assert.is(previousQuantizedLayer(spec, 'l2_conv'), 'l1_conv');
  assert.is(previousQuantizedLayer(spec, 'fc1'), 'l2_conv'); // through GAP
  const r8 = resnet(1, [8, 8, 1], 3);
  assert.is(previousQuantizedLayer(r8, 's1b1_a_conv'), undefined);
  assert.is(previousQuantizedLayer(r8, 's1b1_b_conv'), 's1b1_a_conv');
  assert.is(previousQuantizedLayer(r8, 's2b1_a_conv'), 's1b1_b_conv'); // s1b1_out → add → main branch
  assert.is(previousQuantizedLayer(r8, 's2b1_proj_conv'), 's1b1_b_conv');
  assert.throws(() => previousQuantizedLayer(spec, 'nope'), /layer: expected a node/);
});

for (const bits of [[8, 6, 4, 2], [4, 3, 2]]) {
  test(`TBN keys and variables: |B|² sets per BN with a quantized predecessor, B = [${bits}]`, async () => {
    const sup = new SuperNetwork(spec, { bits, quantizer: 'double-rounding', perChannel: false }, new Rng(1));
    for (const node of bnNodes()) {
      const keys = sup.bnKeys(node);
      const prev = node.follows ? previousQuantizedLayer(spec, node.follows) : undefined;
      const want = !node.follows ? ['single'] : prev ? bits.flatMap((p) => bits.map((b) => `b${p}-b${b}`)) : bits.map((b) => `b${b}`);
      assert.equal(keys, want, node.name);
      if (prev) assert.is(keys.length, bits.length ** 2);
      for (const k of keys) for (const p of ['gamma', 'beta', 'mean', 'var']) assert.equal(sup.v(`${node.name}/${p}@${k}`).shape, [node.channels]);
      assert.not.ok(sup.vars.has(`${node.name}/gamma@fp`), 'no float set in the SuperNet');
    }
    const [l1, l2, fc1] = ['l1_bn', 'l2_bn', 'fc1_bn'].map((n) => bnNodes().find((b) => b.name === n)!);
    const mixed = [bits[0], bits[bits.length - 1], bits[1]];
    assert.is(sup.bnKey(l1, mixed), `b${mixed[0]}`);
    assert.is(sup.bnKey(l2, mixed), pairKey(mixed[0], mixed[1]));
    assert.is(sup.bnKey(fc1, mixed), pairKey(mixed[1], mixed[2]));
    assert.is(sup.bnKey(fc1, null), pairKey(bits[0], bits[0]));
    sup.dispose();
  });
}

test('fromMulti: TBN set (p, b) starts from the per-bit set b; every other variable is copied', async () => {
  const bits = [8, 6, 4, 2];
  const multi = randomMulti(bits);
  const sup = SuperNetwork.fromMulti(multi);
  for (const [name, v] of sup.vars) {
    const src = name.replace(/@b\d+-(b\d+)$/, '@$1');
    assert.equal(Array.from(v.dataSync()), Array.from(multi.v(src).dataSync()), name);
  }
  assert.ok(sup.vars.has('l2_bn/mean@b2-b8'));
  assert.throws(() => SuperNetwork.fromMulti(sup), /expected a multi-precision Network/);
  multi.dispose(); sup.dispose();
});

test('SuperNetwork refuses quantizers without one stored W̃_h', async () => {
  assert.throws(() => new SuperNetwork(spec, { bits: [8, 4], quantizer: 'separate', perChannel: false }, new Rng(1)), /quantizer: expected double-rounding or floor/);
});

test("export: mode 'mixed', per-pair BN with params [|B|², 4, C] in prev-major order; readModel accepts it", async () => {
  const bits = [8, 6, 4, 2];
  const multi = randomMulti(bits, 3);
  const sup = SuperNetwork.fromMulti(multi);
  // make the pair sets distinct so the order is checked
  for (const [name, v] of sup.vars) if (/@b\d+-b\d+$/.test(name)) v.assign(tf.add(v, tf.scalar(name.length % 7 * 0.01 + 0.003 * bits.indexOf(Number(name.split('@b')[1].split('-')[0])))));
  const model = readModel(writeModel(await networkToModel(sup)));
  assert.is(model.mode, 'mixed');
  const bns = model.layers.filter((l): l is BatchNormLayer => l.op === 'batchnorm');
  const l2 = bns.find((l) => l.name === 'l2_bn')!;
  assert.equal(l2.select, { kind: 'per-pair', prev: 'l1_conv', layer: 'l2_conv' });
  assert.is(l2.params.length, bits.length ** 2 * 4 * l2.channels);
  bits.forEach((p, pi) => bits.forEach((b, bi) => ['gamma', 'beta', 'mean', 'var'].forEach((name, j) => {
    const off = ((pi * bits.length + bi) * 4 + j) * l2.channels;
    const want = sup.v(`l2_bn/${name}@${pairKey(p, b)}`).dataSync();
    for (let c = 0; c < l2.channels; c++) assert.is(l2.params[off + c], want[c], `set (${p}, ${b}) ${name}[${c}]`);
  })));
  assert.equal(bns.find((l) => l.name === 'fc1_bn')!.select, { kind: 'per-pair', prev: 'l2_conv', layer: 'fc1' });
  assert.equal(bns.find((l) => l.name === 'l1_bn')!.select, { kind: 'per-bit', layer: 'l1_conv' });
  assert.is(bns.find((l) => l.name === 'l1_bn')!.params.length, bits.length * 4 * 5);
  assert.equal(bns.find((l) => l.name === 'stem_bn')!.select, { kind: 'single' });
  const multiModel = readModel(writeModel(await networkToModel(multi)));
  assert.is(multiModel.mode, 'multi');
  assert.equal(multiModel.layers.find((l) => l.name === 'l2_bn')!.op === 'batchnorm' && (multiModel.layers.find((l) => l.name === 'l2_bn') as BatchNormLayer).select, { kind: 'per-bit', layer: 'l2_conv' });
  multi.dispose(); sup.dispose();
});

test('import ∘ export: the rebuilt network computes the same logits at mixed bits (BN inference)', async () => {
  const bits = [8, 6, 4, 2];
  const multi = randomMulti(bits, 5);
  const sup = SuperNetwork.fromMulti(multi);
  const again = networkFromModel(readModel(writeModel(await networkToModel(sup))));
  assert.ok(again instanceof SuperNetwork);
  assert.equal(specFromModel(await networkToModel(sup)).nodes, spec.nodes);
  const rng = new Rng(9);
  const x = tf.tensor4d(Float32Array.from({ length: 4 * 64 }, () => rng.normal()), [4, 8, 8, 1]);
  for (const choice of [[8, 2, 6], [2, 2, 2], [4, 8, 2], 6] as const) {
    const a = sup.forward(x, choice as number[] | number, false).logits.dataSync();
    const b = again.forward(x, choice as number[] | number, false).logits.dataSync();
    for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-4 * (1 + Math.abs(a[i])), `bits ${choice} logit ${i}: ${a[i]} vs ${b[i]}`);
  }
  const multiAgain = networkFromModel(readModel(writeModel(await networkToModel(multi))));
  assert.not.ok(multiAgain instanceof SuperNetwork);
  const a = multi.forward(x, [8, 4, 2], false).logits.dataSync();
  const b = multiAgain.forward(x, [8, 4, 2], false).logits.dataSync();
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) <= 1e-4 * (1 + Math.abs(a[i])));
  tf.dispose(x); [multi, sup, again, multiAgain].forEach((n) => n.dispose());
});

test('import refuses a per-pair BN whose prev is not the quantized layer before it', async () => {
  const sup = SuperNetwork.fromMulti(randomMulti([8, 4]));
  const model = await networkToModel(sup);
  const l2 = model.layers.find((l) => l.name === 'fc1_bn') as BatchNormLayer;
  l2.select = { kind: 'per-pair', prev: 'l1_conv', layer: 'fc1' };
  assert.throws(() => networkFromModel(model), /fc1_bn\.select\.prev: expected l2_conv/);
  sup.dispose();
});

test("sensitivity loader: the file's network at full precision, one kernel per quantized layer, traces from Hutchinson", async () => {
  const model = await networkToModel(randomMulti([8, 4, 2], 7));
  const target = sensitivityTargetFromModel(model);
  assert.equal(target.layers, ['l1_conv', 'l2_conv', 'fc1']);
  assert.equal(target.params.map((p) => p.shape), [[3, 3, 4, 5], [3, 3, 5, 6], [6, 7]]);
  const rng = new Rng(2);
  const xs = Float32Array.from({ length: 6 * 64 }, () => rng.normal());
  const labels = [0, 1, 2, 0, 1, 2];
  const batch = { x: tf.tensor4d(xs, [6, 8, 8, 1]), y: tf.oneHot(tf.tensor1d(labels, 'int32'), 3).toFloat() as tf.Tensor2D };
  const again = networkFromModel(model);
  const logits = await logitsOf(again, xs, 6, null); // float forward, BN from the highest bit's set
  let ce = 0;
  for (let i = 0; i < 6; i++) {
    const row = Array.from(logits.subarray(i * 3, i * 3 + 3));
    const m = Math.max(...row);
    ce += Math.log(row.reduce((a, v) => a + Math.exp(v - m), 0)) + m - row[labels[i]];
  }
  const loss = target.loss(target.params, batch);
  assert.ok(Math.abs(loss.dataSync()[0] - ce / 6) < 1e-4, `loss ${loss.dataSync()[0]} vs ${ce / 6}`);
  const r = await hutchinsonTrace({ lossFn: target.loss, params: target.params, batches: [batch], tol: 1e-9, maxIters: 2, seed: 1 });
  assert.is(r.trace.length, 3);
  // Each layer's estimate is the mean of v_lᵀ (H v)_l over the same two Rademacher probes (probe i
  // drawn from deriveRng(seed, i) in layer order, as hutchinsonProbe does; v spans all layers, so
  // cross-layer blocks H_lm enter each sample and cancel only in expectation), with H the explicit
  // Hessian built column by column.
  const { n, H } = explicitHessian((ps) => target.loss(ps, batch), target.params);
  const sizes = target.params.map((p) => p.size);
  const offsets = sizes.map((_, i) => sizes.slice(0, i).reduce((a, b) => a + b, 0));
  const want = [0, 0, 0], scale = [0, 0, 0];
  for (let it = 0; it < 2; it++) {
    const probeRng = deriveRng(1, it);
    const v = Float64Array.from({ length: n }, () => (probeRng.uniform() < 0.5 ? -1 : 1));
    sizes.forEach((size, l) => {
      for (let i = offsets[l]; i < offsets[l] + size; i++) {
        for (let j = 0; j < n; j++) {
          want[l] += (v[i] * H[i * n + j] * v[j]) / 2;
          scale[l] += Math.abs(H[i * n + j]) / 2;
        }
      }
    });
  }
  // float32 Hessian-vector products: rounding error relative to the sum of |H_ij| the products add up
  for (let l = 0; l < 3; l++) assert.ok(Math.abs(r.trace[l] - want[l]) <= 1e-6 * scale[l], `layer ${l}: trace ${r.trace[l]} vs ${want[l]} (Σ|H| ${scale[l]})`);
  // the tolerance is below 1 % of every estimate, so a wrong layer, probe or average cannot pass
  assert.ok(want.every((t, l) => Math.abs(t) > 100 * 1e-6 * scale[l]), `estimates ${want} too small for the check`);
  tf.dispose([loss, batch.x, batch.y]);
  target.dispose(); again.dispose();
});

test.run();
