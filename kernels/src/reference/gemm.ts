// Scalar references of the GEMMs: exact int32 sums, and float32 sums in k order (no FMA).

const f32 = Math.fround;

/** C[m][n] = Σ_c A[m·lda + c] · W[n][c], exact int32. */
export function gemmRef(a: Uint8Array, m: number, k: number, lda: number, w: Int8Array, n: number): Int32Array {
  return matmulRef(a, m, k, lda, w, n, new Int32Array(m * n));
}

/** out[m][n] = Σ_c A[m·lda + c] · W[n][c], summed in float64 in c order (exact for integer operands), stored into out. */
export function matmulRef<T extends Int32Array | Float64Array>(a: ArrayLike<number>, m: number, k: number, lda: number, w: ArrayLike<number>, n: number, out: T): T {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * lda + p] * w[j * k + p];
      out[i * n + j] = s;
    }
  }
  return out;
}

/** float32 C[m][n] = Σ_k A[m·lda + k]·W[n][k], accumulated in k order, one rounding per multiply and add. */
export function gemmF32Ref(a: Float32Array, m: number, k: number, lda: number, w: Float32Array, n: number): Float32Array {
  const c = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s = f32(s + f32(a[i * lda + p] * w[j * k + p]));
      c[i * n + j] = s;
    }
  }
  return c;
}
