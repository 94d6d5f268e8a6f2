// The Kernels object: one instantiated build, its memory, and checked wrappers of every kernel.
// Every check happens before wasm memory is touched; errors name the field and the expected value.
import { packedRowBytes } from '@bitswitch/format';
import { availableBuilds, buildBytes, checkBuild, sharedBuildBytes, type BuildName } from './builds.ts';
import { WasmHeap } from './heap.ts';
import { acc16Chunk, defaultFamily, GEMM_FAMILIES, type GemmFamily } from './families.ts';
import { convGeometry } from './reference.ts';
import { GemmPool, threadsUnavailable, type GemmJob } from './pool.ts';

interface Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  quantizeWeights(src: number, n: number, k: number, scales: number, perChannel: number, h: number, dst: number): void;
  quantizeActivations(src: number, len: number, scale: number, bits: number, dst: number): void;
  downcast(src: number, h: number, dst: number, l: number, n: number, k: number): void;
  packPanels(src: number, srcRowBytes: number, srcCb: number, n: number, k: number, bits: number, path: number, dst: number): number;
  gemmScratchBytes(k: number, path: number): number;
  setEpilogue(scale: number, bias: number, mul: number, add: number, residual: number, relu: number, rqScale: number, rqBits: number): void;
  combineScales(wScale: number, perChannel: number, aScale: number, n: number, out: number): void;
  gemm(a: number, lda: number, m: number, k: number, w: number, wbits: number, n: number, path: number, chunk: number, scratch: number, out: number): void;
  maxBytes(src: number, rows: number, cols: number, ld: number): number;
  switchPanels(src: number, h: number, n: number, k: number, l: number, path: number, work: number, dst: number): number;
  switchWorkBytes(k: number, path: number): number;
  packPanelsF32(src: number, n: number, k: number, dst: number): void;
  gemmF32(a: number, lda: number, m: number, k: number, w: number, n: number, scratch: number, out: number): void;
  im2col(src: number, batch: number, h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number,
    padTop: number, padLeft: number, oh: number, ow: number, elt: number, dst: number): void;
}

export interface LoadOptions {
  /** Force a build; default: the best one this engine validates. */
  build?: BuildName;
  /**
   * Threads for the GEMMs (default 1): the caller and threads − 1 workers on shared memory.
   * Falls back to 1, with the reason in Kernels.threadNote, where shared memory or workers are missing.
   */
  threads?: number;
}

/** A block of wasm memory kept across calls (e.g. the stored int8 weights of a layer). */
export interface WasmBuffer {
  readonly ptr: number;
  readonly bytes: number;
}

/** Weights packed into a GEMM family's panels, resident in wasm memory until disposed. */
export interface PackedWeights extends WasmBuffer {
  readonly family: GemmFamily;
  readonly bits: number;
  readonly n: number;
  readonly k: number;
  dispose(): void;
}

export interface Epilogue {
  /** Weight scale per tensor (length 1) or per output channel (length N). */
  wScale: ArrayLike<number>;
  /** Activation scale of the GEMM input. */
  aScale: number;
  bias?: ArrayLike<number>;
  /** Per-channel affine y·mul + add (folded BatchNorm). */
  mul?: ArrayLike<number>;
  add?: ArrayLike<number>;
  /** float32 [m][n] added after the affine and before ReLU (a residual connection); may be `out` itself. A view on the kernels' memory is read in place. */
  residual?: Float32Array;
  relu?: boolean;
  /** Re-quantize to the next layer's unsigned activations (eq. 4): output becomes uint8. */
  requant?: { scale: number; bits: number };
}

/** float32 weights packed into 8-column panels, resident until disposed. */
export interface PackedWeightsF32 extends WasmBuffer {
  readonly kind: 'f32';
  readonly n: number;
  readonly k: number;
  dispose(): void;
}

/** Epilogue of the float32 GEMM: the integer epilogue without the scales. */
export type EpilogueF32 = Omit<Epilogue, 'wScale' | 'aScale'>;

export interface GemmF32Args {
  /** float32 inputs, row m at a[m·lda ..]; a view on the kernels' memory is used in place. */
  a: Float32Array;
  m: number;
  k: number;
  lda?: number;
  weights: PackedWeightsF32;
  epilogue?: EpilogueF32;
  out?: Float32Array | Uint8Array;
}

export interface GemmArgs {
  /** Unsigned activations, row m at a[m·lda ..]; a view on the kernels' memory is used in place. */
  a: Uint8Array;
  m: number;
  k: number;
  lda?: number;
  weights: PackedWeights;
  abits: number;
  /** Without an epilogue the output is the raw int32 product. */
  epilogue?: Epilogue;
  out?: Float32Array | Uint8Array | Int32Array;
}

