// Conv2DBackpropInput as one forward Conv2D of the same backend (the "full" convolution):
//   dx[b,h,w,ci] = Σ_{i,j,co} dy[b,y,x,co] · W[i,j,ci,co]   with h = y·s + i − pt
// = a stride-1 convolution of dy, zero-upsampled by the stride, with W flipped in space and
// its channel axes swapped. The wasm backend's own kernel is a plain loop 8-14× slower than
// its XNNPACK Conv2D (measured by bench/src/tfjs-backends.ts), so this replaces it there.
import * as tf from '@tensorflow/tfjs';
import { callKernel, release } from './call.ts';

export interface Conv2DBackpropInputAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  inputShape: [number, number, number, number];
}

/** dy [B,Ho,Wo,C] → [B,Ho·sh,Wo·sw,C] with dy at every (sh,sw)-th position, zeros elsewhere. */
function upsampleWithZeros(
  dy: tf.TensorInfo, sh: number, sw: number, backendName: string, backend: tf.KernelBackend,
): tf.TensorInfo {
  const [B, Ho, Wo, C] = dy.shape as [number, number, number, number];
  const r6 = callKernel('Reshape', backendName, backend, { x: dy }, { shape: [B, Ho, 1, Wo, 1, C] });
  const padded = callKernel('PadV2', backendName, backend, { x: r6 }, {
    paddings: [[0, 0], [0, 0], [0, sh - 1], [0, 0], [0, sw - 1], [0, 0]], constantValue: 0,
  });
  const up = callKernel('Reshape', backendName, backend, { x: padded }, { shape: [B, Ho * sh, Wo * sw, C] });
  release(backend, r6, padded);
  return up;
}

/** `fallback` (the backend's own kernel) handles what this one does not: NCHW. */
export function conv2DBackpropInputViaConv2D(backendName: string, fallback?: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, backend: be, attrs } = args;
    const backend = be as tf.KernelBackend;
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
    if (dataFormat !== 'NHWC') {
      if (fallback) return fallback(args);
      throw new Error(`Conv2DBackpropInput (${backendName}): dataFormat must be 'NHWC', got '${dataFormat}'`);
    }
    const info = tf.backend_util.computeConv2DInfo(
      inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode);
    const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw, inHeight: H, inWidth: W } = info;
    const [B, Ho, Wo] = dy.shape as number[];
    const top = fh - 1 - info.padInfo.top;
    const left = fw - 1 - info.padInfo.left;
    // The upsampled dy already ends with (s−1) zero rows; pad (or crop) the rest to reach H.
    const bottom = H + fh - 1 - Ho! * sh - top;
    const right = W + fw - 1 - Wo! * sw - left;
    if (top < 0 || left < 0) {
      throw new Error(`Conv2DBackpropInput (${backendName}): padding larger than the filter is not supported`);
    }

    let up = sh === 1 && sw === 1
      ? callKernel('Identity', backendName, backend, { x: dy })
      : upsampleWithZeros(dy, sh, sw, backendName, backend);
    if (bottom < 0 || right < 0) {
      const cropped = callKernel('Slice', backendName, backend, { x: up }, {
        begin: [0, 0, 0, 0], size: [B, Ho! * sh + Math.min(bottom, 0), Wo! * sw + Math.min(right, 0), dy.shape[3]],
      });
      release(backend, up);
      up = cropped;
    }
    const flipped = callKernel('Reverse', backendName, backend, { x: filter }, { dims: [0, 1] });
    const swapped = callKernel('Transpose', backendName, backend, { x: flipped }, { perm: [0, 1, 3, 2] });
    const dx = callKernel('Conv2D', backendName, backend, { x: up, filter: swapped }, {
      strides: [1, 1], pad: [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]],
      dataFormat: 'NHWC', dilations: [1, 1],
    });
    release(backend, up, flipped, swapped);
    return dx;
  };
}
