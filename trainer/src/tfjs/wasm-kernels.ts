// Kernels the wasm backend lacks (Conv2DBackpropFilter) or has slow versions of
// (Conv2DBackpropInput, both built on its XNNPACK Conv2D; Identity), and the fused training
// kernels (kernels/fused.ts), registered once.
import * as tf from '@tensorflow/tfjs';
import { conv2DBackpropFilterViaConv2D } from './kernels/Conv2DBackpropFilter.ts';
import { conv2DBackpropInputViaConv2D } from './kernels/Conv2DBackpropInput.ts';
import { envSetting, fusedConv2DBackpropFilter, fusedConv2DBackpropInput, registerFusedKernels } from './kernels/fused.ts';

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

/** Whether Conv2DBackpropFilter takes the direct kernel (BITSWITCH_CONV_FILTER=conv2d: the Conv2D-based one). */
function directFilterGrad(): boolean {
  return envSetting('BITSWITCH_CONV_FILTER') !== 'conv2d';
}

/** Whether strided Conv2DBackpropInput takes the direct kernel (BITSWITCH_CONV_INPUT=conv2d: the Conv2D-based one). */
function directInputGrad(): boolean {
  return envSetting('BITSWITCH_CONV_INPUT') !== 'conv2d';
}

/** Identity without a copy: the output is the input's data with one more reference. */
const sharedIdentity: tf.KernelFunc = ({ inputs, backend }) => {
  const { x } = inputs as { x: tf.TensorInfo };
  (backend as unknown as { incRef(dataId: tf.DataId): void }).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
};

export function registerWasmKernels(): void {
  if (registered) return;
  registered = true;
  registerFusedKernels();
  if (!tf.getKernel('Conv2DBackpropFilter', 'wasm')) {
    const viaConv2D = conv2DBackpropFilterViaConv2D('wasm');
    tf.registerKernel({
      kernelName: 'Conv2DBackpropFilter', backendName: 'wasm',
      kernelFunc: (args) => (directFilterGrad() && fusedConv2DBackpropFilter(args as never)) || viaConv2D(args),
    });
  }
  builtinBackpropInput = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (builtinBackpropInput) tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  // Identity shares its input's data (refcounted, as the cpu backend's) instead of copying it:
  // tensors are immutable, and the engine clones every tensor a gradient saves, which on the
  // wasm backend meant one full copy of each saved activation per step.
  if (tf.getKernel('Identity', 'wasm')) tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ kernelName: 'Identity', backendName: 'wasm', kernelFunc: sharedIdentity });
  const fallback = builtinWasmConv2DBackpropInput()?.kernelFunc;
  const inputViaConv2D = conv2DBackpropInputViaConv2D('wasm', fallback);
  tf.registerKernel({
    kernelName: 'Conv2DBackpropInput', backendName: 'wasm',
    kernelFunc: (args) => (directInputGrad() && fusedConv2DBackpropInput(args as never)) || inputViaConv2D(args),
  });
}
