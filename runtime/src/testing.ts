// Test and benchmark helpers: a ResNet-20-shaped Model with random quantized weights, its
// BatchNorm statistics and activation scales calibrated on random images so that every
// precision gives non-degenerate activations. Speed does not depend on the values.
import { quantizedLayers, type BatchNormLayer, type BatchNormSelect, type Layer, type Model, type SubNet } from '@bitswitch/format';
import { referenceForward } from './reference.ts';
import { seededRandom } from '@bitswitch/format';

/** The format package's seeded PRNG (mulberry32), so failures reproduce. */
export const rng = seededRandom;

/** Standard normal sample (Box-Muller). */
export function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** `count` random images in [0, 1), NHWC. */
export function randomImages(shape: number[], count: number, seed: number): Float32Array {
  const rand = rng(seed);
  const n = shape.reduce((a, b) => a * b, 1) * count;
  return Float32Array.from({ length: n }, () => rand());
}

export interface ResNetOptions {
  inputShape?: number[];
  classes?: number;
  bits?: number[];
  mode?: 'multi' | 'mixed';
  /** Residual blocks per stage (3 → ResNet-20). */
  blocks?: number;
  widths?: number[];
  /** One weight scale per output channel (true) or per tensor. */
  perChannel?: boolean;
  seed?: number;
  /** Number of random images used to calibrate BatchNorm statistics and activation scales. */
  calibrationImages?: number;
  /** Calibrate on these NHWC images instead (e.g. real, normalised test-set images). */
  calibrationData?: Float32Array;
}

/**
 * CIFAR-style ResNet (He et al. 2016): float 3×3 stem, 3 stages of basic blocks with 1×1
 * projection shortcuts where the shape changes, global average pooling, float dense head.
 * Defaults: ResNet-20 on 28×28×1, 10 classes, bits [8, 6, 4, 2].
 */
export function buildResNet(options: ResNetOptions = {}): Model {
  const {
    inputShape = [28, 28, 1], classes = 10, bits = [8, 6, 4, 2], mode = 'multi', blocks = 3,
    widths = [16, 32, 64], perChannel = true, seed = 1, calibrationImages = 4, calibrationData,
  } = options;
  const rand = rng(seed);
  const nb = bits.length;
  const layers: Layer[] = [];
  const h = Math.max(...bits);

  const conv = (name: string, input: string, cin: number, cout: number, k: number, stride: number, quantized: boolean): string => {
    const K = k * k * cin;
    const std = Math.sqrt(2 / K); // He init
    const weights = quantized
      ? quantizedWeights(cout, K, std, h, nb, perChannel, rand)
      : { kind: 'float' as const, values: Float32Array.from({ length: cout * K }, () => std * gaussian(rand)) };
    layers.push({ name, op: 'conv2d', inputs: [input], kernel: [k, k], strides: [stride, stride], padding: 'same', inChannels: cin, outChannels: cout, weights });
    return name;
  };
  const bn = (name: string, input: string, channels: number, select: BatchNormSelect): string => {
    const sets = select.kind === 'single' ? 1 : select.kind === 'per-bit' ? nb : nb * nb;
    const params = new Float32Array(sets * 4 * channels);
    for (let s = 0; s < sets; s++) {
      const p = params.subarray(s * 4 * channels);
      for (let c = 0; c < channels; c++) {
        p[c] = 1 + 0.1 * gaussian(rand);
        p[channels + c] = 0.1 * gaussian(rand);
        p[3 * channels + c] = 1;
      }
    }
    layers.push({ name, op: 'batchnorm', inputs: [input], channels, epsilon: 1e-3, select, params });
    return name;
  };
  // Per-bit BN in 'multi'; TBN keyed by the previous quantized layer in 'mixed' (per-bit when that is the float stem).
  const selectFor = (layer: string, prev: string | undefined): BatchNormSelect =>
    mode === 'mixed' && prev ? { kind: 'per-pair', prev, layer } : { kind: 'per-bit', layer };
  const relu = (name: string, input: string): string => {
    layers.push({ name, op: 'relu', inputs: [input] });
    return name;
  };

  let x = relu('stem_relu', bn('stem_bn', conv('stem', 'input', inputShape[2], widths[0], 3, 1, false), widths[0], { kind: 'single' }));
  let cin = widths[0];
  let prevQuant: string | undefined;
  widths.forEach((width, stage) => {
    for (let b = 0; b < blocks; b++) {
      const id = `s${stage + 1}b${b + 1}`;
      const stride = stage > 0 && b === 0 ? 2 : 1;
      const a = conv(`${id}_conv1`, x, cin, width, 3, stride, true);
      const ra = relu(`${id}_relu1`, bn(`${id}_bn1`, a, width, selectFor(a, prevQuant)));
      const c = conv(`${id}_conv2`, ra, width, width, 3, 1, true);
      const bc = bn(`${id}_bn2`, c, width, selectFor(c, a));
      let shortcut = x;
      if (stride !== 1 || cin !== width) {
        const s = conv(`${id}_proj`, x, cin, width, 1, stride, true);
        shortcut = bn(`${id}_proj_bn`, s, width, selectFor(s, prevQuant));
      }
      layers.push({ name: `${id}_add`, op: 'add', inputs: [bc, shortcut] });
      x = relu(`${id}_out`, `${id}_add`);
      cin = width;
      prevQuant = c;
    }
  });
  layers.push({ name: 'pool', op: 'globalavgpool', inputs: [x] });
  const K = cin;
  layers.push({
    name: 'logits', op: 'dense', inputs: ['pool'], inFeatures: K, outFeatures: classes,
    weights: { kind: 'float', values: Float32Array.from({ length: classes * K }, () => Math.sqrt(1 / K) * gaussian(rand)) },
    bias: Float32Array.from({ length: classes }, () => 0.1 * gaussian(rand)),
  });

  const model: Model = { bits: [...bits], mode, inputShape: [...inputShape], layers, metadata: { generator: 'runtime/src/testing.ts buildResNet', seed } };
  const q = quantizedLayers(model).length;
  model.subnets = [cyclicSubNet('mixed-cycle', bits, q), ...bits.slice(1).map((_, i) => stepSubNet(`mixed-${bits[i]}-${bits[i + 1]}`, bits[i], bits[i + 1], q))];
  const per = inputShape.reduce((a, b) => a * b, 1);
  if (calibrationData) calibrate(model, calibrationData, calibrationData.length / per);
  else calibrate(model, randomImages(inputShape, calibrationImages, seed + 1), calibrationImages);
  return model;
}

