// Fused training kernels for the wasm backend, run by @bitswitch/kernels' training module on
// tfjs's own heap: the fake quantizer (forward and STE gradient) and BatchNorm (training forward,
// closed-form gradient, inference), each one to three SIMD passes instead of 5–10 separate
// element-wise kernels with a tensor allocated per step; Adam (one pass per variable) and the
// ReLU gradient; and the Conv2D gradients tfjs computes slowly (the filter gradient; the input
// gradient of strided convolutions).
// The quantizer and BatchNorm math is the composite version's (quantizers.ts, batch-norm.ts):
// forward values are bit-identical (float32 rounding after every operation, round half to
// even); sums over a tensor accumulate in float64, so gradients and BN statistics can differ
// from the composite float32 sums in the last bits.
import * as tf from '@tensorflow/tfjs';
import { createTrainingKernels, type TrainingKernels } from '@bitswitch/kernels';
import type { Conv2DBackpropFilterAttrs } from './Conv2DBackpropFilter.ts';
import type { Conv2DBackpropInputAttrs } from './Conv2DBackpropInput.ts';
import { callKernel, release } from './call.ts';

/** The part of tfjs-backend-wasm's BackendWasm these kernels use. */
interface WasmBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  /** A float32 view of a tensor's data on the heap (made anew: the heap can grow). */
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array;
  dataIdMap: { get(dataId: tf.DataId): { memoryOffset: number } | undefined };
  disposeData(dataId: tf.DataId): boolean;
  wasm: { asm?: { memory?: WebAssembly.Memory }; _malloc(bytes: number): number; _free(ptr: number): void };
}

export const FAKE_QUANT = 'BitswitchFakeQuant';
export const FAKE_QUANT_GRAD = 'BitswitchFakeQuantGrad';
export const BN_TRAIN = 'BitswitchBatchNormTrain';
export const BN_TRAIN_GRAD = 'BitswitchBatchNormTrainGrad';
export const BN_INFER = 'BitswitchBatchNormInfer';
export const ADAM = 'BitswitchAdam';
export const RELU_GRAD = 'BitswitchReluGrad';

/**
 * One Adam step's constants, each a float32 as the composite ops round them: nb1 = 1 − β1 and
 * nb2 = 1 − β2 and the bias corrections c1, c2 computed in float64 first.
 */
export interface AdamAttrs { wd: number; b1: number; nb1: number; b2: number; nb2: number; c1: number; c2: number; eps: number; lr: number }

/**
 * Fake quantizer with one scale per tensor (s of shape [1]) or per last-axis channel ([C]):
 * W̃_h = clip(rte(x/s), hn, hp); W̃_l = clip(rte(W̃_h/step) or floor, n, p); value W̃_l·(s·step).
 * The unsigned activation quantizer is the case hn = n = 0, hp = p = Q, step = 1.
 */
export interface FakeQuantAttrs { hn: number; hp: number; n: number; p: number; step: number; floor: boolean }
/** ds = g·step·Σ dy·(W̃_l − v·inside), dx = dy·inside, v = x/(s·step), inside = n < v < p. */
export interface FakeQuantGradAttrs extends FakeQuantAttrs { g: number }

const f32 = Math.fround;
const instances = new WeakMap<object, TrainingKernels | null>();

/** The training kernels on this backend's memory (null where they cannot run). */
function kernelsOf(be: WasmBackend): TrainingKernels | null {
  let k = instances.get(be);
  if (k === undefined) {
    const memory = be.wasm.asm?.memory;
    try {
      // The threaded build's memory is shared, which the kernels' import does not accept.
      k = memory instanceof WebAssembly.Memory ? createTrainingKernels(memory) ?? null : null;
    } catch {
      k = null;
    }
    instances.set(be, k);
  }
  return k;
}

function need(be: WasmBackend): TrainingKernels {
  const k = kernelsOf(be);
  if (!k) throw new Error('fused training kernels: this wasm backend has no plain WebAssembly.Memory or the engine lacks SIMD');
  return k;
}

const ptr = (be: WasmBackend, t: tf.TensorInfo): number => be.dataIdMap.get(t.dataId)!.memoryOffset;

/** `bytes` of the backend's heap for the duration of `use`, freed after (also on a throw). */
function withHeap<T>(be: WasmBackend, bytes: number, use: (at: number) => T): T {
  const at = be.wasm._malloc(bytes);
  try {
    return use(at);
  } finally {
    be.wasm._free(at);
  }
}

