// Type-checked against the installed packages' .d.ts files (tsc --noEmit in the temporary project).
import { readModel, writeModel, type Model } from '@bitswitch/format';
import { availableBuilds, type BuildName } from '@bitswitch/kernels';
import { createRuntime, type Runtime, type RuntimeInfo } from '@bitswitch/runtime';

export async function firstLogits(bytes: Uint8Array): Promise<{ logits: Float32Array; info: RuntimeInfo; builds: BuildName[] }> {
  const model: Model = readModel(bytes);
  const rt: Runtime = await createRuntime(writeModel(model), { threads: 1 });
  const logits = rt.run(new Float32Array(model.inputShape.reduce((a, b) => a * b, 1)), 1);
  rt.dispose();
  return { logits, info: rt.info, builds: availableBuilds() };
}
