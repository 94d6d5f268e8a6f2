// Conv2DBackpropFilter as one forward Conv2D of the same backend on transposed tensors:
//   dW[i,j,ci,co] = Σ_{b,y,x} x[b, y·s+i−pt, x·s+j−pl, ci] · dy[b,y,x,co]
// which is a stride-1 convolution of x viewed as [Cin,H,W,B] (batch ↔ channels swapped)
// with dy viewed as the filter [Ho,Wo,B,Cout], dilated by the forward stride.
// The backend's Conv2D (XNNPACK on wasm) then does the heavy GEMM.
import * as tf from '@tensorflow/tfjs';
import { callKernel, release } from './call.ts';

export interface Conv2DBackpropFilterAttrs {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat: 'NHWC' | 'NCHW';
  dimRoundingMode?: 'floor' | 'round' | 'ceil';
  filterShape: [number, number, number, number];
}

export function conv2DBackpropFilterViaConv2D(backendName: string): tf.KernelFunc {
  return ({ inputs, backend: be, attrs }) => {
    const backend = be as tf.KernelBackend;
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
    if (dataFormat !== 'NHWC') {
      throw new Error(`Conv2DBackpropFilter (${backendName}): dataFormat must be 'NHWC', got '${dataFormat}'`);
    }
    const info = tf.backend_util.computeConv2DInfo(
      x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
    const [, H, W, Cin] = x.shape as number[];
    const [, Ho, Wo] = dy.shape as number[];
    const { filterHeight: fh, filterWidth: fw, strideHeight: sh, strideWidth: sw } = info;
    const top = info.padInfo.top;
    const left = info.padInfo.left;
    // Rows/cols past the last window are never read; a negative pad means "crop them".
    const bottom = fh + (Ho! - 1) * sh - H! - top;
    const right = fw + (Wo! - 1) * sw - W! - left;

    let xt = callKernel('Transpose', backendName, backend, { x }, { perm: [3, 1, 2, 0] });
    if (bottom < 0 || right < 0) {
      const cropped = callKernel('Slice', backendName, backend, { x: xt }, {
        begin: [0, 0, 0, 0], size: [Cin, H! + Math.min(bottom, 0), W! + Math.min(right, 0), x.shape[0]],
      });
      release(backend, xt);
      xt = cropped;
    }
    const dyt = callKernel('Transpose', backendName, backend, { x: dy }, { perm: [1, 2, 0, 3] });
    const explicit = [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]];
    const conv = callKernel('Conv2D', backendName, backend, { x: xt, filter: dyt }, {
      strides: [1, 1], pad: explicit, dataFormat: 'NHWC', dilations: [sh, sw],
    });
    const dw = callKernel('Transpose', backendName, backend, { x: conv }, { perm: [1, 2, 0, 3] });
    release(backend, xt, dyt, conv);
    return dw;
  };
}