/** `doubles` zeroed f64 accumulators on the backend's heap; `view` makes a view anew (the heap can grow). */
function withSums<T>(be: WasmBackend, doubles: number, use: (at: number, view: () => Float64Array) => T): T {
  return withHeap(be, doubles * 8, (at) => {
    const view = () => new Float64Array(be.wasm.asm!.memory!.buffer, at, doubles);
    view().fill(0);
    return use(at, view);
  });
}

/** Channels-last data as rows × C. */
function channelsLast(x: tf.TensorInfo): { rows: number; C: number } {
  const C = x.shape[x.shape.length - 1]!;
  return { rows: tf.util.sizeFromShape(x.shape) / C, C };
}

function scaleLayout(x: tf.TensorInfo, s: tf.TensorInfo, kernel: string): { rows: number; width: number; perColumn: boolean } {
  const size = tf.util.sizeFromShape(x.shape);
  const last = x.shape[x.shape.length - 1] ?? 1;
  const C = tf.util.sizeFromShape(s.shape);
  if (C === 1) return { rows: size, width: 1, perColumn: false };
  if (s.shape.length !== 1 || C !== last) throw new RangeError(`${kernel}: scale must have shape [1] or [${last}], got [${s.shape}]`);
  return { rows: size / last, width: last, perColumn: true };
}

type KernelArgs = { inputs: tf.NamedTensorInfoMap; backend: unknown; attrs?: tf.NamedAttrMap };

