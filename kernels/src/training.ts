// The trainer's fused kernels (assembly/training/fused.ts): instantiated on a memory that
// TensorFlow.js's wasm backend owns, so they read and write its tensors in place. Pointers are
// byte offsets into that memory; f64 accumulators (acc, sum, sq, db, dg) are added to, not
// overwritten. The semantics of each function are in the assembly source.
import { trainingBytes } from './builds.ts';

export interface TrainingKernels {
  fakeQuant(src: number, dst: number, rows: number, width: number, scales: number, perColumn: boolean,
    hn: number, hp: number, lo: number, hi: number, step: number, floor: boolean): void;
  fakeQuantGrad(dy: number, src: number, dx: number, rows: number, width: number, scales: number, perColumn: boolean,
    hn: number, hp: number, lo: number, hi: number, step: number, floor: boolean, acc: number): void;
  channelSums(src: number, rows: number, channels: number, sum: number): void;
  channelSquares(src: number, rows: number, channels: number, mean: number, sq: number): void;
  normalize(src: number, dst: number, rows: number, channels: number, mean: number, rstd: number, gamma: number, beta: number): void;
  normalizeGradSums(dy: number, src: number, rows: number, channels: number, mean: number, rstd: number, db: number, dg: number): void;
  normalizeGrad(dy: number, src: number, dx: number, rows: number, channels: number, mean: number, rstd: number,
    dbeta: number, dgamma: number, k: number, m: number): void;
  convFilterGrad(x: number, dy: number, dw: number, B: number, H: number, W: number, Cin: number, Ho: number, Wo: number, Cout: number,
    fh: number, fw: number, sh: number, sw: number, pt: number, pl: number, scratch: number): void;
  convGradScratchBytes(): number;
  convInputGrad(dy: number, wt: number, dx: number, B: number, H: number, W: number, Cin: number, Ho: number, Wo: number, Cout: number,
    fh: number, fw: number, sh: number, sw: number, pt: number, pl: number, scratch: number): void;
  adam(p: number, g: number, m: number, v: number, p2: number, m2: number, v2: number, n: number,
    wd: number, b1: number, nb1: number, b2: number, nb2: number, c1: number, c2: number, eps: number, lr: number): void;
  reluGrad(dy: number, x: number, dx: number, n: number): void;
}

let module: WebAssembly.Module | null | undefined;

/** The fused kernels on `memory`, or undefined where this engine lacks WebAssembly SIMD. */
export function createTrainingKernels(memory: WebAssembly.Memory): TrainingKernels | undefined {
  if (module === undefined) {
    const bytes = trainingBytes();
    module = WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null;
  }
  if (!module) return undefined;
  return new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as TrainingKernels;
}
