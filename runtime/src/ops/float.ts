// The float layers both forward passes run outside the GEMMs (BatchNorm, ReLU, add, average pool),
// generic over the element type: the executor runs them on float32 tensors (each step rounded to
// float32), the reference on float64 ones.
import type { BatchNormLayer } from '@bitswitch/format';
import { padBefore } from '../graph.ts';

type Floats = Float32Array | Float64Array;

/** y = γ (x − μ) / sqrt(σ² + ε) + β with `p` = γ, β, μ, σ² ([4][channels], batchNormParams; channels last). */
export function batchNormInto<T extends Floats>(l: BatchNormLayer, p: Float32Array, x: T, y: T): T {
  const C = l.channels;
  for (let i = 0; i < x.length; i++) {
    const c = i % C;
    y[i] = (p[c] * (x[i] - p[2 * C + c])) / Math.sqrt(p[3 * C + c] + l.epsilon) + p[C + c];
  }
  return y;
}

export function reluInto<T extends Floats>(x: T, y: T): T {
  for (let i = 0; i < x.length; i++) y[i] = x[i] > 0 ? x[i] : 0;
  return y;
}

/** Elementwise sum of the inputs into y, in input order, with an optional fused ReLU. */
export function addInto<T extends Floats>(xs: T[], relu: boolean, y: T): T {
  y.set(xs[0]);
  for (let j = 1; j < xs.length - 1; j++) accumulate(y, xs[j]);
  return relu ? accumulateRelu(y, xs[xs.length - 1]) : accumulate(y, xs[xs.length - 1]);
}

function accumulate<T extends Floats>(y: T, z: T): T {
  for (let i = 0; i < y.length; i++) y[i] += z[i];
  return y;
}

function accumulateRelu<T extends Floats>(y: T, z: T): T {
  for (let i = 0; i < y.length; i++) {
    const v = y[i] + z[i];
    y[i] = v > 0 ? v : 0;
  }
  return y;
}

/** TF average pooling of NHWC x ([H, W, C] per image) into y; padded positions are not counted. Sums accumulate in y's type. */
export function avgPoolInto<T extends Floats>(x: T, inShape: number[], batch: number, pool: [number, number], strides: [number, number], padding: 'same' | 'valid', y: T): T {
  const [H, W, C] = inShape;
  const r = padBefore(H, pool[0], strides[0], padding);
  const c = padBefore(W, pool[1], strides[1], padding);
  y.fill(0);
  let o = 0;
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < r.out; oy++) {
      for (let ox = 0; ox < c.out; ox++, o += C) {
        let count = 0;
        for (let ky = 0; ky < pool[0]; ky++) {
          const iy = oy * strides[0] + ky - r.pad;
          if (iy < 0 || iy >= H) continue;
          for (let kx = 0; kx < pool[1]; kx++) {
            const ix = ox * strides[1] + kx - c.pad;
            if (ix < 0 || ix >= W) continue;
            const src = ((b * H + iy) * W + ix) * C;
            for (let ch = 0; ch < C; ch++) y[o + ch] += x[src + ch];
            count++;
          }
        }
        for (let ch = 0; ch < C; ch++) y[o + ch] /= count;
      }
    }
  }
  return y;
}

/** Output elements per image of an average pool over [H, W, C]. */
export function poolOutputSize(inShape: number[], pool: [number, number], strides: [number, number], padding: 'same' | 'valid'): number {
  return padBefore(inShape[0], pool[0], strides[0], padding).out * padBefore(inShape[1], pool[1], strides[1], padding).out * inShape[2];
}
