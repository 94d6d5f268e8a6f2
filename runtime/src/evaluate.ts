// Top-1 accuracy of a classifier on a labelled set: the one evaluator the runtime, the search's
// Pareto sweep and the trainer's reference check share. Structural types: any object with
// setPrecision(bits) and classify(x, batch) fits (Runtime does; referenceClassifier wraps the
// float reference forward pass).
import type { Model } from '@bitswitch/format';
import { argmax } from './executor.ts';
import { referenceForward } from './reference.ts';

export interface Classifier {
  /** One bit-width per quantized layer, in graph order, or the name of one of the model's SubNets. */
  setPrecision(precision: number[] | string): unknown;
  /** Predicted class per image of an NHWC float batch. */
  classify(input: Float32Array, batch: number): ArrayLike<number>;
}

export interface LabelledSet {
  /** NHWC float images, count × pixelsPerImage, already normalised as the model expects. */
  images: Float32Array;
  labels: ArrayLike<number>;
  count: number;
}

/** Top-1 accuracy of one precision over the set, in batches of `batch`. */
export function accuracy(classifier: Classifier, precision: number[] | string, data: LabelledSet, batch = 256): number {
  if (!(data.count > 0)) throw new RangeError(`data.count: expected > 0, got ${data.count}`);
  if (data.labels.length < data.count) throw new RangeError(`data.labels: expected ${data.count} labels, got ${data.labels.length}`);
  if (data.images.length % data.count !== 0) throw new RangeError(`data.images: expected a multiple of count ${data.count} values, got ${data.images.length}`);
  const per = data.images.length / data.count;
  classifier.setPrecision(precision);
  let correct = 0;
  for (let start = 0; start < data.count; start += batch) {
    const n = Math.min(batch, data.count - start);
    const predicted = classifier.classify(data.images.subarray(start * per, (start + n) * per), n);
    for (let i = 0; i < n; i++) if (predicted[i] === data.labels[start + i]) correct++;
  }
  return correct / data.count;
}

/** (model, bits per quantized layer or SubNet name) → accuracy over a fixed set; one classifier per model object, made on first use. */
export function accuracyEvaluator(
  data: LabelledSet, makeClassifier: (model: Model) => Classifier | Promise<Classifier>, batch = 256,
): (model: Model, precision: number[] | string) => Promise<number> {
  const classifiers = new Map<Model, Promise<Classifier>>();
  return async (model, precision) => {
    let c = classifiers.get(model);
    if (!c) classifiers.set(model, (c = Promise.resolve(makeClassifier(model))));
    return accuracy(await c, precision, data, batch);
  };
}

/** A Classifier that runs the float reference forward pass (referenceForward) at the precision last set. */
export function referenceClassifier(model: Model): Classifier {
  let precision: number[] | number | string = model.bits[0];
  return {
    setPrecision(p) { precision = p; },
    classify: (input, batch) => argmax(referenceForward(model, precision, input, batch), batch),
  };
}
