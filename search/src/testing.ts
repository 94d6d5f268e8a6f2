// Synthetic in-memory models for the search tests and the sweep benchmark (random weights,
// random Hessian traces; shapes are real, values are not trained).
import { quantizeWeights, type Layer, type LayerSensitivity, type Model } from '@bitswitch/format';

/** Deterministic uniform [0, 1) generator (LCG), so fixtures are the same every run. */
export function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296);
}

export interface ConvSpec {
  name: string; cin: number; cout: number; k: number; stride: number; outHW: number;
  /** A 1×1 projection shortcut of this conv's block: it reads that conv's input and is added to the chain. */
  shortcutOf?: string;
}

/** Model with a float first conv, the given quantized convs in a chain, and a float dense head. */
export function syntheticModel(convs: ConvSpec[], bits: number[], seed = 1, inputHW = 32): Model {
  const rand = lcg(seed);
  const h = Math.max(...bits);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const layers: Layer[] = [];
  const sensitivity: LayerSensitivity[] = [];
  const first = convs[0].cin;
  layers.push({
    name: 'stem', op: 'conv2d', inputs: ['input'], kernel: [3, 3], strides: [1, 1], padding: 'same', inChannels: 3, outChannels: first,
    weights: { kind: 'float', values: Float32Array.from({ length: first * 27 }, () => gauss() * 0.1) },
  });
  let prev = 'stem';
  const inputOf = new Map<string, string>();
  for (const c of convs) {
    const input = c.shortcutOf ? inputOf.get(c.shortcutOf)! : prev;
    inputOf.set(c.name, input);
    const rows = c.cout, cols = c.k * c.k * c.cin;
    const std = Math.sqrt(2 / cols);
    const scale = Float32Array.from({ length: rows }, () => (3 * std) / 2 ** (h - 1) * (0.8 + 0.4 * rand()));
    const w = Float64Array.from({ length: rows * cols }, () => gauss() * std);
    layers.push({
      name: c.name, op: 'conv2d', inputs: [input], kernel: [c.k, c.k], strides: [c.stride, c.stride], padding: 'same',
      inChannels: c.cin, outChannels: c.cout,
      weights: { kind: 'int', bits: h, values: quantizeWeights(w, scale, h, rows), scale, actScales: Float32Array.from(bits, (b) => 4 / 2 ** b) },
    });
    sensitivity.push({ layer: c.name, hessianTrace: rows * cols * 10 ** (2 * rand() - 1), params: rows * cols, macs: c.outHW * c.outHW * rows * cols });
    if (c.shortcutOf) {
      layers.push({ name: `${c.name}_add`, op: 'add', inputs: [prev, c.name] });
      prev = `${c.name}_add`;
    } else prev = c.name;
  }
  const last = convs[convs.length - 1].cout;
  layers.push({ name: 'pool', op: 'globalavgpool', inputs: [prev] });
  layers.push({
    name: 'fc', op: 'dense', inputs: ['pool'], inFeatures: last, outFeatures: 10,
    weights: { kind: 'float', values: Float32Array.from({ length: last * 10 }, () => gauss() * 0.1) },
  });
  return { bits, mode: 'mixed', inputShape: [inputHW, inputHW, 3], layers, sensitivity };
}

/** 19 quantized convs with ResNet-20 (CIFAR) shapes: 18 block 3×3 convs and one 1×1 projection. */
export function resnet20Convs(): ConvSpec[] {
  const convs: ConvSpec[] = [];
  const stages = [[16, 32], [32, 16], [64, 8]];
  let cin = 16;
  stages.forEach(([c, hw], s) => {
    for (let block = 0; block < 3; block++) {
      const stride = s > 0 && block === 0 ? 2 : 1;
      convs.push({ name: `s${s}b${block}c0`, cin, cout: c, k: 3, stride, outHW: hw });
      convs.push({ name: `s${s}b${block}c1`, cin: c, cout: c, k: 3, stride: 1, outHW: hw });
      if (s === 2 && block === 0) convs.push({ name: `s${s}b${block}proj`, cin, cout: c, k: 1, stride: 2, outHW: hw, shortcutOf: `s${s}b${block}c0` });
      cin = c;
    }
  });
  return convs;
}
