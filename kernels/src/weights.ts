// Weights into resident GEMM panels: from int8 values, from the stored layout, by a bit switch
// (eq. 2 and the panel pack in one pass), and float32 panels for the float layers.
import { packedRowBytes, signedRange } from '@bitswitch/format';
import type { BuildName } from './builds.ts';
import type { Exports } from './exports.ts';
import { defaultFamily, GEMM_FAMILIES, type GemmFamily } from './families.ts';
import type { WasmHeap } from './heap.ts';
import { copyIn, Marshal } from './marshal.ts';
import type { PackedWeights, PackedWeightsF32, ResidentValues, WasmBuffer } from './types.ts';
import { checkInt, checkLength, checkNK, checkType } from './validate.ts';

const containerBits = (bits: number) => (bits > 4 ? 8 : bits > 2 ? 4 : 2);

/** Bytes of one int8 row of k values in wasm memory: padded to 16, the stored layout of an 8-bit container. */
const int8RowBytes = (k: number) => packedRowBytes(k, 8);

export interface PackOptions { abits?: number; family?: string }

export class WeightPacker {
  constructor(private readonly x: Exports, private readonly heap: WasmHeap, private readonly live: Set<number>, private readonly build: BuildName) {}

  /** W̃_h [n][k] (values in the signed h-bit range) copied once into wasm memory as int8 rows padded to 16 bytes. */
  residentValues(valuesNK: Int8Array, h: number, n: number, k: number): ResidentValues {
    checkType('valuesNK', valuesNK, Int8Array);
    checkInt('h', h, 2, 8);
    checkNK(n, k);
    checkLength('valuesNK', valuesNK, n * k);
    const [lo, hi] = signedRange(h);
    for (let i = 0; i < valuesNK.length; i++) {
      const v = valuesNK[i];
      if (v < lo || v > hi) throw new RangeError(`valuesNK[${i}]: expected an integer in ${lo}..${hi}, got ${v}`);
    }
    const row = int8RowBytes(k);
    const bytes = n * row;
    const ptr = this.heap.alloc(bytes);
    const mem = new Uint8Array(this.x.memory.buffer, ptr, bytes);
    mem.fill(0);
    for (let r = 0; r < n; r++) mem.set(new Uint8Array(valuesNK.buffer, valuesNK.byteOffset + r * k, k), r * row);
    return { kind: 'values', ptr, bytes, bits: h, n, k };
  }

  /** Packs int8 values [n][k] (row n = output channel) of `bits` bits into resident GEMM panels. */
  packGemmWeights(valuesNK: Int8Array, bits: number, n: number, k: number, opts: PackOptions = {}): PackedWeights {
    checkType('valuesNK', valuesNK, Int8Array);
    checkInt('bits', bits, 1, 8);
    checkNK(n, k);
    checkLength('valuesNK', valuesNK, n * k);
    const family = this.pickFamily(bits, opts.abits ?? bits, opts.family);
    const src = copyIn(this.heap, this.x.memory, valuesNK);
    try {
      return this.packFrom(src, k, 8, bits, n, k, family);
    } finally {
      this.heap.release(src);
    }
  }

  /** Packs weights in the stored layout (format SPEC §5) at `bits` into resident GEMM panels. */
  packGemmWeightsStored(stored: Uint8Array | WasmBuffer, bits: number, n: number, k: number, opts: PackOptions = {}): PackedWeights {
    checkInt('bits', bits, 1, 8);
    checkNK(n, k);
    const family = this.pickFamily(bits, opts.abits ?? bits, opts.family);
    const call = new Marshal(this.heap, this.x.memory);
    try {
      const src = source(call, 'stored', stored, n * packedRowBytes(k, bits));
      return this.packFrom(src, packedRowBytes(k, bits), containerBits(bits), bits, n, k, family);
    } finally {
      call.release();
    }
  }

  /**
   * Bit switch: W̃_h → eq. 2 down-cast to l bits → resident GEMM panels. From ResidentValues (int8
   * rows) or a stored tensor with an 8-bit container (h ≥ 5), eq. 2 and the panel transpose run in
   * one pass; a stored tensor with 4- or 2-bit containers is down-cast first, then packed.
   */
  switchBits(src: Uint8Array | WasmBuffer | ResidentValues, h: number, l: number, n: number, k: number, opts: PackOptions = {}): PackedWeights {
    checkInt('h', h, 2, 8);
    checkInt('l', l, 2, h);
    checkNK(n, k);
    const family = this.pickFamily(l, opts.abits ?? l, opts.family);
    if (isResidentValues(src)) {
      if (src.bits !== h || src.n !== n || src.k !== k) {
        throw new RangeError(`values: expected resident values of h=${h}, n=${n}, k=${k}, got h=${src.bits}, n=${src.n}, k=${src.k}`);
      }
      return this.switchFused(src.ptr, h, l, n, k, family);
    }
    const call = new Marshal(this.heap, this.x.memory);
    try {
      const from = source(call, 'stored', src, n * packedRowBytes(k, h));
      if (containerBits(h) === 8) return this.switchFused(from, h, l, n, k, family);
      const row = packedRowBytes(k, l);
      const mid = call.alloc(n * row);
      this.x.downcast(from, h, mid, l, n, k);
      return this.packFrom(mid, row, containerBits(l), l, n, k, family);
    } finally {
      call.release();
    }
  }

