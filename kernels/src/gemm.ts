// The GEMM calls of the Kernels object: checks, the epilogue vectors, and the run on the calling
// thread or split across the worker pool.
import { acc16Chunk, lutChunk } from './families.ts';
import type { Exports } from './exports.ts';
import { GrowBlock, type WasmHeap } from './heap.ts';
import { Marshal } from './marshal.ts';
import type { ConvJob, GemmPool, GemmJob } from './pool.ts';
import type { ConvGemmArgs, Epilogue, GemmArgs, GemmF32Args, PackedWeights, PackedWeightsF32 } from './types.ts';
import { checkConvWindow, checkEpilogueParts, checkInt, checkLength, checkLive, checkPositive, checkType } from './validate.ts';

/**
 * GEMMs below this many multiply-adds stay on the calling thread: measured (best of 400 calls, 2
 * threads on 2 cores) at 0.07–0.1 M MACs (4–15 µs) the pool ran 0.92–1.02× one thread.
 */
const MIN_PARALLEL_MACS = 1 << 18;

/** setEpilogueCodes's arguments: the codes output's address, scale (as float32) and bits; address 0 = none. */
function codesJob(codes: { scale: number; bits: number } | undefined, ptr: number): GemmJob['codes'] {
  return codes ? [ptr, Math.fround(codes.scale), codes.bits] : [0, 0, 8];
}

/** Bytes of the float32 GEMM's scratch: one 4×8 float32 tile. */
const F32_SCRATCH = 4 * 8 * 4;

export class GemmCalls {
  /** The calling thread's scratch, the epilogue vectors, and one scratch block per worker. */
  private readonly scratch: GrowBlock;
  private readonly epilogueBlock: GrowBlock;
  private readonly workerScratch: GrowBlock[];

  constructor(private readonly x: Exports, private readonly heap: WasmHeap, private readonly live: Set<number>, private readonly pool?: GemmPool) {
    this.scratch = new GrowBlock(heap);
    this.epilogueBlock = new GrowBlock(heap);
    this.workerScratch = Array.from({ length: pool ? pool.threads - 1 : 0 }, () => new GrowBlock(heap));
  }

  /** Heap bytes held by the scratch blocks. */
  get scratchBytes(): number {
    return this.scratch.held + this.epilogueBlock.held + this.workerScratch.reduce((s, b) => s + b.held, 0);
  }

  gemm(args: GemmArgs): Float32Array | Uint8Array | Int32Array {
    const { a } = args;
    checkType('a', a, Uint8Array);
    const wt = this.liveWeights(args.weights);
    const { m, k, lda, n } = this.shape(a, args, wt);
    return this.intGemm(args, wt, m, k, n, { field: 'a', view: a, rows: m, cols: k, ld: lda }, { op: 'int', lda }, this.x.gemmScratchBytes(k, wt.family.path));
  }

  convGemm(args: ConvGemmArgs): Float32Array | Uint8Array | Int32Array {
    checkType('input', args.input, Uint8Array);
    const wt = this.liveWeights(args.weights);
    const g = checkConvWindow(args);
    const k = g.kh * g.kw * g.c;
    if (wt.k !== k) throw new RangeError(`weights.k: expected kh·kw·c = ${k}, got ${wt.k}`);
    checkLive('input/out', args.input, args.out);
    const conv: ConvJob = [g.h, g.w, g.c, g.kh, g.kw, g.sh, g.sw, g.padTop, g.padLeft, g.oh, g.ow];
    return this.intGemm(args, wt, g.batch * g.oh * g.ow, k, wt.n, { field: 'input', view: args.input, rows: g.batch * g.h * g.w, cols: g.c, ld: g.c },
      { op: 'conv', lda: 0, conv }, this.x.convGemmScratchBytes(k, g.c, g.kh, g.kw, wt.family.path));
  }

  private liveWeights(wt: PackedWeights): PackedWeights {
    if (!wt || !this.live.has(wt.ptr) || typeof wt.family !== 'object') {
      throw new RangeError('weights: expected live PackedWeights from this Kernels instance');
    }
    return wt;
  }

