// Compiling a model's layers into executor steps: BatchNorm, ReLU and the next layer's activation
// quantization (eq. 4) fuse into the GEMM epilogue of a conv/dense layer, and a two-input add
// (+ ReLU) into the epilogue of its later matmul input.
import type { BatchNormLayer, Conv2DLayer, DenseLayer, Layer, Model } from '@bitswitch/format';
import type { GraphInfo } from './graph.ts';

export interface MatmulStep {
  kind: 'matmul';
  layer: Conv2DLayer | DenseLayer;
  /** Index in the quantized-layer list, or -1 for a float layer. */
  q: number;
  input: string;
  inShape: number[];
  outShape: number[];
  bn?: BatchNormLayer;
  relu: boolean;
  /** Quantized layer whose input this step's output is (fused eq. 4), or -1. */
  requantFor: number;
  /** A float tensor added in the epilogue before ReLU (a fused residual add), or undefined. */
  residual?: string;
  /**
   * Quantized layer that runs next and reads this step's float output (which has other readers
   * too): the epilogue also writes that layer's eq. 4 codes, so it skips its own quantize. -1: none.
   */
  codesFor: number;
  /** Whether the previous step wrote this step's input codes (its codesFor). */
  codesReady: boolean;
  output: string;
}
export interface AddStep { kind: 'add'; inputs: string[]; relu: boolean; output: string }
export interface BatchNormStep { kind: 'batchnorm'; layer: BatchNormLayer; input: string; output: string }
export interface UnaryStep { kind: 'relu' | 'flatten'; input: string; output: string }
export interface PoolStep { kind: 'pool'; input: string; inShape: number[]; pool: [number, number]; strides: [number, number]; padding: 'same' | 'valid'; output: string }
export type Step = MatmulStep | AddStep | BatchNormStep | UnaryStep | PoolStep;

/**
 * Turns layers into steps, fusing BatchNorm, ReLU and requantization where a tensor has a single
 * reader, and a two-input add (+ ReLU) into the epilogue of its later matmul input when that
 * input has no other reader and no ReLU of its own (float32 a + b = b + a, so the sum is unchanged).
 */
export function compile(model: Model, graph: GraphInfo, fuseResidual: boolean, fuseQuantize = true): Step[] {
  const readersOf = new Map<string, Layer[]>();
  for (const l of model.layers) for (const i of l.inputs) readersOf.set(i, [...(readersOf.get(i) ?? []), l]);
  const soleReader = (name: string): Layer | undefined => (graph.readers.get(name) === 1 ? readersOf.get(name)?.[0] : undefined);
  const fused = new Set<string>();
  const steps: Step[] = [];
  /** The quantized layer that is the sole reader of `name` (its eq. 4 fuses into the producer), or -1. */
  const requantOf = (name: string): number => {
    const consumer = soleReader(name);
    return consumer && graph.quantIndex.has(consumer.name) ? graph.quantIndex.get(consumer.name)! : -1;
  };
  for (const l of model.layers) {
    if (fused.has(l.name)) continue;
    const input = l.inputs[0];
    const inShape = graph.shapes.get(input)!;
    switch (l.op) {
      case 'conv2d':
      case 'dense': {
        let output = l.name;
        let bn: BatchNormLayer | undefined;
        let relu = false;
        const next = soleReader(output);
        if (next?.op === 'batchnorm') { bn = next; output = next.name; fused.add(next.name); }
        const after = soleReader(output);
        if (after?.op === 'relu') { relu = true; output = after.name; fused.add(after.name); }
        const q = graph.quantIndex.get(l.name) ?? -1;
        steps.push({ kind: 'matmul', layer: l, q, input, inShape, outShape: graph.shapes.get(l.name)!, bn, relu, requantFor: requantOf(output), codesFor: -1, codesReady: false, output });
        break;
      }
      case 'add': {
        const after = soleReader(l.name);
        const relu = after?.op === 'relu';
        if (relu) fused.add(after!.name);
        const output = relu ? after!.name : l.name;
        const at = l.inputs.map((name) => steps.findIndex((s) => s.output === name));
        const j = Math.max(...at);
        const host = steps[j];
        if (fuseResidual && l.inputs.length === 2 && l.inputs[0] !== l.inputs[1] && host?.kind === 'matmul' && !host.relu && graph.readers.get(host.output) === 1) {
          host.residual = l.inputs[at[0] === j ? 1 : 0];
          host.relu = relu;
          host.output = output;
          host.requantFor = requantOf(output);
          break;
        }
        steps.push({ kind: 'add', inputs: l.inputs, relu, output });
        break;
      }
      case 'batchnorm': steps.push({ kind: 'batchnorm', layer: l, input, output: l.name }); break;
      case 'relu': steps.push({ kind: 'relu', input, output: l.name }); break;
      case 'flatten': steps.push({ kind: 'flatten', input, output: l.name }); break;
      case 'globalavgpool': steps.push({ kind: 'pool', input, inShape, pool: [inShape[0], inShape[1]], strides: [1, 1], padding: 'valid', output: l.name }); break;
      case 'avgpool': steps.push({ kind: 'pool', input, inShape, pool: l.pool, strides: l.strides, padding: l.padding, output: l.name }); break;
    }
  }
  if (fuseQuantize) fuseNextQuantize(steps);
  return steps;
}

/**
 * A float matmul output read next by a quantized matmul (and later by others, e.g. a residual
 * add): that reader's eq. 4 codes are written by the producer's epilogue in the same pass.
 */
function fuseNextQuantize(steps: Step[]): void {
  for (let i = 0; i + 1 < steps.length; i++) {
    const s = steps[i], next = steps[i + 1];
    if (s.kind !== 'matmul' || s.requantFor >= 0 || next.kind !== 'matmul' || next.q < 0 || next.input !== s.output) continue;
    s.codesFor = next.q;
    next.codesReady = true;
  }
}
