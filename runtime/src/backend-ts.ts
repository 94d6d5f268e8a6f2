// Plain TypeScript integer backend: the scalar reference for the kernel backend and a
// fallback where WebAssembly is unavailable. Weights are held in the format's packed layout.
import { doubleRoundAll, packSigned, quantizeActivation, roundHalfEven, unpackSigned } from '@bitswitch/format';
import type { ConvGeometry, Epilogue, IntBackend, PreparedWeights } from './backend.ts';

interface TsWeights extends PreparedWeights {
  packed: Uint8Array;
  /** Unpacked l-bit values, decoded once from `packed` on first use. */
  values?: Int8Array;
}

export function im2colScalar(x: Uint8Array, g: ConvGeometry, out: Uint8Array): void {
  const K = g.kh * g.kw * g.c;
  let row = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++, row++) {
        let o = row * K;
        for (let ky = 0; ky < g.kh; ky++) {
          const iy = oy * g.sh + ky - g.padTop;
          for (let kx = 0; kx < g.kw; kx++) {
            const ix = ox * g.sw + kx - g.padLeft;
            const inside = iy >= 0 && iy < g.h && ix >= 0 && ix < g.w;
            const src = ((b * g.h + iy) * g.w + ix) * g.c;
            for (let c = 0; c < g.c; c++) out[o++] = inside ? x[src + c] : 0;
          }
        }
      }
    }
  }
}

function values(w: TsWeights): Int8Array {
  return (w.values ??= unpackSigned(w.packed, w.bits, w.n, w.k));
}

export function createTsBackend(): IntBackend {
  return {
    name: 'ts-scalar',
    prepareWeights(wh, h, l, n, k): TsWeights {
      const packed = packSigned(doubleRoundAll(wh, h, l), l, n, k);
      return { n, k, bits: l, bytes: packed.length + n * k, packed };
    },
    quantize(x, scale, bits, out) {
      for (let i = 0; i < x.length; i++) out[i] = quantizeActivation(x[i], scale, bits);
    },
    im2col: im2colScalar,
    gemmInt32(a, m, _abits, w, out) {
      const v = values(w as TsWeights);
      const { n, k } = w;
      for (let i = 0; i < m; i++) {
        for (let j = 0; j < n; j++) {
          let acc = 0;
          for (let t = 0; t < k; t++) acc += a[i * k + t] * v[j * k + t];
          out[i * n + j] = acc;
        }
      }
    },
    gemm(a, m, abits, w, ep, out) {
      const acc = new Int32Array(m * w.n);
      this.gemmInt32(a, m, abits, w, acc);
      applyEpilogue(acc, m, w.n, ep, out);
    },
  };
}

/** The epilogue in float32 steps, as a kernel computes it. */
export function applyEpilogue(acc: Int32Array | Float32Array, m: number, n: number, ep: Epilogue, out: Float32Array | Uint8Array): void {
  const hi = ep.requant ? 2 ** ep.requant.bits - 1 : 0;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let y = Math.fround(Math.fround(acc[i * n + j] * ep.mult[j]) + ep.add[j]);
      if (ep.relu && y < 0) y = 0;
      if (ep.requant) {
        const q = roundHalfEven(y / ep.requant.scale);
        out[i * n + j] = q < 0 ? 0 : q > hi ? hi : q;
      } else out[i * n + j] = y;
    }
  }
}
