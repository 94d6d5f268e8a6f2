// Plain TypeScript integer backend: a fallback where WebAssembly is unavailable, built from the
// kernels' scalar references (eq. 2 from the format, gemmRef, gemmF32Ref, epilogueRef, im2colRef).
// Weights are held as int8 values at the switched bit width.
import { doubleRoundAll, quantizeActivations } from '@bitswitch/format';
import { epilogueRef, gemmF32Ref, gemmRef, im2colRef } from '@bitswitch/kernels';
import type { ConvGeometry, IntBackend, PreparedWeights, Workspace } from './backend.ts';

interface TsWeights extends PreparedWeights {
  values: Int8Array;
}

interface TsFloatWeights extends PreparedWeights {
  values: Float32Array;
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

/** The patch matrix of x through the kernels' reference im2col, into `out` when given. */
function im2col<T extends Uint8Array | Float32Array>(x: T, g: ConvGeometry, out?: T): T {
  const patches = im2colRef(x, g.batch, g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.padding);
  return into(patches, out);
}

export function createTsBackend(): IntBackend {
  return {
    name: 'ts-scalar',
    workspace: jsWorkspace(),
    prepareWeights(wh, h, l, n, k): TsWeights {
      const values = doubleRoundAll(wh, h, l); // eq. 2
      return { n, k, bits: l, bytes: values.length, values };
    },
    quantize: (x, scale, bits, out) => into(quantizeActivations(x, scale, bits), out),
    im2col: (x, g, out) => im2col(x, g, out),
    im2colFloat: (x, g, out) => im2col(x, g, out),
    gemmInt32: (a, m, _abits, w) => gemmRef(a, m, w.k, w.k, (w as TsWeights).values, w.n),
    gemm(a, m, abits, w, ep, out) {
      return into(epilogueRef(this.gemmInt32(a, m, abits, w), m, w.n, ep), out);
    },
    prepareFloatWeights: (values, n, k): TsFloatWeights => ({ n, k, bits: 32, bytes: values.byteLength, values }),
    gemmFloat(a, m, w, ep, out) {
      const acc = gemmF32Ref(a, m, w.k, w.k, (w as TsFloatWeights).values, w.n);
      return into(epilogueRef(acc, m, w.n, { ...ep, wScale: [1], aScale: 1 }), out);
    },
  };
}

/** y, or y copied into `out` (same element type) when given. */
function into<T extends Float32Array | Uint8Array>(y: T, out?: Float32Array | Uint8Array): T {
  if (!out) return y;
  if (out.constructor !== y.constructor) throw new RangeError(`out: expected a ${y.constructor.name}, got a ${out.constructor.name}`);
  out.set(y);
  return out as T;
}
