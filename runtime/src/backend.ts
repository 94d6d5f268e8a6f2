// The integer operations the fast executor needs, behind one interface so that the wasm
// kernels and a plain TypeScript fallback run the same executor and the same tests.
import type { Epilogue as KernelsEpilogue, EpilogueF32 } from '@bitswitch/kernels';

/** Weights of one quantized layer at one bit-width, ready for the backend's GEMM. */
export interface PreparedWeights {
  n: number;
  k: number;
  bits: number;
  /** Bytes this backend holds for these weights. */
  bytes: number;
  dispose?(): void;
}

/**
 * Per output channel epilogue of a GEMM: the kernels' Epilogue (y = acc · f32(aScale · wScale[n])
 * + bias[n], · mul[n] + add[n] (folded BatchNorm), + residual, ReLU, then eq. 4 to `requant.bits`
 * unsigned codes with `requant.scale` if given; one float32 rounding per step), with wScale
 * = s_w · 2^(h−l) (eq. 3) as a Float32Array and aScale = s_a of the GEMM input (eq. 5).
 */
export type Epilogue = Omit<KernelsEpilogue, 'wScale'> & { wScale: Float32Array };

/** The float layers' epilogue: the same without the dequantization scales. */
export type FloatEpilogue = EpilogueF32;

/** Geometry of an NHWC convolution window walk (TF padding). */
export interface ConvGeometry {
  batch: number;
  h: number; w: number; c: number;
  kh: number; kw: number;
  sh: number; sw: number;
  padding: 'same' | 'valid';
  padTop: number; padLeft: number;
  outH: number; outW: number;
}

/**
 * Buffers the executor keeps across runs, by slot id (grow-only). On the kernels backend they lie
 * in wasm memory, so every kernel reads and writes them in place. reserve() may invalidate earlier
 * views of any slot: take views after reserving, and again after any call that may allocate.
 */
export interface Workspace {
  reserve(id: number, bytes: number): void;
  f32(id: number, len: number): Float32Array;
  u8(id: number, len: number): Uint8Array;
}

export interface IntBackend {
  readonly name: string;
  /** Threads each large GEMM runs on (absent: 1). */
  readonly threads?: number;
  /** Why fewer threads run than were asked for (absent or empty: none). */
  readonly threadNote?: string;
  /** Releases what the backend holds outside its memory (worker threads). */
  dispose?(): void;
  /** Resolves when the backend's worker threads have started (createRuntime awaits it). */
  ready?(): Promise<unknown>;
  /** The executor's working memory (one per backend instance). */
  readonly workspace: Workspace;
  /** eq. 2 on W̃_h as the format reader delivers it ([n][k] int8, h bits) and the backend's packing at `l` bits (activations at `l` bits too). */
  prepareWeights(wh: Int8Array, h: number, l: number, n: number, k: number): PreparedWeights;
  /** eq. 4: unsigned `bits` codes of x / scale (into `out` when given). */
  quantize(x: Float32Array, scale: number, bits: number, out?: Uint8Array): Uint8Array;
  /** Rows of the patch matrix [batch·outH·outW][kh·kw·c] of NHWC codes; padding reads 0 (z_b = 0). Into `out` when given. */
  im2col(x: Uint8Array, g: ConvGeometry, out?: Uint8Array): Uint8Array;
  /** The same for float32 inputs (float first layer), into `out`. */
  im2colFloat(x: Float32Array, g: ConvGeometry, out: Float32Array): Float32Array;
  /**
   * epilogue(Σ_k a[m][k] · w[n][k]) as [m][n]: float32, or uint8 codes with requant (into `out` when
   * given; may return a fresh view of it). a holds eq. 4 codes below 2^abits, as the executor makes
   * them; the kernels backends do not re-check that range.
   */
  gemm(a: Uint8Array, m: number, abits: number, w: PreparedWeights, ep: Epilogue, out?: Float32Array | Uint8Array): Float32Array | Uint8Array;
  /**
   * A convolution without the patch matrix (optional): the same result as gemm on im2col(x, g), bit for
   * bit, reading the NHWC codes x through the window. Backends without it run im2col, then gemm.
   */
  convGemm?(x: Uint8Array, g: ConvGeometry, abits: number, w: PreparedWeights, ep: Epilogue, out?: Float32Array | Uint8Array): Float32Array | Uint8Array;
  /** Raw int32 accumulators Σ_k a[m][k] · w[n][k], for exact tests. */
  gemmInt32(a: Uint8Array, m: number, abits: number, w: PreparedWeights): Int32Array;
  /** Float32 weights [n][k] of a full-precision (first or last) layer, for gemmFloat. */
  prepareFloatWeights(w: Float32Array, n: number, k: number): PreparedWeights;
  /**
   * Float32 GEMM of the full-precision layers: Σ_k a[m][k]·w[n][k] summed in k order in float32
   * (no FMA), then the epilogue without the dequantization scales (bias, mul, add, ReLU, requant).
   */
  gemmFloat(a: Float32Array, m: number, w: PreparedWeights, ep: FloatEpilogue, out?: Float32Array | Uint8Array): Float32Array | Uint8Array;
}

