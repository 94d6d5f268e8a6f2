// Deterministic sample models for tests, fuzzing and the golden file. Not for production use.
import type { BatchNormLayer, Layer, Model, Weights } from './model.ts';
import { quantizeWeights } from './quant.ts';

/** mulberry32: a small seeded PRNG, returns floats in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function floats(rand: () => number, n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = lo + (hi - lo) * rand();
  return out;
}

function intWeights(rand: () => number, n: number, k: number, bits: number[], perChannel: boolean): Weights {
  const w = floats(rand, n * k, -0.5, 0.5);
  const scale = perChannel ? floats(rand, n, 0.002, 0.006) : Float32Array.of(0.004);
  return {
    kind: 'int', bits: 8, values: quantizeWeights(w, scale, 8, n), scale,
    actScales: Float32Array.from(bits, (b) => 4 / (2 ** b - 1)),
  };
}

function bn(rand: () => number, name: string, input: string, channels: number, select: BatchNormLayer['select'], sets: number): BatchNormLayer {
  const params = new Float32Array(sets * 4 * channels);
  for (let s = 0; s < sets; s++) {
    for (let c = 0; c < channels; c++) {
      params[(s * 4 + 0) * channels + c] = 0.5 + rand();
      params[(s * 4 + 1) * channels + c] = rand() - 0.5;
      params[(s * 4 + 2) * channels + c] = rand() - 0.5;
      params[(s * 4 + 3) * channels + c] = 0.5 + rand();
    }
  }
  return { name, op: 'batchnorm', inputs: [input], channels, epsilon: 1e-3, select, params };
}

/**
 * A tiny mixed-precision model exercising every op and every optional section:
 * float conv → BN → ReLU → int conv (per-channel) → per-bit BN → ReLU → int conv s2 → TBN, plus an
 * int 1×1 shortcut, add, ReLU, avgpool, flatten, int dense, ReLU, float dense.
 */
export function tinyModel(seed = 1): Model {
  const rand = seededRandom(seed);
  const bits = [8, 6, 4, 2];
  const layers: Layer[] = [
    { name: 'conv0', op: 'conv2d', inputs: ['input'], kernel: [3, 3], strides: [1, 1], padding: 'same', inChannels: 1, outChannels: 4,
      weights: { kind: 'float', values: floats(rand, 4 * 9, -0.5, 0.5) }, bias: floats(rand, 4, -0.1, 0.1) },
    bn(rand, 'bn0', 'conv0', 4, { kind: 'single' }, 1),
    { name: 'relu0', op: 'relu', inputs: ['bn0'] },
    { name: 'conv1', op: 'conv2d', inputs: ['relu0'], kernel: [3, 3], strides: [1, 1], padding: 'same', inChannels: 4, outChannels: 4,
      weights: intWeights(rand, 4, 36, bits, true) },
    bn(rand, 'bn1', 'conv1', 4, { kind: 'per-bit', layer: 'conv1' }, 4),
    { name: 'relu1', op: 'relu', inputs: ['bn1'] },
    { name: 'conv2', op: 'conv2d', inputs: ['relu1'], kernel: [3, 3], strides: [2, 2], padding: 'same', inChannels: 4, outChannels: 8,
      weights: intWeights(rand, 8, 36, bits, false) },
    bn(rand, 'bn2', 'conv2', 8, { kind: 'per-pair', prev: 'conv1', layer: 'conv2' }, 16),
    { name: 'short', op: 'conv2d', inputs: ['relu1'], kernel: [1, 1], strides: [2, 2], padding: 'valid', inChannels: 4, outChannels: 8,
      weights: intWeights(rand, 8, 4, bits, true) },
    { name: 'add', op: 'add', inputs: ['bn2', 'short'] },
    { name: 'relu2', op: 'relu', inputs: ['add'] },
    { name: 'pool', op: 'avgpool', inputs: ['relu2'], pool: [2, 2], strides: [2, 2], padding: 'valid' },
    { name: 'flat', op: 'flatten', inputs: ['pool'] },
    { name: 'fc1', op: 'dense', inputs: ['flat'], inFeatures: 32, outFeatures: 16, weights: intWeights(rand, 16, 32, bits, false), bias: floats(rand, 16, -0.1, 0.1) },
    { name: 'relu3', op: 'relu', inputs: ['fc1'] },
    { name: 'fc2', op: 'dense', inputs: ['relu3'], inFeatures: 16, outFeatures: 10,
      weights: { kind: 'float', values: floats(rand, 160, -0.5, 0.5) }, bias: floats(rand, 10, -0.1, 0.1) },
  ];
  return {
    bits, mode: 'mixed', inputShape: [8, 8, 1], layers,
    sensitivity: ['conv1', 'conv2', 'short', 'fc1'].map((layer, i) => ({ layer, hessianTrace: 0.5 + i, params: [144, 288, 32, 512][i], macs: [9216, 4608, 512, 512][i] })),
    subnets: [{ name: 'avg4', bits: [8, 4, 2, 2], budget: { 'avg-bits': 4 }, accuracy: 0.5 }],
    metadata: { dataset: 'none (random weights)', note: 'golden test model' },
  };
}

