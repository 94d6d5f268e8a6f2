// The public types of the Kernels object's calls.
import type { BuildName } from './builds.ts';
import type { GemmFamily } from './families.ts';

export interface LoadOptions {
  /** Force a build; default: the best one this engine validates. */
  build?: BuildName;
  /**
   * Threads for the GEMMs (default 1): the caller and threads − 1 workers on shared memory.
   * Falls back to 1, with the reason in Kernels.threadNote, where shared memory or workers are missing.
   */
  threads?: number;
}

/** A block of wasm memory kept across calls (e.g. the stored int8 weights of a layer). */
export interface WasmBuffer {
  readonly ptr: number;
  readonly bytes: number;
}

/**
 * Integer weights [n][k] as the format reader delivers them (W̃_h, one int8 per value), resident in
 * wasm memory as int8 rows padded to 16 bytes: switchBits packs any bit width from them directly.
 */
export interface ResidentValues extends WasmBuffer {
  readonly kind: 'values';
  /** Bit width the values were checked against. */
  readonly bits: number;
  readonly n: number;
  readonly k: number;
}

/** Weights packed into a GEMM family's panels, resident in wasm memory until disposed. */
export interface PackedWeights extends WasmBuffer {
  readonly family: GemmFamily;
  readonly bits: number;
  readonly n: number;
  readonly k: number;
  dispose(): void;
}

/**
 * The fused epilogue of a GEMM, one float32 rounding per step: y = f32(acc)·f32(aScale·wScale[n]),
 * + bias[n], · mul[n], + add[n] (folded BatchNorm), + residual[m][n], ReLU; then float32 y, or with
 * `requant` the unsigned eq. 4 codes of y (division in float64, format SPEC §6).
 */
export interface Epilogue {
  /** Weight scale per tensor (length 1) or per output channel (length N). */
  wScale: ArrayLike<number>;
  /** Activation scale of the GEMM input. */
  aScale: number;
  bias?: ArrayLike<number>;
  /** Per-channel affine y·mul + add (folded BatchNorm). */
  mul?: ArrayLike<number>;
  add?: ArrayLike<number>;
  /** float32 [m][n] added after the affine and before ReLU (a residual connection); may be `out` itself. A view on the kernels' memory is read in place. */
  residual?: Float32Array;
  relu?: boolean;
  /** Re-quantize to the next layer's unsigned activations (eq. 4): output becomes uint8. */
  requant?: { scale: number; bits: number };
  /**
   * With a float32 output (no requant): also write the eq. 4 codes of every output value into
   * `out` (uint8 [m][n]), as quantizeActivations(output, scale, bits) would, in the same pass.
   */
  codes?: { out: Uint8Array; scale: number; bits: number };
}

/** float32 weights packed into 8-column panels, resident until disposed. */
export interface PackedWeightsF32 extends WasmBuffer {
  readonly kind: 'f32';
  readonly n: number;
  readonly k: number;
  dispose(): void;
}

/** Epilogue of the float32 GEMM: the integer epilogue without the scales. */
export type EpilogueF32 = Omit<Epilogue, 'wScale' | 'aScale'>;

export interface GemmF32Args {
  /** float32 inputs, row m at a[m·lda ..]; a view on the kernels' memory is used in place. */
  a: Float32Array;
  m: number;
  k: number;
  lda?: number;
  weights: PackedWeightsF32;
  epilogue?: EpilogueF32;
  out?: Float32Array | Uint8Array;
}

export interface GemmArgs {
  /** Unsigned activations, row m at a[m·lda ..]; a view on the kernels' memory is used in place. */
  a: Uint8Array;
  m: number;
  k: number;
  lda?: number;
  weights: PackedWeights;
  abits: number;
  /** Without an epilogue the output is the raw int32 product. */
  epilogue?: Epilogue;
  out?: Float32Array | Uint8Array | Int32Array;
  /**
   * false skips the pass that checks every value of a is below 2^abits, for callers that produced a
   * themselves as eq. 4 codes of abits bits (a runtime's own activations). Out-of-range values
   * would then give wrong sums. Default true.
   */
  checkA?: boolean;
}

/** The window of a convolution over NHWC images [batch][h][w][c] (TensorFlow 'same' / 'valid' padding). */
export interface ConvWindowArgs {
  batch?: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  stride?: number | [number, number];
  padding: 'same' | 'valid';
}

/**
 * A convolution over NHWC codes as one GEMM that reads the input through the window (no patch
 * matrix): the result is kern.gemm on kern.im2col's patch matrix, bit for bit. Weights are
 * [n][kh·kw·c] in (ky, kx, c) order (OHWI).
 */
export interface ConvGemmArgs extends ConvWindowArgs {
  /** Unsigned activations [batch][h][w][c]; a view on the kernels' memory is used in place. */
  input: Uint8Array;
  weights: PackedWeights;
  abits: number;
  /** Without an epilogue the output is the raw int32 product. */
  epilogue?: Epilogue;
  /** Output [batch·oh·ow][n] (rows (b, oy, ox), as im2col's). */
  out?: Float32Array | Uint8Array | Int32Array;
  /** false skips the range check of `input` against abits, as GemmArgs.checkA. Default true. */
  checkA?: boolean;
}

export interface Im2colArgs<T extends Uint8Array | Float32Array> extends ConvWindowArgs {
  input: T;
  /** Output [rows][cols]; a view on the kernels' memory is written in place (then the GEMM can read it in place). */
  out?: T;
}

export interface Im2colResult<T> { data: T; rows: number; cols: number; oh: number; ow: number }
