// Gradients that double back-propagation (Hessian-vector products) needs and TensorFlow.js
// lacks or gets wrong:
// - comparisons have no gradient at all; they are piecewise constant, so it is zero
//   (Max's gradient and logSumExp go through Equal);
// - Conv2DBackpropFilter has none (the first-order gradient of a conv weight is one);
// - AvgPoolGrad has none (the first-order gradient of avgPool is one);
// - Exp, Tanh and Sigmoid differentiate through their saved *output*, which the engine saves
//   as a clone made before the op is on the tape, so the second derivative silently drops
//   that path; these versions recompute from the saved input instead.
import * as tf from '@tensorflow/tfjs';

type GradFunc = tf.GradConfig['gradFunc'];

const zeroGrads: GradFunc = (_dy, saved) => {
  const [a, b] = saved as [tf.Tensor, tf.Tensor];
  return { a: () => tf.zerosLike(a), b: () => tf.zerosLike(b) };
};

const COMPARISONS = ['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual'];

interface ConvAttrs {
  strides: [number, number] | number;
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

// dW = Σ x ⊗ dy is bilinear: ⟨G, dW⟩ = ⟨dy, conv2d(x, G)⟩ = ⟨x, conv2dTranspose(dy, G)⟩.
const conv2DBackpropFilterGrad: GradFunc = (ddw, saved, attrs) => {
  const [x, dy] = saved as [tf.Tensor4D, tf.Tensor4D];
  const { strides, pad, dataFormat, dimRoundingMode } = attrs as unknown as ConvAttrs;
  return {
    x: () => tf.engine().runKernel('Conv2DBackpropInput', { dy, filter: ddw as tf.Tensor },
      { strides, pad, dataFormat, dimRoundingMode, inputShape: x.shape } as unknown as tf.NamedAttrMap) as tf.Tensor,
    dy: () => tf.engine().runKernel('Conv2D', { x, filter: ddw as tf.Tensor },
      { strides, pad, dataFormat, dilations: 1, dimRoundingMode } as unknown as tf.NamedAttrMap) as tf.Tensor,
  };
};

interface PoolAttrs { filterSize: [number, number] | number; strides: [number, number] | number; pad: 'valid' | 'same' | number }

// avgPoolGrad is linear in dy and its own adjoint is avgPool.
const avgPoolGradGrad: GradFunc = (ddx, saved, attrs) => {
  const [, input] = saved as [tf.Tensor4D, tf.Tensor4D];
  const { filterSize, strides, pad } = attrs as unknown as PoolAttrs;
  return {
    dy: () => tf.avgPool(ddx as tf.Tensor4D, filterSize, strides, pad),
    input: () => tf.zerosLike(input),
  };
};

const GRADIENTS: tf.GradConfig[] = [
  ...COMPARISONS.map((kernelName) => ({ kernelName, inputsToSave: ['a', 'b'], gradFunc: zeroGrads })),
  { kernelName: 'Conv2DBackpropFilter', inputsToSave: ['x', 'dy'], gradFunc: conv2DBackpropFilterGrad },
  { kernelName: 'AvgPoolGrad', inputsToSave: ['dy', 'input'], gradFunc: avgPoolGradGrad },
  { kernelName: 'Exp', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.exp(x!)) }) },
  { kernelName: 'Tanh', inputsToSave: ['x'], gradFunc: (dy, [x]) => ({ x: () => tf.mul(dy as tf.Tensor, tf.sub(1, tf.square(tf.tanh(x!)))) }) },
  {
    kernelName: 'Sigmoid', inputsToSave: ['x'],
    gradFunc: (dy, [x]) => ({ x: () => { const s = tf.sigmoid(x!); return tf.mul(dy as tf.Tensor, tf.mul(s, tf.sub(1, s))); } }),
  },
];

/** Kernel names whose gradient this module (re)defines. */
export const SECOND_ORDER_KERNELS = GRADIENTS.map((g) => g.kernelName);

let registered = false;

export function registerSecondOrderGradients(): void {
  if (registered) return;
  registered = true;
  for (const g of GRADIENTS) {
    if (tf.getGradient(g.kernelName)) tf.unregisterGradient(g.kernelName);
    tf.registerGradient(g);
  }
}
