// Accuracy of a model file on a data set's test split, run by the CPU runtime (integer kernels).
import type { Model } from '@bitswitch/format';

export interface LabelledImages { x: Float32Array; y: Int32Array; count: number }

/** Top-1 accuracy of `classify` over `images`, in batches. */
export function accuracyOf(classify: (x: Float32Array, n: number) => Int32Array, images: LabelledImages, batch = 32): number {
  const px = images.x.length / images.count;
  let correct = 0;
  for (let i = 0; i < images.count; i += batch) {
    const n = Math.min(batch, images.count - i);
    const pred = classify(images.x.subarray(i * px, (i + n) * px), n);
    for (let j = 0; j < n; j++) if (pred[j] === images.y[i + j]) correct++;
  }
  return correct / images.count;
}

/** The test split of a named data set (mnist | fashion-mnist), normalised as the trainer does; a stratified subset if `limit`. */
export async function testImages(data: string, limit?: number): Promise<LabelledImages> {
  const { loadDataset, makeBatch, stratifiedSubset, NO_AUGMENT, Rng } = await import('@bitswitch/trainer');
  const ds = loadDataset(data);
  const pixels = ds.height * ds.width * ds.channels;
  const split = limit && limit < ds.test.count ? stratifiedSubset(ds.test, Math.ceil(limit / ds.classes), ds.classes, pixels) : ds.test;
  const { x, y } = makeBatch(ds, split, Int32Array.from({ length: split.count }, (_, i) => i), NO_AUGMENT, new Rng(0));
  return { x, y, count: split.count };
}

/** For `bitswitch pareto`: evaluates (model, bits per quantized layer) on `data`'s test split. */
export async function runtimeEvaluator(data: string, options: { limit?: number }): Promise<(model: Model, bits: number[]) => Promise<number>> {
  const images = await testImages(data, options.limit);
  const { createRuntime } = await import('@bitswitch/runtime');
  return async (model, bits) => {
    const rt = await createRuntime(model, { precision: bits });
    return accuracyOf((x, n) => rt.classify(x, n), images);
  };
}
