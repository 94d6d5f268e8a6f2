// Benchmarks for the trainer's wasm training kernels: ratios against baselines measured in the same
// process, and training images/s per backend. Run: pnpm bench:tfjs (results: bench/results/tfjs-backends.json).
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendPref } from '@bitswitch/trainer';
import { builtinWasmConv2DBackpropInput } from '@bitswitch/trainer/tfjs/backend';
import { conv2DBackpropInputViaConv2D } from '@bitswitch/trainer/tfjs/kernels/Conv2DBackpropInput';
import { batchNormTrain } from '@bitswitch/trainer/nn/batch-norm';
import { Report } from './report.ts';

const report = new Report('tfjs-backends');

const REPS = Number(process.env.BENCH_REPS ?? 5);

/** Median milliseconds of `reps` runs after one warm-up. */
function medianMs(f: () => tf.Tensor | tf.Tensor[], reps = REPS): number {
  const run = () => { const out = f(); for (const t of [out].flat()) t.dataSync(); tf.dispose(out); };
  run();
  const ms: number[] = [];
  for (let i = 0; i < reps; i++) { const t0 = performance.now(); run(); ms.push(performance.now() - t0); }
  return ms.sort((a, b) => a - b)[Math.floor(reps / 2)]!;
}

function useBackpropInput(kernel: tf.KernelConfig): void {
  tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
  tf.registerKernel(kernel);
}

function benchBackpropInput(): void {
  const builtin = builtinWasmConv2DBackpropInput()!;
  const ours: tf.KernelConfig = { kernelName: 'Conv2DBackpropInput', backendName: 'wasm', kernelFunc: conv2DBackpropInputViaConv2D('wasm') };
  report.log('Conv2DBackpropInput on wasm, batch 64 (median ms: builtin → via Conv2D, speed-up)');
  for (const [H, C, s] of [[16, 32, 1], [16, 32, 2], [28, 16, 1], [8, 64, 1]] as const) {
    const x = tf.zeros([64, H, H, C]) as tf.Tensor4D;
    const w = tf.randomNormal([3, 3, C, C], 0, 1, 'float32', 1) as tf.Tensor4D;
    const dy = tf.randomNormal(tf.conv2d(x, w, s, 'same').shape, 0, 1, 'float32', 2) as tf.Tensor4D;
    const f = () => tf.conv2dTranspose(dy, w, x.shape, s, 'same');
    useBackpropInput(builtin);
    const before = medianMs(f);
    useBackpropInput(ours);
    const after = medianMs(f);
    report.log(`  ${H}x${H}x${C} 3x3 s${s}: ${before.toFixed(1)} → ${after.toFixed(1)} ms  (${(before / after).toFixed(2)}x)`);
    tf.dispose([x, w, dy]);
  }
}

type Norm = (x: tf.Tensor4D, g: tf.Tensor1D, b: tf.Tensor1D) => tf.Tensor4D;

const fusedNorm: Norm = (x, g, b) => {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.batchNorm(x, mean, variance, b, g, 1e-3) as tf.Tensor4D;
};
const closedFormNorm: Norm = (x, g, b) => batchNormTrain(x, g, b, 1e-3).y;
// The plain formula with broadcasting ops, differentiated by autodiff (through tf.moments).
const formulaNorm: Norm = (x, g, b) => {
  const { mean, variance } = tf.moments(x, [0, 1, 2]);
  return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-3))), g), b) as tf.Tensor4D;
};

/** One SGD step of a ResNet basic block: conv-BN-ReLU-conv-BN + skip, ReLU, squared loss. */
function blockStep(norm: Norm, x: tf.Tensor4D, vars: tf.Variable[]): tf.Tensor {
  const [w1, g1, b1, w2, g2, b2] = vars as [tf.Variable<tf.Rank.R4>, tf.Variable<tf.Rank.R1>, tf.Variable<tf.Rank.R1>, tf.Variable<tf.Rank.R4>, tf.Variable<tf.Rank.R1>, tf.Variable<tf.Rank.R1>];
  return tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => {
      const h = tf.relu(norm(tf.conv2d(x, w1, 1, 'same'), g1, b1));
      const y = tf.relu(tf.add(norm(tf.conv2d(h, w2, 1, 'same'), g2, b2), x));
      return tf.mean(tf.square(y));
    }, vars);
    for (const v of vars) v.assign(tf.sub(v, tf.mul(grads[v.name]!, 1e-3)));
    return value;
  });
}

function blockSetup(batch: number): { x: tf.Tensor4D; vars: tf.Variable[] } {
  const C = 32, H = 16;
  const x = tf.randomNormal([batch, H, H, C], 0, 1, 'float32', 3) as tf.Tensor4D;
  const vars = [
    tf.variable(tf.randomNormal([3, 3, C, C], 0, 0.1, 'float32', 4)), tf.variable(tf.ones([C])), tf.variable(tf.zeros([C])),
    tf.variable(tf.randomNormal([3, 3, C, C], 0, 0.1, 'float32', 5)), tf.variable(tf.ones([C])), tf.variable(tf.zeros([C])),
  ];
  return { x, vars };
}

function benchBlock(batch: number): void {
  const { x, vars } = blockSetup(batch);
  const fused = medianMs(() => blockStep(fusedNorm, x, vars));
  const formula = medianMs(() => blockStep(formulaNorm, x, vars));
  const ours = medianMs(() => blockStep(closedFormNorm, x, vars));
  const r = (ms: number) => `${ms.toFixed(1)} ms (${(ms / ours).toFixed(2)}x)`;
  report.log(`  batch ${batch}, 16x16x32: tf.batchNorm ${r(fused)}, formula+autodiff ${r(formula)}, batchNormTrain ${ours.toFixed(1)} ms`);
  // Same step with the wasm backend's own Conv2DBackpropInput: what the kernel swap gains per step.
  const current = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
  useBackpropInput(builtinWasmConv2DBackpropInput()!);
  const builtin = medianMs(() => blockStep(closedFormNorm, x, vars));
  useBackpropInput(current);
  report.log(`    with the builtin Conv2DBackpropInput: ${r(builtin)}; tf.batchNorm + builtin (before both): ${r(medianMs(() => { useBackpropInput(builtinWasmConv2DBackpropInput()!); try { return blockStep(fusedNorm, x, vars); } finally { useBackpropInput(current); } }))}`);
  tf.dispose([x, ...vars]);
}

/** Training images/s of the block on every backend that loads here (WebGPU against wasm). */
async function benchBackends(prefs: BackendPref[], batch: number): Promise<void> {
  report.log(`ResNet block training step, batch ${batch}, images/s per backend`);
  for (const pref of prefs) {
    try {
      const { name } = await initBackend(pref);
      const { x, vars } = blockSetup(batch);
      const ms = medianMs(() => blockStep(closedFormNorm, x, vars));
      report.log(`  ${name}: ${(batch / ms * 1000).toFixed(0)} images/s (${ms.toFixed(1)} ms/step)`);
      tf.dispose([x, ...vars]);
    } catch (e) {
      report.log(`  ${pref}: not measured: ${(e as Error).message}`);
    }
  }
}

const choice = await initBackend('wasm');
report.log(`backend ${choice.name}, median of ${REPS}`);
benchBackpropInput();
report.log('ResNet basic block training step on wasm (conv-BN-ReLU-conv-BN-add-ReLU, SGD)');
benchBlock(64);
benchBlock(128);
await benchBackends(['webgpu', 'tensorflow-gpu', 'wasm'], 64);
report.save();