export interface Im2colArgs<T extends Uint8Array | Float32Array> {
  input: T;
  batch?: number;
  h: number;
  w: number;
  c: number;
  kh: number;
  kw: number;
  stride?: number | [number, number];
  padding: 'same' | 'valid';
  /** Output [rows][cols]; a view on the kernels' memory is written in place (then the GEMM can read it in place). */
  out?: T;
}

export interface Im2colResult<T> { data: T; rows: number; cols: number; oh: number; ow: number }

function checkInt(field: string, v: unknown, lo: number, hi = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`${field}: expected an integer in ${lo}..${hi === Number.MAX_SAFE_INTEGER ? '∞' : hi}, got ${String(v)}`);
  }
  return v;
}

function checkLength(field: string, arr: ArrayLike<number> | undefined, expected: number | number[]): void {
  const ok = Array.isArray(expected) ? expected : [expected];
  if (!arr || !ok.includes(arr.length)) {
    throw new RangeError(`${field}.length: expected ${ok.join(' or ')}, got ${arr ? arr.length : 'nothing'}`);
  }
}

function checkPositive(field: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) throw new RangeError(`${field}: expected a finite number > 0, got ${v}`);
}

function checkType(field: string, v: unknown, type: { name: string; prototype: object }): void {
  if (!(v instanceof (type as unknown as new () => object))) {
    throw new RangeError(`${field}: expected a ${type.name}, got ${v === null ? 'null' : typeof v === 'object' ? (v as object).constructor.name : typeof v}`);
  }
}

const containerBits = (bits: number) => (bits > 4 ? 8 : bits > 2 ? 4 : 2);

/**
 * GEMMs below this many multiply-adds stay on the calling thread: measured (best of 400 calls, 2
 * threads on 2 cores) at 0.07–0.1 M MACs (4–15 µs) the pool ran 0.92–1.02× one thread.
 */
const MIN_PARALLEL_MACS = 1 << 18;

export class Kernels {
  readonly heap: WasmHeap;
  private readonly live = new Set<number>();
  private readonly pool?: GemmPool;
  /** Why fewer threads run than were asked for (empty when they all run). */
  readonly threadNote: string;

  /** `threading`: the module and thread count of a shared-memory instance (threads > 1 starts the workers). */
  constructor(readonly build: BuildName, private readonly x: Exports, threading?: { module: WebAssembly.Module; threads: number; note?: string }) {
    this.heap = new WasmHeap(x.memory, x.heapBase());
    let note = threading?.note ?? '';
    if (threading && threading.threads > 1) {
      const ctl = this.heap.alloc(GemmPool.controlBytes(threading.threads));
      try {
        this.pool = new GemmPool(threading.module, x.memory, ctl, threading.threads);
      } catch (e) {
        // e.g. a content security policy that forbids blob: workers; the shared instance runs alone
        this.heap.release(ctl);
        note = `1 thread instead of ${threading.threads}: workers did not start (${(e as Error).message})`;
      }
    }
    this.threadNote = note;
  }

  /** Threads that run each large GEMM (1 without a pool). */
  get threads(): number { return this.pool?.threads ?? 1; }

  /** Workers started so far, threaded calls, their row blocks and the blocks the calling thread ran (undefined on one thread). */
  get poolStats(): { ready: number; calls: number; blocks: number; callerBlocks: number } | undefined {
    return this.pool && { ready: this.pool.ready, ...this.pool.stats };
  }

  /** Stops the worker threads (the kernels keep working on one thread). */
  dispose(): void { this.pool?.dispose(); }

  get memory(): WebAssembly.Memory { return this.x.memory; }

  /** A fresh byte view of the memory (views die when the memory grows). */
  u8(): Uint8Array { return new Uint8Array(this.x.memory.buffer); }

