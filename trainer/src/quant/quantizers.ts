// Fake quantizers for training (TensorFlow.js). Forward math is the format package's
// reference (eq. 1–5, round half to even: tf.round rounds half to even); gradients are the
// straight-through estimates of eq. 13–14 with the LSQ factor g, written with tf.customGrad
// because tf.round's own gradient is zero.
import * as tf from '@tensorflow/tfjs';
import { checkBits, signedRange } from '@bitswitch/format';
import { FAKE_QUANT, FAKE_QUANT_GRAD, type FakeQuantAttrs } from '../tfjs/kernels/fused.ts';

/** Weight quantizer families compared in the trainer (Figure 2 of the paper). */
export const WEIGHT_QUANTIZERS = ['double-rounding', 'separate', 'floor', 'dorefa'] as const;
export type WeightQuantizer = (typeof WEIGHT_QUANTIZERS)[number];

// tf.customGrad's declared type passes `save` as a Tensor; the runtime passes the save function.
type CustomGradFn = Parameters<typeof tf.customGrad>[0];

/** LSQ gradient scale g = 1 / sqrt(N · p), N = values sharing one scale, p = largest level. */
export function lsqGradScale(valuesPerScale: number, p: number): number {
  return 1 / Math.sqrt(valuesPerScale * p);
}

/** Sums `t` down to the shape of a scale: [1] (per tensor) or [C] (per output channel = last axis). */
function sumToScale(t: tf.Tensor, scaleShape: number[]): tf.Tensor {
  if (scaleShape.length === 1 && scaleShape[0] === 1) return t.sum().reshape([1]);
  return t.sum(Array.from({ length: t.rank - 1 }, (_, i) => i));
}

/**
 * The fake quantizer as the fused kernel pair (kernels/fused.ts): same forward values and
 * gradients as the composite ops below; only first-order (no gradient of the gradient).
 */
function fusedFakeQuantize(x: tf.Tensor, scale: tf.Tensor, attrs: FakeQuantAttrs, g: number): tf.Tensor {
  const f = tf.customGrad(((xIn: tf.Tensor, sIn: tf.Tensor, save: tf.GradSaveFunc) => {
    save([xIn, sIn]);
    return {
      value: tf.engine().runKernel(FAKE_QUANT, { x: xIn, s: sIn }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) =>
        tf.engine().runKernel(FAKE_QUANT_GRAD, { dy, x: saved[0]!, s: saved[1]! }, { ...attrs, g } as unknown as tf.NamedAttrMap) as tf.Tensor[],
    };
  }) as unknown as CustomGradFn);
  return f(x, scale);
}

/**
 * Double Rounding fake quantizer, Ŵ_l for target bit l from the highest-bit scale s_h:
 * eq. 1 W̃_h = clip(round(W/s_h)), eq. 2 W̃_l = clip(round(W̃_h/2^Δ)), eq. 3 Ŵ_l = W̃_l·s_h·2^Δ.
 * `shift: 'floor'` is the Bit-Mixer-style variant (floor instead of the second round).
 * Gradients (STE, eq. 13–14) with v = W/(s_h·2^Δ) and [n, p] the l-bit range:
 *   ∂Ŵ/∂W = 1 if n < v < p else 0;
 *   ∂Ŵ/∂s_h = 2^Δ · (W̃_l − v) inside, 2^Δ · n or 2^Δ · p outside, times g.
 * The 2^Δ factor is the chain rule through Ŵ = W̃_l·(s_h·2^Δ); W̃_l equals round(v) except at
 * double-rounding ties, and using it keeps the gradient consistent with the forward value.
 * With l = h this is LSQ on one scale per bit (the "separate scales" baseline).
 */
