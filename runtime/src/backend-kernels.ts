// The fast backend: @bitswitch/kernels (AssemblyScript → wasm, relaxed-SIMD / SIMD / scalar
// build chosen by what the engine validates). W̃_h, as the format reader delivers it (int8
// values), is copied into wasm memory once per layer; a bit switch is then one pass inside wasm
// (eq. 2 and the panel pack together).
import { createKernels, type BuildName, type Kernels, type PackedWeights, type PackedWeightsF32, type ResidentValues } from '@bitswitch/kernels';
import type { IntBackend, PreparedWeights, Workspace } from './backend.ts';

interface KernelWeights extends PreparedWeights {
  packed: PackedWeights;
}

interface KernelFloatWeights extends PreparedWeights {
  packed: PackedWeightsF32;
}

/**
 * `threads`: threads per GEMM (the kernels' worker pool on shared memory; 1 where that is missing,
 * with a note). `family`: 'measured' (default) packs each layer with the family the kernels measure
 * fastest for its shape where a build has several (Kernels.fastestFamily); 'preferred' takes the
 * family table's first. Both give the same outputs.
 */
export function createKernelsBackend(options: { build?: BuildName; threads?: number; family?: 'measured' | 'preferred' } = {}): IntBackend & { kernels: Kernels } {
  const kn = createKernels({ build: options.build, threads: options.threads });
  const resident = new WeakMap<Int8Array, ResidentValues>();
  /** W̃_h of a layer in wasm memory, copied on its first switch. */
  const residentValues = (wh: Int8Array, h: number, n: number, k: number) => {
    let buf = resident.get(wh);
    if (!buf) {
      buf = kn.residentValues(wh, h, n, k);
      resident.set(wh, buf);
    }
    return buf;
  };
  return {
    name: `kernels-${kn.build}`,
    kernels: kn,
    threads: kn.threads,
    threadNote: kn.threadNote,
    dispose: () => kn.dispose(),
    ready: () => kn.whenThreadsReady(),
    workspace: wasmWorkspace(kn),
    prepareWeights(wh, h, l, n, k): KernelWeights {
      const family = options.family === 'preferred' ? undefined : kn.fastestFamily(l, l, n, k);
      const packed = kn.switchBits(residentValues(wh, h, n, k), h, l, n, k, { abits: l, family });
      return { n, k, bits: l, bytes: packed.bytes, packed, dispose: () => packed.dispose() };
    },
    // Views on the workspace (wasm memory) are read and written in place: no copies between JS and wasm.
    quantize: (x, scale, bits, out) => kn.quantizeActivations(x, scale, bits, out),
    im2col: (x, g, out) => kn.im2col({ input: x, batch: g.batch, h: g.h, w: g.w, c: g.c, kh: g.kh, kw: g.kw, stride: [g.sh, g.sw], padding: g.padding, out }).data,
    im2colFloat: (x, g, out) => kn.im2col({ input: x, batch: g.batch, h: g.h, w: g.w, c: g.c, kh: g.kh, kw: g.kw, stride: [g.sh, g.sw], padding: g.padding, out }).data,
    gemm: (a, m, abits, w, ep, out) =>
      // a is the executor's eq. 4 codes of abits bits (quantize or a requantizing epilogue), in range by construction
      kn.gemm({ a, m, k: w.k, weights: (w as KernelWeights).packed, abits, epilogue: ep, out, checkA: false }) as Float32Array | Uint8Array,
    convGemm: (x, g, abits, w, ep, out) => kn.convGemm({
      input: x, batch: g.batch, h: g.h, w: g.w, c: g.c, kh: g.kh, kw: g.kw, stride: [g.sh, g.sw], padding: g.padding,
      weights: (w as KernelWeights).packed, abits, epilogue: ep, out, checkA: false, // the executor's codes, as for gemm
    }) as Float32Array | Uint8Array,
    gemmInt32: (a, m, abits, w) => kn.gemm({ a, m, k: w.k, weights: (w as KernelWeights).packed, abits }) as Int32Array,
    prepareFloatWeights(values, n, k): KernelFloatWeights {
      const packed = kn.packGemmWeightsF32(values, n, k);
      return { n, k, bits: 32, bytes: packed.bytes, packed, dispose: () => packed.dispose() };
    },
    gemmFloat: (a, m, w, ep, out) => kn.gemmF32({ a, m, k: w.k, weights: (w as KernelFloatWeights).packed, epilogue: ep, out }) as Float32Array,
  };
}

/** Workspace slots as blocks of the kernels' heap (grow-only), viewed on the current memory buffer. */
function wasmWorkspace(kn: Kernels): Workspace {
  const slots = new Map<number, { ptr: number; bytes: number }>();
  const at = (id: number) => {
    const b = slots.get(id);
    if (!b) throw new RangeError(`workspace slot ${id}: expected a reserved slot`);
    return b.ptr;
  };
  return {
    reserve(id, bytes) {
      const b = slots.get(id);
      if (b && b.bytes >= bytes) return;
      if (b) kn.heap.release(b.ptr);
      slots.set(id, { ptr: kn.heap.alloc(bytes), bytes });
    },
    f32: (id, len) => new Float32Array(kn.memory.buffer, at(id), len),
    u8: (id, len) => new Uint8Array(kn.memory.buffer, at(id), len),
  };
}