  /** Copies bytes into a resident block (e.g. a layer's stored int8 weights). */
  resident(bytes: Uint8Array | Int8Array): WasmBuffer {
    const ptr = this.heap.alloc(bytes.byteLength);
    this.u8().set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), ptr);
    return { ptr, bytes: bytes.byteLength };
  }

  /** Frees a block from resident(). */
  free(buf: WasmBuffer): void { this.heap.release(buf.ptr); }

  private put(view: ArrayBufferView): number {
    const ptr = this.heap.alloc(view.byteLength);
    this.u8().set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), ptr);
    return ptr;
  }

  private putF32(field: string, values: ArrayLike<number> | undefined): number {
    if (!values) return 0;
    return this.put(values instanceof Float32Array ? values : Float32Array.from(values));
  }

  private inMemory(view: ArrayBufferView): boolean { return view.buffer === this.x.memory.buffer; }

  /** eq. 1: float32 weights [n][k] → int8 with scale per tensor (length 1) or per row (length n). */
  quantizeWeights(w: Float32Array, scale: ArrayLike<number>, h: number, n: number): Int8Array {
    checkType('w', w, Float32Array);
    checkInt('h', h, 2, 8);
    checkInt('n', n, 1);
    if (w.length % n !== 0) throw new RangeError(`n: expected a divisor of w.length ${w.length}, got ${n}`);
    checkLength('scale', scale, [1, n]);
    for (let i = 0; i < scale.length; i++) checkPositive(`scale[${i}]`, scale[i]);
    const k = w.length / n;
    const src = this.put(w);
    const sc = this.putF32('scale', scale);
    const dst = this.heap.alloc(w.length);
    try {
      this.x.quantizeWeights(src, n, k, sc, scale.length === 1 ? 0 : 1, h, dst);
      return new Int8Array(this.x.memory.buffer.slice(dst, dst + w.length));
    } finally {
      this.heap.release(src); this.heap.release(sc); this.heap.release(dst);
    }
  }

  /**
   * eq. 4: float32 activations → unsigned `bits`-bit integers. `x` and `out` (length x.length) that
   * are views on the kernels' memory are used in place (no copies).
   */
  quantizeActivations(x: Float32Array, scale: number, bits: number, out?: Uint8Array): Uint8Array {
    checkType('x', x, Float32Array);
    checkPositive('scale', scale);
    checkInt('bits', bits, 1, 8);
    if (out !== undefined) { checkType('out', out, Uint8Array); checkLength('out', out, x.length); }
    if (x.buffer.byteLength === 0 || (out && out.buffer.byteLength === 0)) {
      throw new RangeError('x/out: expected live views; this one was detached when the kernels memory grew, take a fresh view');
    }
    const xIn = this.inMemory(x);
    const outIn = out !== undefined && this.inMemory(out);
    const srcIn = xIn ? x.byteOffset : 0;
    const dstIn = outIn ? out.byteOffset : 0;
    const src = xIn ? srcIn : this.put(x);
    const dst = outIn ? dstIn : this.heap.alloc(x.length);
    try {
      this.x.quantizeActivations(src, x.length, scale, bits, dst);
      if (outIn) return out.buffer === this.x.memory.buffer ? out : new Uint8Array(this.x.memory.buffer, dst, x.length);
      const result = out ?? new Uint8Array(x.length);
      result.set(new Uint8Array(this.x.memory.buffer, dst, x.length));
      return result;
    } finally {
      if (!xIn) this.heap.release(src);
      if (!outIn) this.heap.release(dst);
    }
  }

  private storedPtr(field: string, stored: Uint8Array | WasmBuffer, bytes: number): { ptr: number; temp: boolean } {
    const len = stored instanceof Uint8Array ? stored.length : stored?.bytes;
    if (len !== bytes) throw new RangeError(`${field}.length: expected ${bytes}, got ${len}`);
    if (stored instanceof Uint8Array) return { ptr: this.put(stored), temp: true };
    return { ptr: stored.ptr, temp: false };
  }

  /**
   * eq. 2: stored int_h [n][k] → stored int_l (format SPEC §5 layout), 2 ≤ l ≤ h ≤ 8. `out` (length
   * n·packedRowBytes(k, l)) is written in place when it is a view on the kernels' memory.
   */
  downcast(stored: Uint8Array | WasmBuffer, h: number, l: number, n: number, k: number, out?: Uint8Array): Uint8Array {
    checkInt('h', h, 2, 8);
    checkInt('l', l, 2, h);
    checkInt('n', n, 1);
    checkInt('k', k, 1);
    const bytes = n * packedRowBytes(k, l);
    if (out !== undefined) { checkType('out', out, Uint8Array); checkLength('out', out, bytes); }
    const inBytes = n * packedRowBytes(k, h);
    const len = stored instanceof Uint8Array ? stored.length : stored?.bytes;
    if (len !== inBytes) throw new RangeError(`stored.length: expected ${inBytes}, got ${len}`);
    const outIn = out !== undefined && this.inMemory(out);
    const outPtr = outIn ? out.byteOffset : 0;
    const src = this.storedPtr('stored', stored, inBytes);
    const dst = outIn ? outPtr : this.heap.alloc(bytes);
    try {
      this.x.downcast(src.ptr, h, dst, l, n, k);
      if (outIn) return out.buffer === this.x.memory.buffer ? out : new Uint8Array(this.x.memory.buffer, dst, bytes);
      const result = out ?? new Uint8Array(bytes);
      result.set(new Uint8Array(this.x.memory.buffer, dst, bytes));
      return result;
    } finally {
      if (src.temp) this.heap.release(src.ptr);
      if (!outIn) this.heap.release(dst);
    }
  }

  private pickFamily(bits: number, abits: number, family?: string): GemmFamily {
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
    return this.packed(ptr, bytes, family, bits, n, k);
  }

  private packed(ptr: number, bytes: number, family: GemmFamily, bits: number, n: number, k: number): PackedWeights {
    this.live.add(ptr);
    const self = this;
    return {
      ptr, bytes, family, bits, n, k,
      dispose() {
        if (self.live.delete(ptr)) self.heap.release(ptr);
      },
    };
  }

  /** Packs int8 values [n][k] (row n = output channel) of `bits` bits into resident GEMM panels. */
  packGemmWeights(valuesNK: Int8Array, bits: number, n: number, k: number, opts: { abits?: number; family?: string } = {}): PackedWeights {
    checkType('valuesNK', valuesNK, Int8Array);
    checkInt('bits', bits, 1, 8);
    checkInt('n', n, 1);
    checkInt('k', k, 1);
    checkLength('valuesNK', valuesNK, n * k);
    const abits = checkInt('abits', opts.abits ?? bits, 1, 8);
    const family = this.pickFamily(bits, abits, opts.family);
    const src = this.put(valuesNK);
    try {
      return this.packFrom(src, k, 8, bits, n, k, family);
    } finally {
      this.heap.release(src);
    }
  }

  /** Packs weights in the stored layout (format SPEC §5) at `bits` into resident GEMM panels. */
  packGemmWeightsStored(stored: Uint8Array | WasmBuffer, bits: number, n: number, k: number, opts: { abits?: number; family?: string } = {}): PackedWeights {
    checkInt('bits', bits, 1, 8);
    checkInt('n', n, 1);
    checkInt('k', k, 1);
    const abits = checkInt('abits', opts.abits ?? bits, 1, 8);
    const family = this.pickFamily(bits, abits, opts.family);
    const src = this.storedPtr('stored', stored, n * packedRowBytes(k, bits));
    try {
      return this.packFrom(src.ptr, packedRowBytes(k, bits), containerBits(bits), bits, n, k, family);
    } finally {
      if (src.temp) this.heap.release(src.ptr);
    }
  }

  /** Bit switch: stored int_h weights → eq. 2 down-cast to l bits → resident GEMM panels. */
  switchBits(stored: Uint8Array | WasmBuffer, h: number, l: number, n: number, k: number, opts: { abits?: number; family?: string } = {}): PackedWeights {
    checkInt('h', h, 2, 8);
    checkInt('l', l, 2, h);
    checkInt('n', n, 1);
    checkInt('k', k, 1);
    const abits = checkInt('abits', opts.abits ?? l, 1, 8);
    const family = this.pickFamily(l, abits, opts.family);
    const src = this.storedPtr('stored', stored, n * packedRowBytes(k, h));
    try {
      if (containerBits(h) === 8) {
        // eq. 2 and the panel transpose in one pass over the int8 rows
        return this.switchFused(src.ptr, h, l, n, k, family);
      }
      const row = packedRowBytes(k, l);
      const mid = this.heap.alloc(n * row);
      try {
        this.x.downcast(src.ptr, h, mid, l, n, k);
        return this.packFrom(mid, row, containerBits(l), l, n, k, family);
      } finally {
        this.heap.release(mid);
      }
    } finally {
      if (src.temp) this.heap.release(src.ptr);
    }
  }

  private switchFused(src: number, h: number, l: number, n: number, k: number, family: GemmFamily): PackedWeights {
    const bytes = this.panelBytes(l, n, k, family);
    const ptr = this.heap.alloc(bytes);
    const work = this.heap.alloc(this.x.switchWorkBytes(k, family.path));
    try {
      this.x.switchPanels(src, h, n, k, l, family.path, work, ptr);
    } finally {
      this.heap.release(work);
    }
    return this.packed(ptr, bytes, family, l, n, k);
  }

  /**
   * out[m][n] = epilogue(Σ_c a[m·lda + c]·W[n][c]). Float32 output with an epilogue, uint8 with
   * epilogue.requant, raw Int32 without an epilogue.
   */
  gemm(args: GemmArgs): Float32Array | Uint8Array | Int32Array {
    const { a, weights: wt, epilogue: ep } = args;
    checkType('a', a, Uint8Array);
    if (!wt || !this.live.has(wt.ptr) || typeof wt.family !== 'object') {
      throw new RangeError('weights: expected live PackedWeights from this Kernels instance');
    }
    const { m, k, lda, n } = this.gemmShape(a, args, wt);
    const abits = checkInt('abits', args.abits, 1, 8);
    if (!wt.family.supports(wt.bits, abits)) throw new RangeError(`abits: weights packed for ${wt.family.name} do not support a${abits} (w${wt.bits})`);
    if (ep) {
      checkLength('epilogue.wScale', ep.wScale, [1, n]);
      for (let i = 0; i < ep.wScale.length; i++) checkPositive(`epilogue.wScale[${i}]`, ep.wScale[i]);
      checkPositive('epilogue.aScale', ep.aScale);
      if (ep.bias) checkLength('epilogue.bias', ep.bias, n);
      if (ep.mul) checkLength('epilogue.mul', ep.mul, n);
      if (ep.add) checkLength('epilogue.add', ep.add, n);
      if (ep.requant) { checkPositive('epilogue.requant.scale', ep.requant.scale); checkInt('epilogue.requant.bits', ep.requant.bits, 1, 8); }
      this.checkResidual(ep.residual, m * n);
    }
    const OutType: Float32ArrayConstructor | Uint8ArrayConstructor | Int32ArrayConstructor = !ep ? Int32Array : ep.requant ? Uint8Array : Float32Array;
    if (args.out !== undefined) { checkType('out', args.out, OutType); checkLength('out', args.out, m * n); }
    const out = (args.out ?? new OutType(m * n)) as Float32Array | Uint8Array | Int32Array;

    // Decide in-place use before any allocation: growing the memory detaches views on it.
    const aIn = this.inMemory(a);
    const outIn = this.inMemory(out);
    const aPtr = aIn ? a.byteOffset : 0;
    const outPtr0 = outIn ? out.byteOffset : 0;
    const res = ep?.residual;
    const resIn = res !== undefined && this.inMemory(res);
    const resPtr0 = resIn ? res.byteOffset : 0;
    const scratchBytes = this.x.gemmScratchBytes(k, wt.family.path);
    const scratch = this.scratch(scratchBytes);
    this.workerScratch(scratchBytes);
    const epAt = ep ? this.epilogueScratch(5 * n) : 0;
    const temps: number[] = [];
    const tmp = (ptr: number) => (ptr && temps.push(ptr), ptr);
    try {
      const aAt = aIn ? aPtr : tmp(this.put(a));
      const maxA = this.x.maxBytes(aAt, m, k, lda);
      if (maxA >= 2 ** abits) throw new RangeError(`a: expected values in 0..${2 ** abits - 1} (abits ${abits}), found ${maxA}`);
      const outPtr = outIn ? outPtr0 : tmp(this.heap.alloc(out.byteLength));
      let epilogue: GemmJob['epilogue'] = [0, 0, 0, 0, 0, 0, 0, 8];
      if (ep) {
        const resAt = res === undefined ? 0 : resIn ? resPtr0 : tmp(this.put(res));
        // wScale, bias, mul, add and the combined scale in the reused epilogue block (no per-call allocation)
        const [ws, bias, mul, add, sc] = this.writeEpilogue(epAt, n, [ep.wScale, ep.bias, ep.mul, ep.add]);
        this.x.combineScales(ws, ep.wScale.length === 1 ? 0 : 1, Math.fround(ep.aScale), n, sc);
        epilogue = [sc, bias, mul, add, resAt, ep.relu ? 1 : 0, ep.requant ? Math.fround(ep.requant.scale) : 0, ep.requant ? ep.requant.bits : 8];
      }
      const chunk = wt.family.path === 0 ? 0 : Math.max(1, acc16Chunk(wt.bits, abits)); // 0 would never advance
      this.runGemm({
        op: 'int', a: aAt, lda, m, k, w: wt.ptr, wbits: wt.bits, n, path: wt.family.path, chunk, out: outPtr, outElt: OutType.BYTES_PER_ELEMENT, epilogue,
      }, scratch);
      return this.deliver(out, outIn, outPtr, OutType);
    } finally {
      for (const p of temps) this.heap.release(p);
    }
  }

  /** Packs float32 weights [n][k] (row n = output channel) into resident panels for gemmF32. */
  packGemmWeightsF32(valuesNK: Float32Array, n: number, k: number): PackedWeightsF32 {
    checkType('valuesNK', valuesNK, Float32Array);
    checkInt('n', n, 1);
    checkInt('k', k, 1);
    checkLength('valuesNK', valuesNK, n * k);
    const src = this.put(valuesNK);
    const bytes = Math.ceil(n / 8) * 8 * k * 4;
    const ptr = this.heap.alloc(bytes);
    try {
      this.x.packPanelsF32(src, n, k, ptr);
    } finally {
      this.heap.release(src);
    }
    this.live.add(ptr);
    const self = this;
    return { kind: 'f32', ptr, bytes, n, k, dispose() { if (self.live.delete(ptr)) self.heap.release(ptr); } };
  }

  /**
   * float32 GEMM (first/last float layers): out[m][n] = epilogue(Σ_k a[m·lda + k]·W[n][k]), summed in
   * k order without FMA (gemmF32Ref reproduces it bit for bit). uint8 output with epilogue.requant.
   */
  gemmF32(args: GemmF32Args): Float32Array | Uint8Array {
    const { a, weights: wt, epilogue: ep = {} } = args;
    checkType('a', a, Float32Array);
    if (!wt || wt.kind !== 'f32' || !this.live.has(wt.ptr)) throw new RangeError('weights: expected live PackedWeightsF32 from this Kernels instance');
    const { m, k, lda, n } = this.gemmShape(a, args, wt);
    if (ep.bias) checkLength('epilogue.bias', ep.bias, n);
    if (ep.mul) checkLength('epilogue.mul', ep.mul, n);
    if (ep.add) checkLength('epilogue.add', ep.add, n);
    if (ep.requant) { checkPositive('epilogue.requant.scale', ep.requant.scale); checkInt('epilogue.requant.bits', ep.requant.bits, 1, 8); }
    this.checkResidual(ep.residual, m * n);
    const OutType: Float32ArrayConstructor | Uint8ArrayConstructor = ep.requant ? Uint8Array : Float32Array;
    if (args.out !== undefined) { checkType('out', args.out, OutType); checkLength('out', args.out, m * n); }
    const out = (args.out ?? new OutType(m * n)) as Float32Array | Uint8Array;
    const aIn = this.inMemory(a);
    const outIn = this.inMemory(out);
    const aPtr = aIn ? a.byteOffset : 0;
    const outPtr0 = outIn ? out.byteOffset : 0;
    const res = ep.residual;
    const resIn = res !== undefined && this.inMemory(res);
    const resPtr0 = resIn ? res.byteOffset : 0;
    const scratch = this.scratch(4 * 8 * 4);
    this.workerScratch(4 * 8 * 4);
    const epAt = this.epilogueScratch(5 * n);
    const temps: number[] = [];
    const tmp = (ptr: number) => (ptr && temps.push(ptr), ptr);
    try {
      const aAt = aIn ? aPtr : tmp(this.put(a));
      const outPtr = outIn ? outPtr0 : tmp(this.heap.alloc(out.byteLength));
      const resAt = res === undefined ? 0 : resIn ? resPtr0 : tmp(this.put(res));
      const [ones, bias, mul, add] = this.writeEpilogue(epAt, n, [[1], ep.bias, ep.mul, ep.add]);
      new Float32Array(this.x.memory.buffer, ones, n).fill(1);
      this.runGemm({
        op: 'f32', a: aAt, lda, m, k, w: wt.ptr, wbits: 32, n, path: 0, chunk: 0, out: outPtr, outElt: OutType.BYTES_PER_ELEMENT,
        epilogue: [ones, bias, mul, add, resAt, ep.relu ? 1 : 0, ep.requant ? Math.fround(ep.requant.scale) : 0, ep.requant ? ep.requant.bits : 8],
      }, scratch);
      return this.deliver(out, outIn, outPtr, OutType);
    } finally {
      for (const p of temps) this.heap.release(p);
    }
  }

  /**
   * Runs one GEMM: on the calling thread, or split by rows across the pool when it is large enough.
   * Row blocks are multiples of the microkernel's 4 rows, so the tiles (and results) are the same.
   */
  private runGemm(job: GemmJob, scratch: number): void {
    const pool = this.pool;
    const tiles = (rows: number, parts: number) => Math.ceil(Math.ceil(rows / parts) / 4) * 4;
    // Up to 4 blocks per thread, so a thread the OS deschedules holds back only a small block;
    // at least 32 rows each (or one share per thread), since each block unpacks every weight tile again.
    const rows = pool ? Math.max(tiles(job.m, 4 * pool.threads), Math.min(32, tiles(job.m, pool.threads))) : job.m;
    if (!pool || job.m * job.n * job.k < MIN_PARALLEL_MACS || rows >= job.m) {
      this.x.setEpilogue(...job.epilogue);
      if (job.op === 'int') this.x.gemm(job.a, job.lda, job.m, job.k, job.w, job.wbits, job.n, job.path, job.chunk, scratch, job.out);
      else this.x.gemmF32(job.a, job.lda, job.m, job.k, job.w, job.n, scratch, job.out);
      return;
    }
    pool.run(this.x, scratch, job, rows, Math.ceil(job.m / rows));
  }

  /** Grow-only scratch blocks of the workers, like scratch() (allocate before taking views: it may grow the memory). */
  private workerScratch(bytes: number): void {
    const pool = this.pool;
    if (!pool) return;
    for (let i = 0; i < pool.threads - 1; i++) {
      const have = pool.scratchSize(i);
      if (bytes <= have) continue;
      const size = Math.max(bytes, have * 2);
      if (have) this.heap.release(this.workerScratchPtrs[i]);
      this.workerScratchPtrs[i] = this.heap.alloc(size);
      pool.setScratch(i, this.workerScratchPtrs[i], size);
    }
  }

  private readonly workerScratchPtrs: number[] = [];

  /** Shape checks shared by gemm and gemmF32: live views, m, k (= the packed K), lda, and A long enough. */
  private gemmShape(
    a: ArrayBufferView & { length: number }, args: { m: number; k: number; lda?: number; out?: ArrayBufferView }, wt: { k: number; n: number },
  ): { m: number; k: number; lda: number; n: number } {
    if (a.buffer.byteLength === 0 || (args.out && args.out.buffer.byteLength === 0)) {
      throw new RangeError('a/out: expected live views; this one was detached when the kernels memory grew, take a fresh view');
    }
    const m = checkInt('m', args.m, 1);
    const k = checkInt('k', args.k, wt.k, wt.k);
    const lda = checkInt('lda', args.lda ?? k, k);
    if (a.length < (m - 1) * lda + k) throw new RangeError(`a.length: expected at least (m-1)·lda+k = ${(m - 1) * lda + k}, got ${a.length}`);
    return { m, k, lda, n: wt.n };
  }

  /**
   * The GEMM result: copied out of wasm memory into a caller's JS array, or, when `out` was a view
   * on wasm memory, that view (a fresh one if the memory grew and detached it during the call).
   */
  private deliver<T extends Float32Array | Uint8Array | Int32Array>(
    out: T, outIn: boolean, outPtr: number, OutType: { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T },
  ): T {
    if (!outIn) {
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(new Uint8Array(this.x.memory.buffer, outPtr, out.byteLength));
      return out;
    }
    return out.buffer === this.x.memory.buffer ? out : new OutType(this.x.memory.buffer, outPtr, out.length);
  }

  private checkResidual(res: Float32Array | undefined, len: number): void {
    if (res === undefined) return;
    checkType('epilogue.residual', res, Float32Array);
    checkLength('epilogue.residual', res, len);
    if (res.buffer.byteLength === 0) throw new RangeError('epilogue.residual: expected a live view; this one was detached when the kernels memory grew, take a fresh view');
  }

  private epPtr = 0;
  private epSize = 0;

  /** A grow-only block for the epilogue vectors (floats), reused by every call. */
  private epilogueScratch(floats: number): number {
    if (4 * floats > this.epSize) {
      if (this.epPtr) this.heap.release(this.epPtr);
      this.epSize = Math.max(4 * floats, this.epSize * 2);
      this.epPtr = this.heap.alloc(this.epSize);
    }
    return this.epPtr;
  }

  /**
   * Writes up to four per-channel vectors (length 1 or n; absent = 0 pointer) into consecutive n-float
   * slots at `at` (call after every allocation of the call: it takes a view). Returns their addresses and a fifth free slot.
   */
  private writeEpilogue(at: number, n: number, vecs: (ArrayLike<number> | undefined)[]): number[] {
    const f = new Float32Array(this.x.memory.buffer, at, 5 * n);
    const ptrs = vecs.map((v, i) => {
      if (!v) return 0;
      if (v instanceof Float32Array) f.set(v, i * n);
      else for (let j = 0; j < v.length; j++) f[i * n + j] = v[j];
      return at + 4 * i * n;
    });
    return [...ptrs, at + 16 * n];
  }

  private scratchPtr = 0;
  private scratchSize = 0;

  /** A grow-only scratch block reused by every call, so steady-state calls never grow the memory. */
  private scratch(bytes: number): number {
    if (bytes > this.scratchSize) {
      if (this.scratchPtr) this.heap.release(this.scratchPtr);
      this.scratchSize = Math.max(bytes, this.scratchSize * 2);
      this.scratchPtr = this.heap.alloc(this.scratchSize);
    }
    return this.scratchPtr;
  }

  /** Bytes held by packed weights and resident buffers (the call scratch excluded). */
  get residentBytes(): number {
    const workers = this.workerScratchPtrs.reduce((s, p) => s + this.heap.sizeOf(p), 0);
    return this.heap.used - (this.scratchPtr ? this.heap.sizeOf(this.scratchPtr) : 0) - (this.epPtr ? this.heap.sizeOf(this.epPtr) : 0) - workers;
  }

  /** im2col of NHWC images (TensorFlow 'same'/'valid' padding): rows (b, oy, ox), columns (ky, kx, c). */
  im2col<T extends Uint8Array | Float32Array>(args: Im2colArgs<T>): Im2colResult<T> {
    const { input } = args;
    if (!(input instanceof Uint8Array) && !(input instanceof Float32Array)) {
      throw new RangeError(`input: expected a Uint8Array or Float32Array, got ${typeof input}`);
    }
    const batch = checkInt('batch', args.batch ?? 1, 1);
    const h = checkInt('h', args.h, 1), w = checkInt('w', args.w, 1), c = checkInt('c', args.c, 1);
    const kh = checkInt('kh', args.kh, 1), kw = checkInt('kw', args.kw, 1);
    const [sh, sw] = typeof args.stride === 'object' ? args.stride : [args.stride ?? 1, args.stride ?? 1];
    checkInt('stride[0]', sh, 1); checkInt('stride[1]', sw, 1);
    if (args.padding !== 'same' && args.padding !== 'valid') throw new RangeError(`padding: expected 'same' or 'valid', got ${String(args.padding)}`);
    if (args.padding === 'valid' && (kh > h || kw > w)) throw new RangeError(`kh, kw: expected ≤ h, w = ${h}, ${w} with 'valid' padding, got ${kh}, ${kw}`);
    checkLength('input', input, batch * h * w * c);
    const g = convGeometry(h, w, kh, kw, sh, sw, args.padding);
    const cols = kh * kw * c;
    const rows = batch * g.oh * g.ow;
    const elt = input.BYTES_PER_ELEMENT;
    const Type = input.constructor as { new(buf: ArrayBuffer, off: number, len: number): T; new(len: number): T };
    if (args.out !== undefined) {
      checkType('out', args.out, Type as never);
      checkLength('out', args.out, rows * cols);
    }
    if (input.buffer.byteLength === 0 || (args.out && args.out.buffer.byteLength === 0)) {
      throw new RangeError('input/out: expected live views; this one was detached when the kernels memory grew, take a fresh view');
    }
    // input and out used in place when they are views on the kernels' memory (decided before any allocation)
    const inIn = this.inMemory(input);
    const out = args.out;
    const outIn = out !== undefined && this.inMemory(out);
    const srcIn = inIn ? input.byteOffset : 0;
    const dstIn = outIn ? out.byteOffset : 0;
    const temps: number[] = [];
    try {
      const src = inIn ? srcIn : (temps.push(this.put(input)), temps[temps.length - 1]);
      const dst = outIn ? dstIn : (temps.push(this.heap.alloc(rows * cols * elt)), temps[temps.length - 1]);
      this.x.im2col(src, batch, h, w, c, kh, kw, sh, sw, g.padTop, g.padLeft, g.oh, g.ow, elt, dst);
      let data: T;
      if (outIn) {
        data = out.buffer === this.x.memory.buffer ? out : new Type(this.x.memory.buffer as ArrayBuffer, dst, rows * cols);
      } else {
        const bytes = new Uint8Array(this.x.memory.buffer, dst, rows * cols * elt);
        data = out ?? new Type(rows * cols);
        new Uint8Array(data.buffer, data.byteOffset, data.byteLength).set(bytes);
      }
      return { data, rows, cols, oh: g.oh, ow: g.ow };
    } finally {
      for (const p of temps) this.heap.release(p);
    }
  }
}

