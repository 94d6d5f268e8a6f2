// The integer operations the fast executor needs, behind one interface so that the wasm
// kernels and a plain TypeScript fallback run the same executor and the same tests.

/** Weights of one quantized layer at one bit-width, ready for the backend's GEMM. */
export interface PreparedWeights {
  n: number;
  k: number;
  bits: number;
  /** Bytes this backend holds for these weights. */
  bytes: number;
}

/**
 * Per output channel epilogue of a GEMM: y = acc · mult[n] + add[n], then max(y, 0) if
 * `relu`, then eq. 4 to `requant.bits` unsigned codes with `requant.scale` if given.
 */
export interface Epilogue {
  mult: Float32Array;
  add: Float32Array;
  relu: boolean;
  requant?: { scale: number; bits: number };
}

/** Geometry of an NHWC convolution window walk (TF padding already resolved). */
export interface ConvGeometry {
  batch: number;
  h: number; w: number; c: number;
  kh: number; kw: number;
  sh: number; sw: number;
  padTop: number; padLeft: number;
  outH: number; outW: number;
}

export interface IntBackend {
  readonly name: string;
  /** eq. 2 on stored W̃_h ([n][k] int8, h bits) and the backend's packing at `l` bits. */
  prepareWeights(wh: Int8Array, h: number, l: number, n: number, k: number): PreparedWeights;
  /** eq. 4: unsigned `bits` codes of x / scale. */
  quantize(x: Float32Array, scale: number, bits: number, out: Uint8Array): void;
  /** Rows of the patch matrix [batch·outH·outW][kh·kw·c] of NHWC codes; padding reads 0 (z_b = 0). */
  im2col(x: Uint8Array, g: ConvGeometry, out: Uint8Array): void;
  /** out[m][n] = epilogue(Σ_k a[m][k] · w[n][k]); `out` is float32 or, with requant, uint8 codes. */
  gemm(a: Uint8Array, m: number, abits: number, w: PreparedWeights, ep: Epilogue, out: Float32Array | Uint8Array): void;
  /** Raw int32 accumulators Σ_k a[m][k] · w[n][k], for exact tests. */
  gemmInt32(a: Uint8Array, m: number, abits: number, w: PreparedWeights, out: Int32Array): void;
  /** Releases everything prepared so far (weights caches are rebuilt on demand). */
  dispose?(): void;
}