export function doubleRoundingQuantize(w: tf.Tensor, scale: tf.Tensor, h: number, l: number, g: number, shift: 'round' | 'floor' = 'round', fused = false): tf.Tensor {
  checkBits(h, 'h', 2, 8);
  checkBits(l, 'l', 2, h);
  const [hn, hp] = signedRange(h);
  const [n, p] = signedRange(l);
  const step = 2 ** (h - l);
  if (fused) return fusedFakeQuantize(w, scale, { hn, hp, n, p, step, floor: shift === 'floor' }, g);
  const f = tf.customGrad(((wIn: tf.Tensor, sIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const W = wIn as tf.Tensor;
    const s = sIn as tf.Tensor;
    const wh = tf.clipByValue(tf.round(tf.div(W, s)), hn, hp); // eq. 1
    const shifted = tf.div(wh, step);
    const wl = tf.clipByValue(shift === 'round' ? tf.round(shifted) : tf.floor(shifted), n, p); // eq. 2
    const S = tf.mul(s, step);
    save([tf.div(W, S), wl]);
    return {
      value: tf.mul(wl, S), // eq. 3
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [v, wl0] = saved;
        // Outside [n, p] W̃_l is clipped to n or p, so one expression covers eq. 13's three
        // cases: W̃_l − v·inside (= W̃_l − v inside, n below, p above).
        const inside = tf.cast(tf.logicalAnd(tf.greater(v, n), tf.less(v, p)), 'float32');
        const dW = tf.mul(dy, inside);
        const dS = tf.mul(sumToScale(tf.mul(dy, tf.sub(wl0, tf.mul(v, inside))), s.shape), step * g); // eq. 13
        return [dW, dS];
      },
    };
  }) as unknown as CustomGradFn);
  return f(w, scale);
}

/**
 * Unsigned activation fake quantizer (eq. 4–5), LSQ-style learned scale s_b:
 * X̂ = clip(round(X/s_b), 0, 2^b − 1) · s_b. Gradients with v = X/s_b, Q = 2^b − 1:
 * ∂X̂/∂X = 1 if 0 < v < Q else 0; ∂X̂/∂s_b = (X̃ − v) inside, 0 below, Q above, times g.
 */
export function activationQuantize(x: tf.Tensor, scale: tf.Tensor, bits: number, g: number, fused = false): tf.Tensor {
  checkBits(bits, 'bits', 1, 8);
  const Q = 2 ** bits - 1;
  if (fused) return fusedFakeQuantize(x, scale, { hn: 0, hp: Q, n: 0, p: Q, step: 1, floor: false }, g);
  const f = tf.customGrad(((xIn: tf.Tensor, sIn: tf.Tensor, save: tf.GradSaveFunc) => {
    const X = xIn as tf.Tensor;
    const s = sIn as tf.Tensor;
    const v = tf.div(X, s);
    const xq = tf.clipByValue(tf.round(v), 0, Q); // eq. 4
    save([v, xq]);
    return {
      value: tf.mul(xq, s), // eq. 5
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [v0, xq0] = saved;
        // X̃ is clipped to 0 below and Q above: X̃ − v·inside covers all three cases.
        const inside = tf.cast(tf.logicalAnd(tf.greater(v0, 0), tf.less(v0, Q)), 'float32');
        const dX = tf.mul(dy, inside);
        return [dX, tf.mul(tf.sum(tf.mul(dy, tf.sub(xq0, tf.mul(v0, inside)))).reshape([1]), g)];
      },
    };
  }) as unknown as CustomGradFn);
  return f(x, scale);
}

/** round with an identity gradient (straight-through), for DoReFa. */
export function roundSte(x: tf.Tensor): tf.Tensor {
  const f = tf.customGrad((xIn) => ({ value: tf.round(xIn as tf.Tensor), gradFunc: (dy) => dy }));
  return f(x);
}

/**
 * DoReFa weights (the AdaBits-style baseline: scale fixed by the bit-width, none learned):
 * w_t = tanh(W) / (2·max|tanh W|) + 1/2, Ŵ = 2·round((2^b − 1)·w_t)/(2^b − 1) − 1.
 */
export function dorefaQuantize(w: tf.Tensor, bits: number): tf.Tensor {
  checkBits(bits, 'bits', 2, 8);
  const Q = 2 ** bits - 1;
  const t = tf.tanh(w);
  const wt = tf.add(tf.div(t, tf.mul(tf.max(tf.abs(t)), 2)), 0.5);
  return tf.sub(tf.mul(tf.div(roundSte(tf.mul(wt, Q)), Q), 2), 1);
}
