import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Model } from '@bitswitch/format';
import { accuracy, accuracyEvaluator, type Classifier } from '../src/index.ts';

// A fake classifier: predicts image value's floor mod 3, and gets every image wrong when bits[0] is 2.
function fake(log: string[]): Classifier {
  let bits: number[] = [];
  return {
    setPrecision: (b) => { if (typeof b === 'string') throw new Error('by bits only'); bits = b; log.push(`set ${b}`); },
    classify: (x, n) => {
      log.push(`batch ${n}`);
      return Int32Array.from({ length: n }, (_, i) => (bits[0] === 2 ? 99 : Math.floor(x[i * 2]) % 3));
    },
  };
}

// 10 images of 2 values each; labels match the fake's prediction except images 3 and 7.
const images = Float32Array.from({ length: 20 }, (_, k) => Math.floor(k / 2));
const labels = Int32Array.from({ length: 10 }, (_, i) => (i === 3 || i === 7 ? 5 : i % 3));

test('accuracy counts correct predictions over batches, including a short last batch', () => {
  const log: string[] = [];
  assert.is(accuracy(fake(log), [8, 8], { images, labels, count: 10 }, 4), 0.8);
  assert.equal(log, ['set 8,8', 'batch 4', 'batch 4', 'batch 2']);
  assert.is(accuracy(fake([]), [2, 8], { images, labels, count: 10 }), 0);
  assert.throws(() => accuracy(fake([]), [8], { images, labels, count: 0 }), /data\.count/);
  assert.throws(() => accuracy(fake([]), [8], { images: images.subarray(1), labels, count: 10 }), /data\.images/);
});

test('accuracyEvaluator makes one classifier per model', async () => {
  let made = 0;
  const evaluate = accuracyEvaluator({ images, labels, count: 10 }, () => { made++; return fake([]); });
  const a = {} as Model, b = {} as Model;
  assert.is(await evaluate(a, [8]), 0.8);
  assert.is(await evaluate(a, [2]), 0);
  assert.is(await evaluate(b, [8]), 0.8);
  assert.is(made, 2);
});

test.run();
