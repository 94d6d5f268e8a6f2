// Plain scalar TypeScript references of every kernel. The testers compare each build to these
// with exact equality; nothing here is tuned for speed.
import { doubleRoundAll, packSigned, unpackSigned, roundHalfEven } from '@bitswitch/format';

export { quantizeWeights as quantizeWeightsRef, quantizeActivations as quantizeActivationsRef } from '@bitswitch/format';

const f32 = Math.fround;

/** eq. 2 on a stored tensor: packSigned(doubleRoundAll(wh, h, l), l, n, k). */
export function downcastRef(stored: Uint8Array, h: number, l: number, n: number, k: number): Uint8Array {
  return packSigned(doubleRoundAll(unpackSigned(stored, h, n, k), h, l), l, n, k);
}

/** C[m][n] = Σ_c A[m·lda + c] · W[n][c], exact int32. */
export function gemmRef(a: Uint8Array, m: number, k: number, lda: number, w: Int8Array, n: number): Int32Array {
  const c = new Int32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * lda + p] * w[j * k + p];
      c[i * n + j] = s;
    }
  }
  return c;
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

export interface EpilogueRef {
  wScale: ArrayLike<number>;
  aScale: number;
  bias?: ArrayLike<number>;
  mul?: ArrayLike<number>;
  add?: ArrayLike<number>;
  /** float32 [m][n], added after the affine and before ReLU. */
  residual?: ArrayLike<number>;
  relu?: boolean;
  requant?: { scale: number; bits: number };
}

/**
 * The GEMM epilogue in float32, one rounding per step: y = f32(acc)·f32(aScale·wScale[n]),
 * + bias, · mul, + add, + residual[m][n], ReLU; then either y, or eq. 4 re-quantization clip(round_half_even(y / s), 0, 2^b-1)
 * with y / s divided in float64 (format SPEC §6), as quantizeActivationsRef does.
 */
export function epilogueRef(acc: ArrayLike<number>, m: number, n: number, ep: EpilogueRef): Float32Array | Uint8Array {
  const rq = ep.requant;
  const out = rq ? new Uint8Array(m * n) : new Float32Array(m * n);
  const aScale = f32(ep.aScale);
  const rs = rq ? f32(rq.scale) : 0;
  const hi = rq ? 2 ** rq.bits - 1 : 0;
  for (let j = 0; j < n; j++) {
    const s = f32(aScale * f32(ep.wScale.length === 1 ? ep.wScale[0] : ep.wScale[j]));
    for (let i = 0; i < m; i++) {
      let y = f32(f32(acc[i * n + j]) * s);
      if (ep.bias) y = f32(y + f32(ep.bias[j]));
      if (ep.mul) y = f32(y * f32(ep.mul[j]));
      if (ep.add) y = f32(y + f32(ep.add[j]));
      if (ep.residual) y = f32(y + f32(ep.residual[i * n + j]));
      if (ep.relu) y = Math.max(y, 0);
      if (rq) {
        const q = roundHalfEven(y / rs);
        out[i * n + j] = q < 0 ? 0 : q > hi ? hi : q;
      } else {
        out[i * n + j] = y;
      }
    }
  }
  return out;
}

/** Reference panel packing (layout in kernels/README.md): values [n][k] → tiles of nr columns. */
export function packPanelsRef(values: Int8Array, bits: number, n: number, k: number, path: 0 | 1): Uint8Array {
  const nr = path === 0 ? 8 : 16;
  const kp = Math.ceil(k / 8) * 8;
  const cb = bits > 4 ? 8 : bits > 2 ? 4 : 2;
  const tiles = Math.ceil(n / nr);
  const tileBytes = (kp * nr * cb) / 8;
  const perGroup = (16 * 8) / cb; // panel values per 16-byte group
  const out = new Uint8Array(tiles * tileBytes);
  for (let r = 0; r < n; r++) {
    const nl = r % nr;
    for (let c = 0; c < k; c++) {
      const p = c >> 1;
      const j = c & 1;
      const idx = path === 0 ? p * 16 + nl * 2 + j : p * 32 + (nl >> 3) * 16 + (nl & 7) * 2 + j;
      const byte = Math.floor(r / nr) * tileBytes + Math.floor(idx / perGroup) * 16 + (idx % 16);
      const plane = Math.floor((idx % perGroup) / 16);
      out[byte] |= (values[r * k + c] & ((1 << cb) - 1)) << (plane * cb);
    }
  }
  return out;
}

export interface ConvGeometry { oh: number; ow: number; padTop: number; padLeft: number }

/** Output size and leading padding of a convolution, like TensorFlow's 'same' / 'valid'. */
export function convGeometry(h: number, w: number, kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid'): ConvGeometry {
  if (padding === 'valid') {
    return { oh: Math.ceil((h - kh + 1) / sh), ow: Math.ceil((w - kw + 1) / sw), padTop: 0, padLeft: 0 };
  }
  const oh = Math.ceil(h / sh);
  const ow = Math.ceil(w / sw);
  const padH = Math.max((oh - 1) * sh + kh - h, 0);
  const padW = Math.max((ow - 1) * sw + kw - w, 0);
  return { oh, ow, padTop: Math.floor(padH / 2), padLeft: Math.floor(padW / 2) };
}

/** im2col of NHWC images: rows (b, oy, ox), columns (ky, kx, c); outside pixels are 0. */
export function im2colRef<T extends Uint8Array | Float32Array>(input: T, batch: number, h: number, w: number, c: number,
  kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid'): T {
  const g = convGeometry(h, w, kh, kw, sh, sw, padding);
  const cols = kh * kw * c;
  const out = new (input.constructor as { new(n: number): T })(batch * g.oh * g.ow * cols);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const row = ((b * g.oh + oy) * g.ow + ox) * cols;
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * sh - g.padTop + ky;
            const ix = ox * sw - g.padLeft + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (let ch = 0; ch < c; ch++) out[row + (ky * kw + kx) * c + ch] = input[((b * h + iy) * w + ix) * c + ch];
          }
        }
      }
    }
  }
  return out;
}
