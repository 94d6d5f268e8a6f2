// Shared by the Node script and the web page of the packaging test: loads a model with the
// installed @bitswitch/runtime and classifies fixed pseudo-random inputs at every bit-width.
import { argmax, createRuntime, randomImages, relaxedSimdSupport } from '@bitswitch/runtime';

export const COUNT = 16;
export const SEED = 7;

/** Logits and predictions at each of the model's bit-widths, plus the build the runtime picked. */
export async function classifyAll(source) {
  const rt = await createRuntime(source);
  const input = randomImages(rt.model.inputShape, COUNT, SEED);
  const result = { backend: rt.info.backend, relaxedSimd: relaxedSimdSupport(), threads: rt.info.threads, bits: {} };
  for (const bit of rt.model.bits) {
    rt.setPrecision(bit);
    const logits = rt.run(input, COUNT);
    result.bits[bit] = { predictions: Array.from(argmax(logits, COUNT)), logits: Array.from(logits) };
  }
  rt.dispose();
  return result;
}
