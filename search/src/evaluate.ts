// Accuracy of a SubNet on a labelled set, for `bitswitch pareto`. Structural types only: any
// runtime with setPrecision(bits) and classify(x, batch) fits (the runtime package's Runtime does).
import type { Model } from '@bitswitch/format';

/** Top-1 accuracy in [0, 1] of `model` run with one bit-width per quantized layer (inference only). */
export type Evaluate = (model: Model, bitsPerLayer: number[]) => Promise<number>;
/** Makes an Evaluate for a data set path or name (--data). */
export type EvaluatorFactory = (data: string, options: { limit?: number }) => Promise<Evaluate>;

export interface Classifier {
  /** One bit-width per quantized layer, in graph order. */
  setPrecision(bits: number[]): unknown;
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
export function accuracy(classifier: Classifier, bits: number[], data: LabelledSet, batch = 256): number {
  if (!(data.count > 0)) throw new RangeError(`data.count: expected > 0, got ${data.count}`);
  if (data.labels.length < data.count) throw new RangeError(`data.labels: expected ${data.count} labels, got ${data.labels.length}`);
  if (data.images.length % data.count !== 0) throw new RangeError(`data.images: expected a multiple of count ${data.count} values, got ${data.images.length}`);
  const per = data.images.length / data.count;
  classifier.setPrecision(bits);
  let correct = 0;
  for (let start = 0; start < data.count; start += batch) {
    const n = Math.min(batch, data.count - start);
    const predicted = classifier.classify(data.images.subarray(start * per, (start + n) * per), n);
    for (let i = 0; i < n; i++) if (predicted[i] === data.labels[start + i]) correct++;
  }
  return correct / data.count;
}

/** An Evaluate over a fixed set; one classifier per model object, made on first use. */
export function accuracyEvaluator(data: LabelledSet, makeClassifier: (model: Model) => Classifier | Promise<Classifier>, batch = 256): Evaluate {
  const classifiers = new Map<Model, Promise<Classifier>>();
  return async (model, bits) => {
    let c = classifiers.get(model);
    if (!c) classifiers.set(model, (c = Promise.resolve(makeClassifier(model))));
    return accuracy(await c, bits, data, batch);
  };
}
