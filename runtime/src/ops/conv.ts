// Convolutions and dense layers as GEMMs: the weight matrix shape and the window geometry.
import type { Conv2DLayer, DenseLayer } from '@bitswitch/format';
import type { ConvGeometry } from '../backend.ts';
import { padBefore } from '../graph.ts';

/** [N][K] of a conv (K = kh·kw·cin) or dense layer's weight matrix. */
export function matrixShape(l: Conv2DLayer | DenseLayer): [number, number] {
  return l.op === 'conv2d' ? [l.outChannels, l.kernel[0] * l.kernel[1] * l.inChannels] : [l.outFeatures, l.inFeatures];
}

/** The window walk of conv `l` over a batch of NHWC inputs of shape s = [H, W, C]. */
export function geometry(l: Conv2DLayer, s: number[], batch: number): ConvGeometry {
  const r = padBefore(s[0], l.kernel[0], l.strides[0], l.padding);
  const c = padBefore(s[1], l.kernel[1], l.strides[1], l.padding);
  return { batch, h: s[0], w: s[1], c: s[2], kh: l.kernel[0], kw: l.kernel[1], sh: l.strides[0], sw: l.strides[1], padding: l.padding, padTop: r.pad, padLeft: c.pad, outH: r.out, outW: c.out };
}

/** A 1×1, stride 1 conv reads NHWC rows as they are: no im2col. */
export function isPointwise(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.sh === 1 && g.sw === 1;
}

/** Bytes (= codes) of the patch matrix [batch·outH·outW][kh·kw·c]. */
export function patchBytes(g: ConvGeometry): number {
  return g.batch * g.outH * g.outW * g.kh * g.kw * g.c;
}
