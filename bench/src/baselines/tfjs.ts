// The folded network on @tensorflow/tfjs-backend-wasm in its fastest form: tf.fused.conv2d with
// bias and ReLU (XNNPACK), add (+ ReLU) for the shortcut, mean over H and W, fused matMul + bias.
import * as tf from '@tensorflow/tfjs';
import { getThreadsCount, setThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import type { Engine, FoldedNetwork } from './network.ts';

/** Starts the wasm backend with `threads` threads (only before its first use in the process). */
export async function startTfjsWasm(threads: number): Promise<string> {
  // Before getBackend: in a browser it initializes the best backend, which may be wasm itself.
  setThreadsCount(threads);
  if (tf.getBackend() !== 'wasm') {
    await tf.setBackend('wasm');
    await tf.ready();
  }
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const mt = await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT');
  // Without the multithreaded build (Node; a page that is not cross-origin isolated) it runs on one thread whatever was asked.
  return `tfjs ${tf.version_core} wasm, simd ${simd}, multithread ${mt}, threads ${mt ? getThreadsCount() : 1}`;
}

export function tfjsEngine(net: FoldedNetwork): Engine {
  const consts = new Map<string, { w: tf.Tensor; b: tf.Tensor1D }>();
  for (const n of net.nodes) {
    if (n.op === 'conv') {
      // OHWI → HWIO
      const w = tf.tidy(() => tf.transpose(tf.tensor4d(n.weights, [n.cout, n.k, n.k, n.cin]), [1, 2, 3, 0]));
      consts.set(n.name, { w, b: tf.tensor1d(n.bias) });
    } else if (n.op === 'dense') {
      consts.set(n.name, { w: tf.tidy(() => tf.transpose(tf.tensor2d(n.weights, [n.cout, n.cin]))), b: tf.tensor1d(n.bias) });
    }
  }
  const [H, W, C] = net.inputShape;
  const forward = (x: tf.Tensor4D) => tf.tidy(() => {
    const v = new Map<string, tf.Tensor>([['input', x]]);
    for (const n of net.nodes) {
      let y: tf.Tensor;
      if (n.op === 'conv') {
        const { w, b } = consts.get(n.name)!;
        // Explicit pads reproduce TF "same" for every stride (tfjs's 'same' does too; explicit keeps them identical to the ONNX/TFLite models).
        const pad: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [n.pads[0], n.pads[2]], [n.pads[1], n.pads[3]], [0, 0]];
        y = tf.fused.conv2d({ x: v.get(n.input) as tf.Tensor4D, filter: w as tf.Tensor4D, bias: b, strides: n.stride, pad, activation: n.relu ? 'relu' : 'linear' });
      } else if (n.op === 'add') {
        y = tf.add(v.get(n.inputs[0])!, v.get(n.inputs[1])!);
        if (n.relu) y = tf.relu(y);
      } else if (n.op === 'globalavgpool') {
        y = tf.mean(v.get(n.input)!, [1, 2]);
      } else {
        const { w, b } = consts.get(n.name)!;
        y = tf.fused.matMul({ a: v.get(n.input) as tf.Tensor2D, b: w as tf.Tensor2D, bias: b });
      }
      v.set(n.name, y);
    }
    return v.get(net.output)!;
  });
  return {
    name: 'tfjs-wasm f32 fused',
    info: 'BN folded, fused conv2d+bias+ReLU',
    run(images, batch) {
      const x = tf.tensor4d(images, [batch, H, W, C]);
      const y = forward(x);
      const out = y.dataSync() as Float32Array;
      x.dispose();
      y.dispose();
      return out;
    },
    dispose() { for (const { w, b } of consts.values()) { w.dispose(); b.dispose(); } },
  };
}