  /**
   * The integer GEMM of gemm and convGemm after their shape checks: A (`a`: the view, and the rows ×
   * cols bytes checked against abits) by the packed weights, the epilogue, the run.
   */
  private intGemm(
    args: { abits: number; epilogue?: Epilogue; out?: Float32Array | Uint8Array | Int32Array; checkA?: boolean }, wt: PackedWeights, m: number, k: number, n: number,
    a: { field: string; view: Uint8Array; rows: number; cols: number; ld: number }, job: Pick<GemmJob, 'op' | 'lda' | 'conv'>, scratchBytes: number,
  ): Float32Array | Uint8Array | Int32Array {
    const { epilogue: ep } = args;
    const abits = checkInt('abits', args.abits, 1, 8);
    if (!wt.family.supports(wt.bits, abits)) throw new RangeError(`abits: weights packed for ${wt.family.name} do not support a${abits} (w${wt.bits})`);
    if (ep) {
      checkLength('epilogue.wScale', ep.wScale, [1, n]);
      for (let i = 0; i < ep.wScale.length; i++) checkPositive(`epilogue.wScale[${i}]`, ep.wScale[i]);
      checkPositive('epilogue.aScale', ep.aScale);
      checkEpilogueParts(ep, m, n);
    }
    const OutType: Float32ArrayConstructor | Uint8ArrayConstructor | Int32ArrayConstructor = !ep ? Int32Array : ep.requant ? Uint8Array : Float32Array;
    if (args.out !== undefined) { checkType('out', args.out, OutType); checkLength('out', args.out, m * n); }

    const call = new Marshal(this.heap, this.x.memory);
    const aAt = call.place(a.view), outAt = call.place(args.out), resAt = call.place(ep?.residual), codesAt = call.place(ep?.codes?.out);
    const scratch = this.reserveScratch(scratchBytes);
    const epAt = ep ? this.epilogueBlock.reserve(4 * 5 * n) : 0;
    try {
      const aPtr = call.input(aAt);
      const maxA = args.checkA === false ? 0 : this.x.maxBytes(aPtr, a.rows, a.cols, a.ld);
      if (maxA >= 2 ** abits) throw new RangeError(`${a.field}: expected values in 0..${2 ** abits - 1} (abits ${abits}), found ${maxA}`);
      const outPtr = call.output(outAt, m * n * OutType.BYTES_PER_ELEMENT);
      const codesPtr = ep?.codes ? call.output(codesAt, m * n) : 0;
      let epilogue: GemmJob['epilogue'] = [0, 0, 0, 0, 0, 0, 0, 8];
      if (ep) {
        const res = call.input(resAt);
        // wScale, bias, mul, add and the combined scale in the reused epilogue block (no per-call allocation)
        const [ws, bias, mul, add, sc] = this.writeVectors(epAt, n, [ep.wScale, ep.bias, ep.mul, ep.add]);
        this.x.combineScales(ws, ep.wScale.length === 1 ? 0 : 1, Math.fround(ep.aScale), n, sc);
        epilogue = [sc, bias, mul, add, res, ep.relu ? 1 : 0, ep.requant ? Math.fround(ep.requant.scale) : 0, ep.requant ? ep.requant.bits : 8];
      }
      // sums per widening of the dot8 and lut16 microkernels (0 would never advance)
      const path = wt.family.path;
      const chunk = path === 0 || path === 3 ? 0 : Math.max(1, path === 1 ? acc16Chunk(wt.bits, abits) : lutChunk(abits));
      this.run({
        op: job.op, lda: job.lda, conv: job.conv, a: aPtr, m, k, w: wt.ptr, wbits: wt.bits, n, path: wt.family.path, chunk, out: outPtr, outElt: OutType.BYTES_PER_ELEMENT, epilogue,
        codes: codesJob(ep?.codes, codesPtr),
      }, scratch);
      if (ep?.codes) call.result(codesAt, codesPtr, Uint8Array, m * n);
      return call.result(outAt, outPtr, OutType as Int32ArrayConstructor, m * n);
    } finally {
      call.release();
    }
  }

  gemmF32(args: GemmF32Args): Float32Array | Uint8Array {
    const { a, weights: wt, epilogue: ep = {} } = args;
    checkType('a', a, Float32Array);
    if (!wt || wt.kind !== 'f32' || !this.live.has(wt.ptr)) throw new RangeError('weights: expected live PackedWeightsF32 from this Kernels instance');
    const { m, k, lda, n } = this.shape(a, args, wt);
    checkEpilogueParts(ep, m, n);
    const OutType: Float32ArrayConstructor | Uint8ArrayConstructor = ep.requant ? Uint8Array : Float32Array;
    if (args.out !== undefined) { checkType('out', args.out, OutType); checkLength('out', args.out, m * n); }

    const call = new Marshal(this.heap, this.x.memory);
    const aAt = call.place(a), outAt = call.place(args.out), resAt = call.place(ep.residual), codesAt = call.place(ep.codes?.out);
    const scratch = this.reserveScratch(F32_SCRATCH);
    const epAt = this.epilogueBlock.reserve(4 * 5 * n);
    try {
      const aPtr = call.input(aAt);
      const outPtr = call.output(outAt, m * n * OutType.BYTES_PER_ELEMENT);
      const codesPtr = ep.codes ? call.output(codesAt, m * n) : 0;
      const res = call.input(resAt);
      const [ones, bias, mul, add] = this.writeVectors(epAt, n, [[1], ep.bias, ep.mul, ep.add]);
      new Float32Array(this.x.memory.buffer, ones, n).fill(1);
      this.run({
        op: 'f32', a: aPtr, lda, m, k, w: wt.ptr, wbits: 32, n, path: 0, chunk: 0, out: outPtr, outElt: OutType.BYTES_PER_ELEMENT,
        epilogue: [ones, bias, mul, add, res, ep.relu ? 1 : 0, ep.requant ? Math.fround(ep.requant.scale) : 0, ep.requant ? ep.requant.bits : 8],
        codes: codesJob(ep.codes, codesPtr),
      }, scratch);
      if (ep.codes) call.result(codesAt, codesPtr, Uint8Array, m * n);
      return call.result(outAt, outPtr, OutType as Float32ArrayConstructor, m * n);
    } finally {
      call.release();
    }
  }

