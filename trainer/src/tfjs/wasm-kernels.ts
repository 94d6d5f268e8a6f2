// Kernels the wasm backend lacks (Conv2DBackpropFilter) or has slow versions of
// (Conv2DBackpropInput), registered once, both built on its XNNPACK Conv2D.
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilterViaConv2D } from './kernels/Conv2DBackpropFilter.ts';
import { conv2DBackpropInputViaConv2D } from './kernels/Conv2DBackpropInput.ts';

let registered = false;
let builtinBackpropInput: tf.KernelConfig | undefined;

/** The wasm backend's own Conv2DBackpropInput, kept for tests and benchmarks. */
export function builtinWasmConv2DBackpropInput(): tf.KernelConfig | undefined {
  const k = builtinBackpropInput;
  if (!k) return undefined;
  // Unregistered before the backend initialised, so its setup (cwrap of the wasm export) never ran.
  const ready = new WeakSet<object>();
  return {
    ...k,
    kernelFunc: (args) => {
      if (!ready.has(args.backend)) { k.setupFunc?.(args.backend); ready.add(args.backend); }
      return k.kernelFunc(args);
    },
  };
}

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc: conv2DBackpropFilterViaConv2D('wasm') });
  }
  builtinBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (builtinBackpropInput) tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  const fallback = builtinWasmConv2DBackpropInput()?.kernelFunc;
  tf.registerKernel({ kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2DBackpropInputViaConv2D('wasm', fallback) });
}
