// Plain TypeScript integer backend: the scalar reference for the kernel backend and a
// fallback where WebAssembly is unavailable. Weights are held in the format's packed layout.
import { doubleRoundAll, packSigned, quantizeActivations, roundHalfEven, unpackSigned } from '@bitswitch/format';
import type { ConvGeometry, Epilogue, FloatEpilogue, IntBackend, PreparedWeights, Workspace } from './backend.ts';

interface TsWeights extends PreparedWeights {
  packed: Uint8Array;
}

interface TsFloatWeights extends PreparedWeights {
  values: Float32Array;
}

export function im2colScalar<T extends Uint8Array | Float32Array>(x: T, g: ConvGeometry, out: T): T {
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
  return out;
}

/**
 * im2col by row copies: each (output pixel, ky) copies one contiguous run of up to kw·c codes,
 * as 32-bit words when c and both offsets allow (several times faster than a byte loop in JS).
 * Same result as im2colScalar.
 */
export function im2colRuns(x: Uint8Array, g: ConvGeometry, out: Uint8Array): Uint8Array {
  if (g.c % 4 === 0 && x.byteOffset % 4 === 0 && out.byteOffset % 4 === 0) {
    im2colWords(new Uint32Array(x.buffer, x.byteOffset, x.length >> 2), g, new Uint32Array(out.buffer, out.byteOffset, out.length >> 2));
  } else im2colBytes(x, g, out);
  return out;
}

// Two copies of one loop, one per element type, so that each stays monomorphic (V8 slows a
// loop that sees both Uint8Array and Uint32Array several-fold).

function im2colWords(src: Uint32Array, g: ConvGeometry, dst: Uint32Array): void {
  const c = g.c / 4;
  const K = g.kh * g.kw * c;
  let row = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      const y0 = oy * g.sh - g.padTop;
      const ky0 = Math.max(0, -y0);
      const ky1 = Math.min(g.kh, g.h - y0);
      for (let ox = 0; ox < g.outW; ox++, row++) {
        const x0 = ox * g.sw - g.padLeft;
        const kx0 = Math.max(0, -x0);
        const kx1 = Math.min(g.kw, g.w - x0);
        // Only windows that reach into the padding need zeros; the others are fully overwritten.
        if (ky0 > 0 || ky1 < g.kh || kx0 > 0 || kx1 < g.kw) dst.fill(0, row * K, (row + 1) * K);
        const run = (kx1 - kx0) * c;
        for (let ky = ky0; ky < ky1; ky++) {
          let s = ((b * g.h + y0 + ky) * g.w + x0 + kx0) * c;
          let d = row * K + (ky * g.kw + kx0) * c;
          for (const end = s + run; s < end;) dst[d++] = src[s++];
        }
      }
    }
  }
}

function im2colBytes(src: Uint8Array, g: ConvGeometry, dst: Uint8Array): void {
  const c = g.c;
  const K = g.kh * g.kw * c;
  let row = 0;
  for (let b = 0; b < g.batch; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      const y0 = oy * g.sh - g.padTop;
      const ky0 = Math.max(0, -y0);
      const ky1 = Math.min(g.kh, g.h - y0);
      for (let ox = 0; ox < g.outW; ox++, row++) {
        const x0 = ox * g.sw - g.padLeft;
        const kx0 = Math.max(0, -x0);
        const kx1 = Math.min(g.kw, g.w - x0);
        if (ky0 > 0 || ky1 < g.kh || kx0 > 0 || kx1 < g.kw) dst.fill(0, row * K, (row + 1) * K);
        const run = (kx1 - kx0) * c;
        for (let ky = ky0; ky < ky1; ky++) {
          let s = ((b * g.h + y0 + ky) * g.w + x0 + kx0) * c;
          let d = row * K + (ky * g.kw + kx0) * c;
          for (const end = s + run; s < end;) dst[d++] = src[s++];
        }
      }
    }
  }
}

/** Σ_k a[m][k]·w[n][k] over plain arrays (int or float). */
export function matmulNT(a: ArrayLike<number>, m: number, w: ArrayLike<number>, n: number, k: number, out: Int32Array | Float32Array): void {
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc += a[i * k + t] * w[j * k + t];
      out[i * n + j] = acc;
    }
  }
}