function fakeQuant({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo {
  const be = backend as WasmBackend;
  const k = need(be);
  const a = attrs as unknown as FakeQuantAttrs;
  const { x, s } = inputs as { x: tf.TensorInfo; s: tf.TensorInfo };
  const { rows, width, perColumn } = scaleLayout(x, s, FAKE_QUANT);
  const out = be.makeOutput(x.shape, 'float32');
  k.fakeQuant(ptr(be, x), ptr(be, out), rows, width, ptr(be, s), perColumn, a.hn, a.hp, a.n, a.p, a.step, a.floor);
  return out;
}

function fakeQuantGrad({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const be = backend as WasmBackend;
  const k = need(be);
  const a = attrs as unknown as FakeQuantGradAttrs;
  const { dy, x, s } = inputs as { dy: tf.TensorInfo; x: tf.TensorInfo; s: tf.TensorInfo };
  const { rows, width, perColumn } = scaleLayout(x, s, FAKE_QUANT_GRAD);
  const dx = be.makeOutput(x.shape, 'float32');
  const ds = be.makeOutput(s.shape, 'float32');
  const C = perColumn ? width : 1;
  withSums(be, C, (acc, view) => {
    k.fakeQuantGrad(ptr(be, dy), ptr(be, x), ptr(be, dx), rows, width, ptr(be, s), perColumn, a.hn, a.hp, a.n, a.p, a.step, a.floor, acc);
    const sums = view();
    const out = be.typedArrayFromHeap(ds);
    const factor = f32(a.step * a.g);
    for (let c = 0; c < C; c++) out[c] = f32(sums[c]!) * factor;
  });
  return [dx, ds];
}

/** Training BN over N,H,W of channels-last x: outputs y, batch mean, biased variance, 1/√(var + ε). */
function batchNormTrainKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const be = backend as WasmBackend;
  const k = need(be);
  const { epsilon } = attrs as unknown as { epsilon: number };
  const { x, gamma, beta } = inputs as { x: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo };
  const { rows, C } = channelsLast(x);
  const y = be.makeOutput(x.shape, 'float32');
  const mean = be.makeOutput([C], 'float32');
  const variance = be.makeOutput([C], 'float32');
  const rstd = be.makeOutput([C], 'float32');
  withSums(be, C, (sum, view) => {
    k.channelSums(ptr(be, x), rows, C, sum);
    const M = be.typedArrayFromHeap(mean);
    const s = view();
    for (let c = 0; c < C; c++) M[c] = s[c]! / rows;
    s.fill(0);
    k.channelSquares(ptr(be, x), rows, C, ptr(be, mean), sum);
    const sq = view();
    const V = be.typedArrayFromHeap(variance);
    const R = be.typedArrayFromHeap(rstd);
    for (let c = 0; c < C; c++) { V[c] = sq[c]! / rows; R[c] = 1 / Math.sqrt(f32(V[c]! + epsilon)); }
  });
  k.normalize(ptr(be, x), ptr(be, y), rows, C, ptr(be, mean), ptr(be, rstd), ptr(be, gamma), ptr(be, beta));
  return [y, mean, variance, rstd];
}

/** Inference BN with the moving statistics: y = ((x − mean)·rstd)·γ + β, the composite ops' order. */
function batchNormInferKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const be = backend as WasmBackend;
  const k = need(be);
  const { x, mean, rstd, gamma, beta } = inputs as Record<'x' | 'mean' | 'rstd' | 'gamma' | 'beta', tf.TensorInfo>;
  const { rows, C } = channelsLast(x);
  const y = be.makeOutput(x.shape, 'float32');
  k.normalize(ptr(be, x), ptr(be, y), rows, C, ptr(be, mean), ptr(be, rstd), ptr(be, gamma), ptr(be, beta));
  return y;
}

/**
 * Closed-form BN gradient (batch-norm.ts), x̂ recomputed from x, mean and rstd:
 * dβ = Σ dy, dγ = Σ dy·x̂, dx = ((m·dy − dβ) − x̂·dγ)·(γ·rstd/m).
 */
function batchNormTrainGradKernel({ inputs, backend }: KernelArgs): tf.TensorInfo[] {
  const be = backend as WasmBackend;
  const k = need(be);
  const { dy, x, mean, rstd, gamma } = inputs as Record<'dy' | 'x' | 'mean' | 'rstd' | 'gamma', tf.TensorInfo>;
  const { rows, C } = channelsLast(x);
  const dx = be.makeOutput(x.shape, 'float32');
  const dgamma = be.makeOutput([C], 'float32');
  const dbeta = be.makeOutput([C], 'float32');
  const factor = be.makeOutput([C], 'float32');
  withSums(be, 2 * C, (sums, view) => {
    k.normalizeGradSums(ptr(be, dy), ptr(be, x), rows, C, ptr(be, mean), ptr(be, rstd), sums, sums + 8 * C);
    const s = view();
    const DB = be.typedArrayFromHeap(dbeta);
    const DG = be.typedArrayFromHeap(dgamma);
    const K = be.typedArrayFromHeap(factor);
    const G = be.typedArrayFromHeap(gamma);
    const R = be.typedArrayFromHeap(rstd);
    for (let c = 0; c < C; c++) { DB[c] = s[c]!; DG[c] = s[C + c]!; K[c] = f32(G[c]! * R[c]!) / rows; }
  });
  k.normalizeGrad(ptr(be, dy), ptr(be, x), ptr(be, dx), rows, C, ptr(be, mean), ptr(be, rstd), ptr(be, dbeta), ptr(be, dgamma), ptr(be, factor), rows);
  be.disposeData(factor.dataId);
  return [dx, dgamma, dbeta];
}

/** Adam on p, g, m, v (same shape): outputs p', m', v' (math/adam.ts, the same bits as its composite ops). */
function adamKernel({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo[] {
  const be = backend as WasmBackend;
  const k = need(be);
  const a = attrs as unknown as AdamAttrs;
  const { p, g, m, v } = inputs as Record<'p' | 'g' | 'm' | 'v', tf.TensorInfo>;
  const n = tf.util.sizeFromShape(p.shape);
  for (const t of [g, m, v]) if (tf.util.sizeFromShape(t.shape) !== n) throw new RangeError(`${ADAM}: p, g, m and v must have the same size, got [${p.shape}], [${g.shape}], [${m.shape}], [${v.shape}]`);
  const out = [be.makeOutput(p.shape, 'float32'), be.makeOutput(p.shape, 'float32'), be.makeOutput(p.shape, 'float32')];
  k.adam(ptr(be, p), ptr(be, g), ptr(be, m), ptr(be, v), ptr(be, out[0]!), ptr(be, out[1]!), ptr(be, out[2]!), n,
    a.wd, a.b1, a.nb1, a.b2, a.nb2, a.c1, a.c2, a.eps, a.lr);
  return out;
}

/** dx = dy·step(x): the ReLU gradient in one pass. */
function reluGradKernel({ inputs, backend }: KernelArgs): tf.TensorInfo {
  const be = backend as WasmBackend;
  const k = need(be);
  const { dy, x } = inputs as Record<'dy' | 'x', tf.TensorInfo>;
  const n = tf.util.sizeFromShape(x.shape);
  if (tf.util.sizeFromShape(dy.shape) !== n) throw new RangeError(`${RELU_GRAD}: dy and x must have the same size, got [${dy.shape}] and [${x.shape}]`);
  const dx = be.makeOutput(x.shape, 'float32');
  k.reluGrad(ptr(be, dy), ptr(be, x), ptr(be, dx), n);
  return dx;
}

/**
 * Conv2DBackpropFilter as one direct SIMD pass over x and dy (no transposes), or null where it
 * does not apply (NCHW, or no training kernels): the caller then takes the Conv2D-based kernel.
 */
export function fusedConv2DBackpropFilter({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const be = backend as WasmBackend;
  const k = kernelsOf(be);
  const { strides, pad, dataFormat, dimRoundingMode, filterShape } = attrs as unknown as Conv2DBackpropFilterAttrs;
  if (!k || dataFormat !== 'NHWC') return null;
  const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const info = tf.backend_util.computeConv2DInfo(x.shape as [number, number, number, number], filterShape, strides, 1, pad, dimRoundingMode);
  const [B, H, W, Cin] = x.shape as number[];
  const [, Ho, Wo, Cout] = dy.shape as number[];
  const dw = be.makeOutput(filterShape, 'float32');
  withHeap(be, k.convGradScratchBytes(), (scratch) => k.convFilterGrad(ptr(be, x), ptr(be, dy), ptr(be, dw), B!, H!, W!, Cin!, Ho!, Wo!, Cout!,
    info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, scratch));
  return dw;
}

/**
 * Conv2DBackpropInput of a strided convolution as one direct SIMD pass that visits only the taps
 * each input pixel has, or null where it does not apply (stride 1, where XNNPACK's Conv2D on the
 * flipped filter is as fast; NCHW; no training kernels).
 */
export function fusedConv2DBackpropInput({ inputs, backend, attrs }: KernelArgs): tf.TensorInfo | null {
  const be = backend as WasmBackend;
  const k = kernelsOf(be);
  const { strides, pad, dataFormat, dimRoundingMode, inputShape } = attrs as unknown as Conv2DBackpropInputAttrs;
  if (!k || dataFormat !== 'NHWC') return null;
  const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const info = tf.backend_util.computeConv2DInfo(inputShape, filter.shape as [number, number, number, number], strides, 1, pad, dimRoundingMode);
  if (info.strideHeight === 1 && info.strideWidth === 1) return null;
  const [B, H, W, Cin] = inputShape;
  const [, Ho, Wo, Cout] = dy.shape as number[];
  const wt = callKernel('Transpose', 'wasm', backend as tf.KernelBackend, { x: filter }, { perm: [0, 1, 3, 2] });
  const dx = be.makeOutput(inputShape, 'float32');
  try {
    withHeap(be, k.convGradScratchBytes(), (scratch) => k.convInputGrad(ptr(be, dy), ptr(be, wt), ptr(be, dx), B, H, W, Cin, Ho!, Wo!, Cout!,
      info.filterHeight, info.filterWidth, info.strideHeight, info.strideWidth, info.padInfo.top, info.padInfo.left, scratch));
  } finally {
    release(backend as tf.KernelBackend, wt);
  }
  return dx;
}

/** An environment variable, read at each call (tests switch paths at run time); undefined in browsers. */
export function envSetting(name: string): string | undefined {
  return typeof process === 'undefined' ? undefined : process.env?.[name];
}

let registered = false;

/** Registers the fused kernels on the wasm backend (once). */
export function registerFusedKernels(): void {
  if (registered) return;
  registered = true;
  tf.registerKernel({ kernelName: FAKE_QUANT, backendName: 'wasm', kernelFunc: fakeQuant as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: FAKE_QUANT_GRAD, backendName: 'wasm', kernelFunc: fakeQuantGrad as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: BN_TRAIN, backendName: 'wasm', kernelFunc: batchNormTrainKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: BN_TRAIN_GRAD, backendName: 'wasm', kernelFunc: batchNormTrainGradKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: BN_INFER, backendName: 'wasm', kernelFunc: batchNormInferKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: ADAM, backendName: 'wasm', kernelFunc: adamKernel as unknown as tf.KernelFunc });
  tf.registerKernel({ kernelName: RELU_GRAD, backendName: 'wasm', kernelFunc: reluGradKernel as unknown as tf.KernelFunc });
}

/**
 * Whether training steps use the fused kernels: on the wasm backend with a plain memory and
 * SIMD, unless BITSWITCH_FUSED=off (the composite ops, for comparison).
 */
export function fusedKernelsActive(): boolean {
  if (!registered || envSetting('BITSWITCH_FUSED') === 'off' || tf.getBackend() !== 'wasm') return false;
  return kernelsOf(tf.backend() as unknown as WasmBackend) !== null;
}
