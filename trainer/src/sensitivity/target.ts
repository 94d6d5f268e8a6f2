// What the Hessian estimate differentiates: one weight variable per quantized layer and the mean
// training loss of a batch as a function of them, from a trainer Network or from a model file.
import * as tf from '@tensorflow/tfjs';
import type { Model } from '@bitswitch/format';
import { networkFromModel } from '../io/import.ts';
import type { BitChoice, Network } from '../nn/network.ts';

/** One batch of normalised images (NHWC) and one-hot labels. */
export interface Batch { x: tf.Tensor4D; y: tf.Tensor2D }

/**
 * What the sensitivity estimate needs from a model: one weight variable per quantized layer
 * (graph order) and the mean training loss of a batch as a function of them.
 */
export interface SensitivityTarget {
  layers: string[];
  params: tf.Variable[];
  loss: (params: tf.Variable[], batch: Batch) => tf.Scalar;
  dispose(): void;
}

/** Rebuilds a differentiable float network from a model file (sensitivityTargetFromModel). */
export type TargetLoader = (model: Model) => SensitivityTarget;

/** Mean softmax cross-entropy from logits through logSumExp, so it can be differentiated twice. */
export function softmaxCrossEntropy(logits: tf.Tensor2D, oneHot: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.neg(tf.mean(tf.sum(tf.mul(oneHot, tf.sub(logits, tf.logSumExp(logits, 1, true))), 1)))) as tf.Scalar;
}

/**
 * The quantized layers' kernels of a trainer Network, with the eval-mode forward (moving BN
 * statistics) at full precision by default: the Hessian of the trained float model.
 */
export function targetFromNetwork(net: Network, bits: BitChoice = null): SensitivityTarget {
  const layers = net.quantized.map((n) => n.name);
  return {
    layers,
    params: layers.map((n) => net.v(`${n}/kernel`)),
    // The variables are the network's own, so the forward reads them directly.
    loss: (_params, b) => softmaxCrossEntropy(net.forward(b.x, bits, false).logits, b.y),
    dispose: () => {},
  };
}

/**
 * `bitswitch sensitivity`'s model loader (a TargetLoader): the model file's network
 * at full precision (kernels W̃_h · s_h, BN inference with the highest bit's set), one kernel
 * variable per quantized layer.
 */
export function sensitivityTargetFromModel(model: Model): SensitivityTarget {
  const net = networkFromModel(model);
  return {
    layers: net.quantized.map((q) => q.name),
    params: net.quantized.map((q) => net.v(`${q.name}/kernel`)),
    loss: (_params, batch) => tf.tidy(() => softmaxCrossEntropy(net.forward(batch.x, null, false).logits, batch.y)),
    dispose: () => net.dispose(),
  };
}
