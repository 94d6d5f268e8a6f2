// Composite kernels call their backend's own kernels directly (not tf ops), so they stay
// inside one kernel invocation: no tape entries, no engine bookkeeping per step.
import * as tf from '@tensorflow/tfjs';

type Attrs = Record<string, unknown>;

/** Runs kernel `name` of `backendName` on raw tensor infos; throws if that backend lacks it. */
export function callKernel(
  name: string, backendName: string, backend: tf.KernelBackend,
  inputs: Record<string, tf.TensorInfo>, attrs: Attrs = {},
): tf.TensorInfo {
  const k = tf.getKernel(name, backendName);
  if (!k) throw new Error(`${backendName} backend has no '${name}' kernel`);
  const out = k.kernelFunc({ inputs, backend, attrs: attrs as tf.NamedAttrMap });
  return Array.isArray(out) ? out[0]! : out;
}

/** Frees intermediate results of callKernel (refcounted: shared data survives). */
export function release(backend: tf.KernelBackend, ...infos: tf.TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}
