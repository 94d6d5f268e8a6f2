// BatchNorm statistics re-estimated after training (src/loops/bn-reestimate.ts): each statistic
// becomes the average of the batch statistics over the chosen images, at the bits asked for only,
// nothing else changes; the images are whole batches of a seeded permutation.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/tfjs/backend.ts';
import { limitSplits, loadDataset, makeBatch, NO_AUGMENT } from '../src/data/datasets.ts';
import { reestimateBn, reestimationImages } from '../src/loops/bn-reestimate.ts';
import { Network } from '../src/nn/network.ts';
import { buildModel } from '../src/nn/models.ts';
import { Rng } from '../src/math/rng.ts';

await initBackend('wasm');
const ds = loadDataset('mnist');
const { train } = limitSplits(ds, { trainLimit: 200, testLimit: 10 });

function network(): Network {
  return new Network(buildModel('small-cnn', [28, 28, 1], 10, { channels: [4, 6, 6], hidden: 8 }), { bits: [8, 4, 2], quantizer: 'double-rounding', perChannel: false }, new Rng(5));
}

test('images: whole batches of a permutation fixed by the seed, at most the split', () => {
  const a = reestimationImages(train, 100, 16, 1);
  assert.is(a.length, 96);
  assert.equal([...a], [...reestimationImages(train, 100, 16, 1)]);
  assert.not.equal([...a], [...reestimationImages(train, 100, 16, 2)]);
  assert.is(new Set(a).size, 96);
  assert.is(reestimationImages(train, 10_000, 16, 1).length, Math.floor(train.count / 16) * 16);
});

test('each statistic the given bits use (their own and shared ones) becomes the average of its batch means and variances; other bits, weights and affine parameters stay', async () => {
  const net = network();
  const before = await net.snapshot();
  const idx = reestimationImages(train, 48, 16, 3);
  assert.is(await reestimateBn(net, ds, train, [4], idx, 16), 3);
  const after = await net.snapshot();
  // the expected values from three separate training-mode passes, averaged here
  const expect = new Map<string, { mean: number[]; variance: number[] }>();
  for (let i = 0; i < 3; i++) {
    const { x } = makeBatch(ds, train, idx.subarray(16 * i, 16 * (i + 1)), NO_AUGMENT, new Rng(0));
    tf.tidy(() => {
      for (const u of net.forward(tf.tensor4d(x, [16, 28, 28, 1]), 4, true).bnUpdates) {
        const e = expect.get(`${u.name}@${u.key}`) ?? { mean: [], variance: [] };
        const m = u.mean.dataSync(), v = u.variance.dataSync();
        m.forEach((val, c) => { e.mean[c] = (e.mean[c] ?? 0) + val / 3; });
        v.forEach((val, c) => { e.variance[c] = (e.variance[c] ?? 0) + val / 3; });
        expect.set(`${u.name}@${u.key}`, e);
      }
    });
  }
  assert.ok(expect.size >= 2, 'the network has BatchNorm layers');
  let changed = 0;
  for (const [name, v] of Object.entries(after)) {
    const m = /^(.*)\/(mean|var)@(.*)$/.exec(name);
    const e = m && expect.get(`${m[1]}@${m[3]}`);
    if (e) {
      const want = e[m![2] === 'mean' ? 'mean' : 'variance'];
      v.forEach((got, c) => assert.ok(Math.abs(got - want[c]!) <= 1e-5 * Math.max(1, Math.abs(want[c]!)), `${name}[${c}]: ${got} vs ${want[c]}`));
      if (v.some((x, c) => x !== before[name]![c])) changed++;
    } else {
      assert.equal([...v], [...before[name]!], `${name} is untouched`);
    }
  }
  assert.ok(changed >= 4 && [...expect.keys()].some((k) => k.endsWith('@b4')), `the 4-bit statistics changed (${changed}: ${[...expect.keys()]})`);
  net.dispose();
});

test('a batch count that is not whole is refused with the batch size named', async () => {
  const net = network();
  await reestimateBn(net, ds, train, [8], Int32Array.from({ length: 20 }, (_, i) => i), 16).then(() => assert.unreachable('resolved'), (e: Error) => assert.match(e.message, /expected whole batches of 16 images, got 20/));
  net.dispose();
});

test.run();
