// The fast backend: @bitswitch/kernels (AssemblyScript → wasm, relaxed-SIMD / SIMD / scalar
// build chosen by what the engine validates). Stored W̃_h stay resident in wasm memory, so a
// bit switch is one down-cast + panel pack per layer inside wasm.
import { packSigned } from '@bitswitch/format';
import { createKernels, type BuildName, type Kernels, type PackedWeights, type PackedWeightsF32 } from '@bitswitch/kernels';
import type { IntBackend, PreparedWeights } from './backend.ts';
import { patchBytes } from './backend-ts.ts';

interface KernelWeights extends PreparedWeights {
  packed: PackedWeights;
}

interface KernelFloatWeights extends PreparedWeights {
  packed: PackedWeightsF32;
}

export function createKernelsBackend(options: { build?: BuildName } = {}): IntBackend & { kernels: Kernels } {
  const kn = createKernels(options);
  const stored = new WeakMap<Int8Array, ReturnType<Kernels['resident']>>();
  /** W̃_h in the format's stored layout, copied into wasm memory once per layer. */
  const residentStored = (wh: Int8Array, h: number, n: number, k: number) => {
    let buf = stored.get(wh);
    if (!buf) {
      buf = kn.resident(packSigned(wh, h, n, k));
      stored.set(wh, buf);
    }
    return buf;
  };
  // One patch-matrix block in wasm memory, reused: the GEMM reads it in place (no copy).
  let patches: { ptr: number; bytes: number } | undefined;
  const patchView = (bytes: number): Uint8Array => {
    if (!patches || patches.bytes < bytes) {
      if (patches) kn.heap.release(patches.ptr);
      patches = { ptr: kn.heap.alloc(bytes), bytes };
    }
    return new Uint8Array(kn.memory.buffer, patches.ptr, bytes);
  };
  return {
    name: `kernels-${kn.build}`,
    kernels: kn,
    prepareWeights(wh, h, l, n, k): KernelWeights {
      const packed = kn.switchBits(residentStored(wh, h, n, k), h, l, n, k, { abits: l });
      return { n, k, bits: l, bytes: packed.bytes, packed, dispose: () => packed.dispose() };
    },
    quantize: (x, scale, bits) => kn.quantizeActivations(x, scale, bits),
    // The kernels' im2col writes the patch matrix in place into a reused wasm block, which the
    // GEMM then reads in place (no copy either way); the view is valid until the next call.
    im2col: (x, g) => kn.im2col({ input: x, batch: g.batch, h: g.h, w: g.w, c: g.c, kh: g.kh, kw: g.kw, stride: [g.sh, g.sw], padding: g.padding, out: patchView(patchBytes(g)) }).data,
    gemm: (a, m, abits, w, ep) =>
      kn.gemm({ a, m, k: w.k, weights: (w as KernelWeights).packed, abits, epilogue: ep }) as Float32Array | Uint8Array,
    gemmInt32: (a, m, abits, w) => kn.gemm({ a, m, k: w.k, weights: (w as KernelWeights).packed, abits }) as Int32Array,
    prepareFloatWeights(values, n, k): KernelFloatWeights {
      const packed = kn.packGemmWeightsF32(values, n, k);
      return { n, k, bits: 32, bytes: packed.bytes, packed, dispose: () => packed.dispose() };
    },
    gemmFloat: (a, m, w, ep) => kn.gemmF32({ a, m, k: w.k, weights: (w as KernelFloatWeights).packed, epilogue: ep }) as Float32Array,
  };
}