  /** Packs float32 weights [n][k] (row n = output channel) into resident panels for gemmF32. */
  packGemmWeightsF32(valuesNK: Float32Array, n: number, k: number): PackedWeightsF32 {
    checkType('valuesNK', valuesNK, Float32Array);
    checkNK(n, k);
    checkLength('valuesNK', valuesNK, n * k);
    const src = copyIn(this.heap, this.x.memory, valuesNK);
    const bytes = Math.ceil(n / 8) * 8 * k * 4;
    const ptr = this.heap.alloc(bytes);
    try {
      this.x.packPanelsF32(src, n, k, ptr);
    } finally {
      this.heap.release(src);
    }
    return { kind: 'f32', ptr, bytes, n, k, dispose: this.keep(ptr) };
  }

  private pickFamily(bits: number, abitsOption: number, family?: string): GemmFamily {
    const abits = checkInt('abits', abitsOption, 1, 8);
    if (family === undefined) return defaultFamily(this.build, bits, abits);
    const f = GEMM_FAMILIES.find((x) => x.name === family);
    if (!f || !f.builds.includes(this.build)) {
      const names = GEMM_FAMILIES.filter((x) => x.builds.includes(this.build)).map((x) => x.name);
      throw new RangeError(`family: expected one of ${names.join(', ')} on build ${this.build}, got ${family}`);
    }
    if (!f.supports(bits, abits)) throw new RangeError(`abits: family ${f.name} does not support w${bits}a${abits}`);
    return f;
  }

  private panelBytes(bits: number, n: number, k: number, family: GemmFamily): number {
    // lut16: two 16-byte vectors of table indices per group of 4 k
    if (family.path === 2) return Math.ceil(n / 16) * Math.ceil(k / 8) * 8 * 8;
    return (Math.ceil(n / family.nr) * Math.ceil(k / 8) * 8 * family.nr * containerBits(bits)) / 8;
  }

  private packFrom(srcPtr: number, rowBytes: number, srcCb: number, bits: number, n: number, k: number, family: GemmFamily): PackedWeights {
    const bytes = this.panelBytes(bits, n, k, family);
    const ptr = this.heap.alloc(bytes);
    const outside = this.x.packPanels(srcPtr, rowBytes, srcCb, n, k, bits, family.path, ptr);
    if (outside > 0) {
      this.heap.release(ptr);
      throw new RangeError(`weights: expected values in the signed ${bits}-bit range, ${outside} are outside`);
    }
    return { ptr, bytes, family, bits, n, k, dispose: this.keep(ptr) };
  }

  /** eq. 2 and the panel transpose in one pass over int8 rows (padded to 16 bytes). */
  private switchFused(src: number, h: number, l: number, n: number, k: number, family: GemmFamily): PackedWeights {
    const bytes = this.panelBytes(l, n, k, family);
    const ptr = this.heap.alloc(bytes);
    const work = this.heap.alloc(this.x.switchWorkBytes(k, family.path));
    try {
      this.x.switchPanels(src, h, n, k, l, family.path, work, ptr);
    } finally {
      this.heap.release(work);
    }
    return { ptr, bytes, family, bits: l, n, k, dispose: this.keep(ptr) };
  }

  /** Marks a panel block live (gemm accepts only live weights); returns its dispose(). */
  private keep(ptr: number): () => void {
    this.live.add(ptr);
    return () => { if (this.live.delete(ptr)) this.heap.release(ptr); };
  }
}

function isResidentValues(src: unknown): src is ResidentValues {
  return typeof src === 'object' && src !== null && (src as ResidentValues).kind === 'values';
}

/** Address of a stored tensor of `bytes`: a resident block as it is, an array copied in for the call. */
function source(call: Marshal, field: string, stored: Uint8Array | WasmBuffer, bytes: number): number {
  const len = stored instanceof Uint8Array ? stored.length : stored?.bytes;
  if (len !== bytes) throw new RangeError(`${field}.length: expected ${bytes}, got ${len}`);
  return stored instanceof Uint8Array ? call.input({ view: stored, inPlace: false, ptr: 0 }) : stored.ptr;
}
