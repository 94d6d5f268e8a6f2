// The accuracy evaluator with the reference classifier: its predictions are the argmax of the
// float reference's logits at the precision last set, and accuracy counts them against the labels.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { accuracy, accuracyEvaluator, referenceClassifier } from '../src/evaluate.ts';
import { referenceForward } from '../src/reference.ts';
import { buildResNet, randomImages } from '../src/testing.ts';

const model = buildResNet({ inputShape: [8, 8, 1], bits: [8, 2], blocks: 1, widths: [4, 8, 8], seed: 3 });
const count = 12;
const images = randomImages(model.inputShape, count, 5);
const layers = model.layers.filter((l) => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int').length;

function argmaxRows(logits: Float32Array, n: number): number[] {
  const c = logits.length / n;
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < c; j++) if (logits[i * c + j] > logits[i * c + best]) best = j;
    return best;
  });
}

test('referenceClassifier predicts argmax(referenceForward) at the precision last set', () => {
  const rc = referenceClassifier(model);
  for (const bit of model.bits) {
    rc.setPrecision(new Array(layers).fill(bit));
    assert.equal(Array.from(rc.classify(images, count)), argmaxRows(referenceForward(model, bit, images, count), count));
  }
});

test('accuracy counts predictions equal to the labels, over batches that do not divide the set', async () => {
  const bits = new Array(layers).fill(2);
  const predicted = argmaxRows(referenceForward(model, 2, images, count), count);
  // Labels right on images 0, 3, 4, 9 only.
  const labels = predicted.map((p, i) => ([0, 3, 4, 9].includes(i) ? p : p + 1));
  const data = { images, labels, count };
  assert.is(accuracy(referenceClassifier(model), bits, data, 5), 4 / 12);
  assert.is(await accuracyEvaluator(data, referenceClassifier, 7)(model, bits), 4 / 12);
  assert.throws(() => accuracy(referenceClassifier(model), bits, { images, labels: labels.slice(0, 3), count }), /data.labels: expected 12 labels, got 3/);
});

test.run();