/** ResNet-20 (3 blocks per stage). */
export function buildResNet20(options: Omit<ResNetOptions, 'blocks'> = {}): Model {
  return buildResNet({ ...options, blocks: 3 });
}

function quantizedWeights(n: number, K: number, std: number, h: number, nb: number, perChannel: boolean, rand: () => number) {
  const hi = 2 ** (h - 1) - 1;
  // Spread W̃_h over about a third of the range, as trained weights with a learned scale do.
  const spread = hi / 3;
  const values = Int8Array.from({ length: n * K }, () => Math.max(-hi - 1, Math.min(hi, Math.trunc(spread * gaussian(rand)))));
  const scale = Float32Array.from({ length: perChannel ? n : 1 }, () => (std / spread) * (0.8 + 0.4 * rand()));
  return { kind: 'int' as const, bits: h, values, scale, actScales: new Float32Array(nb).fill(1) };
}

function cyclicSubNet(name: string, bits: number[], layers: number): SubNet {
  const list = Array.from({ length: layers }, (_, i) => bits[i % bits.length]);
  return { name, bits: list, budget: { 'avg-bits': list.reduce((a, b) => a + b, 0) / layers } };
}

/** First half of the layers at `hi`, the rest at `lo`. */
function stepSubNet(name: string, hi: number, lo: number, layers: number): SubNet {
  const list = Array.from({ length: layers }, (_, i) => (i < layers / 2 ? hi : lo));
  return { name, bits: list, budget: { 'avg-bits': list.reduce((a, b) => a + b, 0) / layers } };
}

/**
 * Sets every BatchNorm's moving statistics to the batch statistics of its input and every
 * activation scale to the 99.9th percentile of its input / (2^b − 1), one pass per bit. A float
 * dense output layer gets the bias that centres its logits, so that predictions vary by image.
 */
export function calibrate(model: Model, images: Float32Array, count: number): void {
  const nb = model.bits.length;
  model.bits.forEach((bit, bi) => {
    referenceForward(model, bit, images, count, {
      beforeQuantize(layer, x) {
        if (layer.weights.kind !== 'int') return;
        const top = percentile(x, 0.999);
        layer.weights.actScales[bi] = top > 0 ? top / (2 ** bit - 1) : 1;
      },
      beforeLayer(layer, x) {
        if (bi > 0 || layer !== model.layers[model.layers.length - 1] || layer.op !== 'dense' || layer.weights.kind !== 'float') return;
        const { inFeatures: K, outFeatures: N } = layer;
        const w = layer.weights.values;
        const bias = (layer.bias ??= new Float32Array(N));
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let i = 0; i < x.length; i++) s += w[j * K + (i % K)] * x[i];
          bias[j] = -s / count;
        }
      },
      beforeBatchNorm(layer, x, set) {
        if (layer.select.kind === 'single' && bi > 0) return;
        const sets = layer.select.kind === 'per-pair' ? Array.from({ length: nb }, (_, p) => p * nb + bi) : [set];
        setStatistics(layer, x, sets);
      },
    });
  });
}

function setStatistics(layer: BatchNormLayer, x: Float64Array, sets: number[]): void {
  const C = layer.channels;
  const count = x.length / C;
  for (let c = 0; c < C; c++) {
    let sum = 0;
    let sq = 0;
    for (let i = c; i < x.length; i += C) { sum += x[i]; sq += x[i] * x[i]; }
    const mean = sum / count;
    const variance = Math.max(sq / count - mean * mean, 1e-4);
    for (const s of sets) {
      layer.params[s * 4 * C + 2 * C + c] = mean;
      layer.params[s * 4 * C + 3 * C + c] = variance;
    }
  }
}

function percentile(x: Float64Array, q: number): number {
  const sorted = Float64Array.from(x).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}