  /** The calling thread's scratch and every worker's, at least `bytes` each; returns the caller's. */
  private reserveScratch(bytes: number): number {
    this.workerScratch.forEach((block, i) => this.pool!.setScratch(i, block.reserve(bytes)));
    return this.scratch.reserve(bytes);
  }

  /**
   * Runs one GEMM: on the calling thread, or split by rows across the pool when it is large enough.
   * Row blocks are multiples of the microkernel's 4 rows, so the tiles (and results) are the same.
   */
  /** While true every GEMM runs on the calling thread (the family chooser's timings: a pool hand-off would dwarf its small GEMMs). */
  serial = false;

  private run(job: GemmJob, scratch: number): void {
    const pool = this.serial ? undefined : this.pool;
    const tiles = (rows: number, parts: number) => Math.ceil(Math.ceil(rows / parts) / 4) * 4;
    // Up to 4 blocks per thread, so a thread the OS deschedules holds back only a small block;
    // at least 32 rows each (or one share per thread), since each block unpacks every weight tile again.
    const rows = pool ? Math.max(tiles(job.m, 4 * pool.threads), Math.min(32, tiles(job.m, pool.threads))) : job.m;
    if (!pool || job.m * job.n * job.k < MIN_PARALLEL_MACS || rows >= job.m) {
      this.x.setEpilogue(...job.epilogue);
      if (job.codes[0]) this.x.setEpilogueCodes(...job.codes);
      if (job.op === 'int') this.x.gemm(job.a, job.lda, job.m, job.k, job.w, job.wbits, job.n, job.path, job.chunk, scratch, job.out);
      else if (job.op === 'conv') {
        this.x.setConv(...job.conv!);
        this.x.convGemm(job.a, 0, job.m, job.k, job.w, job.wbits, job.n, job.path, job.chunk, scratch, job.out);
      } else this.x.gemmF32(job.a, job.lda, job.m, job.k, job.w, job.n, scratch, job.out);
      return;
    }
    pool.run(this.x, scratch, job, rows, Math.ceil(job.m / rows));
  }

  /** Shape checks shared by gemm and gemmF32: live views, m, k (= the packed K), lda, and A long enough. */
  private shape(
    a: ArrayBufferView & { length: number }, args: { m: number; k: number; lda?: number; out?: ArrayBufferView }, wt: PackedWeights | PackedWeightsF32,
  ): { m: number; k: number; lda: number; n: number } {
    checkLive('a/out', a, args.out);
    const m = checkInt('m', args.m, 1);
    const k = checkInt('k', args.k, wt.k, wt.k);
    const lda = checkInt('lda', args.lda ?? k, k);
    if (a.length < (m - 1) * lda + k) throw new RangeError(`a.length: expected at least (m-1)·lda+k = ${(m - 1) * lda + k}, got ${a.length}`);
    return { m, k, lda, n: wt.n };
  }

  /**
   * Writes up to four per-channel vectors (length 1 or n; absent = 0 pointer) into consecutive n-float
   * slots at `at` (call after every allocation of the call: it takes a view). Returns their addresses and a fifth free slot.
   */
  private writeVectors(at: number, n: number, vecs: (ArrayLike<number> | undefined)[]): number[] {
    const f = new Float32Array(this.x.memory.buffer, at, 5 * n);
    const ptrs = vecs.map((v, i) => {
      if (!v) return 0;
      if (v instanceof Float32Array) f.set(v, i * n);
      else for (let j = 0; j < v.length; j++) f[i * n + j] = v[j];
      return at + 4 * i * n;
    });
    return [...ptrs, at + 16 * n];
  }
}
