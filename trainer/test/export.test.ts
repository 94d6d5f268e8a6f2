// Export → writeModel → readModel → reference forward pass gives the trainer's predictions.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { readModel, writeModel } from '@bitswitch/format';
import { initBackend } from '../src/tfjs/backend.ts';
import { loadMnist, makeBatch, NO_AUGMENT } from '../src/data/datasets.ts';
import { argmax, referenceForward } from '@bitswitch/runtime';
import { Trainer } from '../src/loops/train.ts';
import { predict } from '../src/loops/evaluate.ts';
import { exportModel, fromRowsNK, toRowsNK } from '../src/io/export.ts';
import { networkFromModel } from '../src/io/import.ts';
import { Rng } from '../src/math/rng.ts';

await initBackend('wasm');
const ds = loadMnist();

test('HWIO ↔ [N][K] transposition round-trips', () => {
  const k = Float32Array.from({ length: 3 * 3 * 2 * 5 }, (_, i) => i);
  const rows = toRowsNK(k, 5);
  assert.is(rows[1 * 18 + 0], 1); // [o=1][k=0] = HWIO index 0·5 + 1
  assert.equal(Array.from(fromRowsNK(rows, 5)), Array.from(k));
});

for (const model of ['small-cnn', 'resnet8'] as const) {
  test(`${model}: exported file read back and evaluated with the reference math agrees with the trainer at every bit`, async () => {
    const t = new Trainer({
      model, modelOptions: { channels: [8, 8, 16], hidden: 16 }, data: 'mnist', bits: [8, 6, 4, 2], pretrainEpochs: 1, epochs: 1,
      batchSize: 16, trainLimit: model === 'resnet8' ? 32 : 64, testLimit: 40, lr: 5e-4, pretrainLr: 3e-3, checkpointEvery: 0,
    }, ds);
    await t.run();
    const net = t.nets[0];
    const bytes = writeModel(await exportModel(net, { test: true }));
    const back = readModel(bytes);
    assert.equal(back.bits, [8, 6, 4, 2]);
    const n = t.test.count;
    const { x } = makeBatch(ds, t.test, Int32Array.from({ length: n }, (_, i) => i), NO_AUGMENT, new Rng(0));
    const imported = networkFromModel(back);
    for (const b of back.bits) {
      const trainer = await predict(net, ds, t.test, b);
      const ref = argmax(referenceForward(back, b, x, n), n);
      const viaImport = await predict(imported, ds, t.test, b);
      let agree = 0;
      for (let i = 0; i < n; i++) if (trainer[i] === ref[i]) agree++;
      // float64 vs float32 sums may flip a near-tie; anything more is a real mismatch
      assert.ok(agree >= n - 1, `w${b}: reference agrees on ${agree}/${n}`);
      assert.equal(Array.from(viaImport), Array.from(trainer), `w${b}: network rebuilt from the file`);
    }
    imported.dispose();
  });
}

test('export refuses quantizers the format cannot store', async () => {
  const t = new Trainer({ model: 'small-cnn', modelOptions: { channels: [4, 4, 4], hidden: 4 }, data: 'mnist', bits: [4, 2], quantizer: 'floor', pretrainEpochs: 0, epochs: 0, batchSize: 8, trainLimit: 10, testLimit: 10 }, ds);
  const err = await exportModel(t.nets[0]).then(() => undefined, (e: Error) => e);
  assert.match(err?.message ?? 'no error', /quantizer: expected double-rounding/);
});

test.run();