/** Workspace of plain ArrayBuffers. */
export function jsWorkspace(): Workspace {
  const slots = new Map<number, ArrayBuffer>();
  const at = (id: number) => {
    const b = slots.get(id);
    if (!b) throw new RangeError(`workspace slot ${id}: expected a reserved slot`);
    return b;
  };
  return {
    reserve(id, bytes) { if ((slots.get(id)?.byteLength ?? -1) < bytes) slots.set(id, new ArrayBuffer(Math.ceil(bytes / 16) * 16)); },
    f32: (id, len) => new Float32Array(at(id), 0, len),
    u8: (id, len) => new Uint8Array(at(id), 0, len),
  };
}

export function createTsBackend(): IntBackend {
  return {
    name: 'ts-scalar',
    workspace: jsWorkspace(),
    prepareWeights(wh, h, l, n, k): TsWeights {
      const packed = packSigned(doubleRoundAll(wh, h, l), l, n, k);
      return { n, k, bits: l, bytes: packed.length, packed };
    },
    quantize(x, scale, bits, out) {
      const q = quantizeActivations(x, scale, bits);
      if (!out) return q;
      out.set(q);
      return out;
    },
    im2col: (x, g, out) => im2colRuns(x, g, out ?? new Uint8Array(patchBytes(g))),
    im2colFloat: (x, g, out) => im2colScalar(x, g, out),
    gemmInt32(a, m, _abits, w) {
      const out = new Int32Array(m * w.n);
      matmulNT(a, m, unpackSigned((w as TsWeights).packed, w.bits, w.n, w.k), w.n, w.k, out);
      return out;
    },
    gemm(a, m, abits, w, ep, out) {
      return into(applyEpilogue(this.gemmInt32(a, m, abits, w), m, w.n, ep), out);
    },
    prepareFloatWeights: (values, n, k): TsFloatWeights => ({ n, k, bits: 32, bytes: values.byteLength, values }),
    gemmFloat: (a, m, w, ep, out) => into(gemmFloatScalar(a, m, (w as TsFloatWeights).values, w.n, w.k, ep), out),
  };
}

function into(y: Float32Array | Uint8Array, out?: Float32Array | Uint8Array): Float32Array | Uint8Array {
  if (!out) return y;
  if (out.constructor !== y.constructor) throw new RangeError(`out: expected a ${y.constructor.name}, got a ${out.constructor.name}`);
  out.set(y);
  return out;
}

/** Float32 GEMM in k order, one rounding per multiply and per add (no FMA), then the float epilogue. */
export function gemmFloatScalar(a: Float32Array, m: number, w: Float32Array, n: number, k: number, ep: FloatEpilogue): Float32Array | Uint8Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let t = 0; t < k; t++) acc = f32(acc + f32(a[i * k + t] * w[j * k + t]));
      out[i * n + j] = acc;
    }
  }
  return applyEpilogue(out, m, n, { ...ep, wScale: Float32Array.of(1), aScale: 1 });
}

export function patchBytes(g: ConvGeometry): number {
  return g.batch * g.outH * g.outW * g.kh * g.kw * g.c;
}

const f32 = Math.fround;

/** The epilogue in float32 steps, as the kernels compute it; eq. 4 re-quantization divides in float64 (format SPEC §6). */
export function applyEpilogue(acc: Int32Array | Float32Array, m: number, n: number, ep: Epilogue): Float32Array | Uint8Array {
  const rq = ep.requant;
  const out = rq ? new Uint8Array(m * n) : new Float32Array(m * n);
  const hi = rq ? 2 ** rq.bits - 1 : 0;
  const rs = rq ? f32(rq.scale) : 0;
  for (let j = 0; j < n; j++) {
    const s = f32(f32(ep.aScale) * (ep.wScale.length === 1 ? ep.wScale[0] : ep.wScale[j]));
    for (let i = 0; i < m; i++) {
      let y = f32(f32(acc[i * n + j]) * s);
      if (ep.bias) y = f32(y + ep.bias[j]);
      if (ep.mul) y = f32(y * ep.mul[j]);
      if (ep.add) y = f32(y + ep.add[j]);
      if (ep.residual) y = f32(y + ep.residual[i * n + j]);
      if (ep.relu) y = Math.max(y, 0); // max(−0, 0) is +0, as in epilogueRef and the kernels
      if (rq) {
        const q = roundHalfEven(y / rs);
        out[i * n + j] = q < 0 ? 0 : q > hi ? hi : q;
      } else out[i * n + j] = y;
    }
  }
  return out;
}
