// Data-set evaluation with the CPU runtime (integer kernels), for `bitswitch pareto` and the demo.
import type { Model } from '@bitswitch/format';
import { accuracyEvaluator, type LabelledSet } from '@bitswitch/search/evaluate';

/** The test split of a named data set (mnist | fashion-mnist), normalised as the trainer does; a stratified subset if `limit`. */
export async function testImages(data: string, limit?: number): Promise<LabelledSet> {
  const { loadDataset, makeBatch, stratifiedSubset, NO_AUGMENT, Rng } = await import('@bitswitch/trainer');
  const ds = loadDataset(data);
  const pixels = ds.height * ds.width * ds.channels;
  const split = limit && limit < ds.test.count ? stratifiedSubset(ds.test, Math.ceil(limit / ds.classes), ds.classes, pixels) : ds.test;
  const { x, y } = makeBatch(ds, split, Int32Array.from({ length: split.count }, (_, i) => i), NO_AUGMENT, new Rng(0));
  return { images: x, labels: y, count: split.count };
}

/** For `bitswitch pareto`: (model, bits per quantized layer or SubNet name) → accuracy on `data`'s test split; one runtime per model. */
export async function runtimeEvaluator(data: string, options: { limit?: number }): Promise<(model: Model, precision: number[] | string) => Promise<number>> {
  const images = await testImages(data, options.limit);
  const { createRuntime } = await import('@bitswitch/runtime');
  return accuracyEvaluator(images, (model) => createRuntime(model));
}