/**
 * tinyModel with the format 1.1 SENS fields (standard error and probe count) on all but the last
 * sensitivity entry, whose trace is negative: an estimate within noise of zero, as Hutchinson gives.
 */
export function tinyModelV11(seed = 1): Model {
  const m = tinyModel(seed);
  m.sensitivity = m.sensitivity!.map((s, i) => (i < 3
    ? { ...s, hessianTraceStdErr: 0.125 * (i + 1), probes: 40 + i }
    : { ...s, hessianTrace: -0.75 }));
  return m;
}

/**
 * tinyModelV11 with the format 1.2 INPT section: 8-bit pixels 0..255 normalised with MNIST's mean and
 * std, and ten labels (the model has ten outputs).
 */
export function tinyModelV12(seed = 1): Model {
  const m = tinyModelV11(seed);
  m.input = {
    layout: 'NHWC', height: 8, width: 8, channels: 1, dtype: 'uint8', range: [0, 255], mean: [0.1307], std: [0.3081],
    dataset: 'none (random weights)', labels: ['zero', 'one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine'],
  };
  return m;
}

/**
 * tinyModelV12 with format 1.3 BatchNorm statistics on its SubNet: for bn2 (a TBN layer) and bn1
 * (per bit), means then variances.
 */
export function tinyModelV13(seed = 1): Model {
  const m = tinyModelV12(seed);
  const rand = seededRandom(seed + 100);
  const stats = (c: number) => Float32Array.from({ length: 2 * c }, (_, i) => Math.fround(i < c ? rand() - 0.5 : 0.5 + rand()));
  m.subnets = [{ ...m.subnets![0]!, bn: { bn2: stats(8), bn1: stats(4) } }, { name: 'all2', bits: [2, 2, 2, 2], budget: { 'avg-bits': 2 } }];
  return m;
}

/**
 * eq. 4 decided without dividing: the code of x / s by exact comparisons, for test oracles.
 * n·s and (2n+1)·s are exact in float64 (n < 2^10, s a float32), and a float64 subtraction never
 * changes the sign of a difference, so the .5-tie test 2x vs (2n+1)·s is exact.
 * exactActivationCode(f32(0.35), f32(0.1), 8) = 3 (the quotient 3.4999999… is below the tie).
 */
export function exactActivationCode(x: number, s: number, bits: number): number {
  const hi = 2 ** bits - 1;
  if (!(x > 0)) return 0;
  if (x >= (hi + 1) * s) return hi;
  let n = Math.floor(x / s);
  while (n > 0 && n * s > x) n--;
  while ((n + 1) * s <= x) n++;
  const d = 2 * x - (2 * n + 1) * s;
  const q = d < 0 ? n : d > 0 ? n + 1 : n % 2 === 0 ? n : n + 1;
  return Math.min(q, hi);
}

/** The float32 `steps` below and above v (v itself excluded), nearest first. */
function f32Neighbours(v: number, steps: number): number[] {
  const f = new Float32Array(1);
  const i = new Int32Array(f.buffer);
  f[0] = v;
  const base = i[0];
  const out: number[] = [];
  for (let d = 1; d <= steps; d++) {
    for (const sign of [-1, 1]) {
      i[0] = base + sign * d; // positive floats: adjacent bit patterns are adjacent values
      out.push(f[0]);
    }
  }
  return out;
}

/**
 * eq. 4 inputs next to .5 ties: for each scale s and bit-width b, every x = f32((k + 0.5)·s) for
 * codes k in 0..2^b − 1 and its float32 neighbours (±1..3 ulps), plus x = f32(0.35), s = f32(0.1)
 * and a few negatives. Many of these make round(f32(x / s)) differ from round(x / s).
 */
export function tieAdjacentActivations(seed = 4): { x: Float32Array; scale: number; bits: number }[] {
  const rand = seededRandom(seed);
  const f32 = Math.fround;
  const scales = [f32(0.1), f32(0.05), f32(0.3), f32(1 / 3), ...Array.from({ length: 4 }, () => f32(0.001 + rand()))];
  const out: { x: Float32Array; scale: number; bits: number }[] = [];
  for (const bits of [8, 4, 2]) {
    for (const s of scales) {
      const xs: number[] = [f32(0.35), -s, f32(-0.5 * s)];
      for (let k = 0; k < 2 ** bits; k++) {
        const t = f32((k + 0.5) * s);
        xs.push(t, ...f32Neighbours(t, 3));
      }
      out.push({ x: Float32Array.from(xs), scale: s, bits });
    }
  }
  return out;
}