function pickBuild(opts: LoadOptions): BuildName {
  if (opts.build !== undefined) {
    const b = checkBuild(opts.build);
    if (!WebAssembly.validate(buildBytes(b))) {
      throw new RangeError(`build: ${b} does not validate on this engine (available: ${availableBuilds().join(', ')})`);
    }
    return b;
  }
  const best = availableBuilds()[0];
  if (!best) throw new Error('kernels: no build validates on this engine');
  return best;
}

/** Pages of the shared memory: 16 at the start (as the single-thread builds), at most 1 GiB. */
const SHARED_PAGES = { initial: 16, maximum: 16384 };

/** The threads a load will run, and why fewer when they are. */
function threadPlan(opts: LoadOptions): { threads: number; note?: string } {
  const threads = checkInt('threads', opts.threads ?? 1, 1, 256);
  if (threads === 1) return { threads };
  const why = threadsUnavailable();
  return why ? { threads: 1, note: `1 thread instead of ${threads}: ${why}` } : { threads };
}

function instantiate(build: BuildName, module: WebAssembly.Module, plan: { threads: number; note?: string }, shared: boolean, instance: WebAssembly.Instance): Kernels {
  return new Kernels(build, instance.exports as unknown as Exports, shared ? { module, ...plan } : { module, threads: 1, note: plan.note });
}

/** Instantiates a build asynchronously (browsers' main thread need this). */
export async function loadKernels(opts: LoadOptions = {}): Promise<Kernels> {
  const build = pickBuild(opts);
  const plan = threadPlan(opts);
  const shared = plan.threads > 1;
  const module = await WebAssembly.compile(shared ? sharedBuildBytes(build) : buildBytes(build));
  const imports: WebAssembly.Imports = shared ? { env: { memory: new WebAssembly.Memory({ ...SHARED_PAGES, shared: true }) } } : {};
  return instantiate(build, module, plan, shared, await WebAssembly.instantiate(module, imports));
}

/** Instantiates a build synchronously (Node, workers). */
export function createKernels(opts: LoadOptions = {}): Kernels {
  const build = pickBuild(opts);
  const plan = threadPlan(opts);
  const shared = plan.threads > 1;
  const module = new WebAssembly.Module(shared ? sharedBuildBytes(build) : buildBytes(build));
  const imports: WebAssembly.Imports = shared ? { env: { memory: new WebAssembly.Memory({ ...SHARED_PAGES, shared: true }) } } : {};
  return instantiate(build, module, plan, shared, new WebAssembly.Instance(module, imports));
}
