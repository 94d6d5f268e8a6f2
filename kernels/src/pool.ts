// Threads for the GEMMs: workers that instantiate the same module on the same shared memory and
// split one GEMM's rows (M) with the calling thread, as XNNPACK's pthreadpool does. The hand-off
// is a control block in the shared memory: the caller writes the job and bumps a generation
// counter; workers spin briefly on it, then sleep in Atomics.wait. Row blocks are claimed with a
// compare-exchange on a (generation, next block) word, so a late or descheduled worker never
// stalls a call (the caller takes the blocks it does not claim) and never touches a newer job.
// Blocks start at multiples of the microkernel's 4 rows, so every tile, and every result bit, is
// what one thread computes.

/** Int32 slots of the control block. */
const GEN = 0, CLAIM = 1, DONE = 2, CHUNKS = 3, QUIT = 4, READY = 5, JOB = 8, CONV = 32, SCRATCH = 48;
/** Job fields from JOB: op, a, lda, m, k, w, wbits, n, path, chunk, out, outElt, rows, then the epilogue (8) and its codes output (3). */
const EP = JOB + 13;
/** From CONV: setConv's 11 arguments (the window of a convolution job, op 3). */
/**
 * The claim word: the next block in bits 0–10 (blocks ≤ 4 per thread × 256 threads), the
 * generation's low 20 bits above (a stale worker would need to sleep through 2^20 jobs to match).
 */
const NEXT_BITS = 11, NEXT_MASK = (1 << NEXT_BITS) - 1, TAG_MASK = 0x7fffffff & ~NEXT_MASK, GEN_MASK = TAG_MASK >>> NEXT_BITS;

/**
 * One participant's work on the current job (caller and workers run this same source): claim row
 * blocks of this generation until none is left; returns the number of blocks done.
 */
const PARTICIPATE = `function participate(x, ctl, f32, scratch) {
  const tag = (Atomics.load(ctl, ${GEN}) & ${GEN_MASK}) << ${NEXT_BITS};
  const op = ctl[${JOB}], a = ctl[${JOB + 1}], lda = ctl[${JOB + 2}], m = ctl[${JOB + 3}], k = ctl[${JOB + 4}], w = ctl[${JOB + 5}];
  const wbits = ctl[${JOB + 6}], n = ctl[${JOB + 7}], path = ctl[${JOB + 8}], chunk = ctl[${JOB + 9}], out = ctl[${JOB + 10}];
  const outElt = ctl[${JOB + 11}], rows = ctl[${JOB + 12}], chunks = ctl[${CHUNKS}], res = ctl[${EP + 4}], codes = ctl[${EP + 8}];
  if (op === 3) x.setConv(${Array.from({ length: 11 }, (_, i) => `ctl[${CONV + i}]`).join(', ')});
  let did = 0;
  for (;;) {
    const v = Atomics.load(ctl, ${CLAIM});
    if ((v & ${TAG_MASK}) !== tag || (v & ${NEXT_MASK}) >= chunks) return did;
    if (Atomics.compareExchange(ctl, ${CLAIM}, v, v + 1) !== v) continue;
    const m0 = (v & ${NEXT_MASK}) * rows, mi = Math.min(rows, m - m0);
    x.setEpilogue(ctl[${EP}], ctl[${EP + 1}], ctl[${EP + 2}], ctl[${EP + 3}], res ? res + m0 * n * 4 : 0, ctl[${EP + 5}], f32[${EP + 6}], ctl[${EP + 7}]);
    if (codes) x.setEpilogueCodes(codes + m0 * n, f32[${EP + 9}], ctl[${EP + 10}]);
    if (op === 1) x.gemm(a + m0 * lda, lda, mi, k, w, wbits, n, path, chunk, scratch, out + m0 * n * outElt);
    else if (op === 3) x.convGemm(a, m0, mi, k, w, wbits, n, path, chunk, scratch, out + m0 * n * outElt);
    else x.gemmF32(a + m0 * lda * 4, lda, mi, k, w, n, scratch, out + m0 * n * outElt);
    did++;
    if (Atomics.add(ctl, ${DONE}, 1) + 1 === chunks) Atomics.notify(ctl, ${DONE});
  }
}`;

/** A worker's life: instantiate, then wait for generations and take part in each, until QUIT. */
const WORKER_LOOP = `function workerLoop(data, participate) {
  const { module, memory, ctlPtr, index, workers, spin } = data;
  const x = new WebAssembly.Instance(module, { env: { memory } }).exports;
  const ctl = new Int32Array(memory.buffer, ctlPtr, ${SCRATCH} + workers);
  const f32 = new Float32Array(memory.buffer, ctlPtr, ${SCRATCH});
  let seen = Atomics.load(ctl, ${GEN});
  Atomics.add(ctl, ${READY}, 1);
  for (;;) {
    let spins = 0;
    while (Atomics.load(ctl, ${GEN}) === seen) {
      if (++spins > spin) { Atomics.wait(ctl, ${GEN}, seen); spins = 0; }
    }
    seen = Atomics.load(ctl, ${GEN});
    if (Atomics.load(ctl, ${QUIT})) return;
    participate(x, ctl, f32, ctl[${SCRATCH} + index]);
  }
}`;

const NODE_WORKER = `const { workerData } = require('node:worker_threads');
(${WORKER_LOOP})(workerData, ${PARTICIPATE});`;
const WEB_WORKER = `self.onmessage = (e) => { self.onmessage = null; (${WORKER_LOOP})(e.data, ${PARTICIPATE}); close(); };`;

/** What a participant calls: the GEMM exports of one instance. */
export interface GemmExports {
  setEpilogue(scale: number, bias: number, mul: number, add: number, residual: number, relu: number, rqScale: number, rqBits: number): void;
  setEpilogueCodes(codes: number, scale: number, bits: number): void;
  gemm(a: number, lda: number, m: number, k: number, w: number, wbits: number, n: number, path: number, chunk: number, scratch: number, out: number): void;
  gemmF32(a: number, lda: number, m: number, k: number, w: number, n: number, scratch: number, out: number): void;
  setConv(h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, padTop: number, padLeft: number, oh: number, ow: number): void;
  convGemm(src: number, r0: number, m: number, k: number, w: number, wbits: number, n: number, path: number, chunk: number, scratch: number, out: number): void;
}

/** setConv's arguments: input h, w, c, kernel kh, kw, strides sh, sw, leading padding, output oh, ow. */
export type ConvJob = [h: number, w: number, c: number, kh: number, kw: number, sh: number, sw: number, padTop: number, padLeft: number, oh: number, ow: number];

/** One GEMM for the pool: addresses in the shared memory, rows split in blocks of `rows`. */
export interface GemmJob {
  /** 'conv': convGemm over the NHWC input at `a` with the window `conv` (lda unused). */
  op: 'int' | 'f32' | 'conv';
  a: number; lda: number; m: number; k: number; w: number; wbits: number; n: number; path: number; chunk: number;
  out: number; outElt: number;
  /** setEpilogue's arguments, residual for row 0. */
  epilogue: [scale: number, bias: number, mul: number, add: number, residual: number, relu: number, rqScale: number, rqBits: number];
  /** setEpilogueCodes's arguments for row 0 (address 0: no codes output). */
  codes: [codes: number, scale: number, bits: number];
  conv?: ConvJob;
}

type AnyWorker = { terminate(): unknown; unref?(): void; postMessage?(m: unknown): void };

/** Where threads can run: shared memory, atomics and a worker API. Returns why not, or undefined. */
export function threadsUnavailable(): string | undefined {
  const g = globalThis as { SharedArrayBuffer?: unknown; Atomics?: unknown; crossOriginIsolated?: boolean; Worker?: unknown; process?: { versions?: { node?: string } } };
  if (typeof g.SharedArrayBuffer !== 'function' || typeof g.Atomics !== 'object') return 'no SharedArrayBuffer/Atomics on this engine';
  if (g.process?.versions?.node) return nodeWorkers() ? undefined : 'node:worker_threads is not reachable (process.getBuiltinModule missing: Node < 20.16)';
  if (g.crossOriginIsolated !== true) return 'the page is not cross-origin isolated (serve it with COOP: same-origin and COEP: require-corp)';
  if (typeof g.Worker !== 'function') return 'no Worker on this engine';
  return undefined;
}

type NodeWorkerCtor = new (src: string, opts: { eval: true; workerData: unknown }) => AnyWorker;
function nodeWorkers(): NodeWorkerCtor | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => { Worker: NodeWorkerCtor } } }).process;
  return p?.getBuiltinModule?.('node:worker_threads')?.Worker;
}

/** Spin iterations before sleeping: long enough to bridge the gap between two layers' GEMMs. */
const SPIN = 200_000;

export class GemmPool {
  private readonly ctl: Int32Array;
  private readonly f32: Float32Array;
  private readonly workers: AnyWorker[] = [];
  private readonly participate: (x: GemmExports, ctl: Int32Array, f32: Float32Array, scratch: number) => number;
  private gen = 0;
  private readonly canWait: boolean;

  /**
   * `threads − 1` workers on `memory` (shared) running `module`; `ctlPtr` is a block of
   * controlBytes(threads) bytes of that memory owned by the pool.
   */
  constructor(module: WebAssembly.Module, memory: WebAssembly.Memory, readonly ctlPtr: number, readonly threads: number) {
    const workers = threads - 1;
    this.ctl = new Int32Array(memory.buffer, ctlPtr, SCRATCH + workers);
    this.f32 = new Float32Array(memory.buffer, ctlPtr, SCRATCH);
    this.ctl.fill(0);
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    this.participate = new Function(`return ${PARTICIPATE}`)();
    const NodeWorker = nodeWorkers();
    this.canWait = !!NodeWorker; // a browser's main thread may not block in Atomics.wait
    for (let index = 0; index < workers; index++) {
      const data = { module, memory, ctlPtr, index, workers, spin: SPIN };
      if (NodeWorker) {
        const wk = new NodeWorker(NODE_WORKER, { eval: true, workerData: data });
        wk.unref?.(); // idle workers never keep a process alive
        this.workers.push(wk);
      } else {
        const W = (globalThis as unknown as { Worker: new (url: string) => AnyWorker }).Worker;
        const url = URL.createObjectURL(new Blob([WEB_WORKER], { type: 'text/javascript' }));
        const wk = new W(url);
        wk.postMessage!(data);
        this.workers.push(wk);
      }
    }
  }

  static controlBytes(threads: number): number { return 4 * (SCRATCH + threads); }

  /** Threaded calls, their row blocks, and the blocks the calling thread ran itself. */
  readonly stats = { calls: 0, blocks: 0, callerBlocks: 0 };

  /** Workers that have started (the others join at a later job). */
  get ready(): number { return Atomics.load(this.ctl, READY); }

  /**
   * Resolves once every worker has started, or after `timeoutMs` (late workers join at a later job).
   * A browser starts a worker only while its page's main thread is idle, so a page that runs GEMMs
   * straight after creating the pool would run them alone: waiting here yields to the event loop.
   */
  async whenReady(timeoutMs = 10_000): Promise<boolean> {
    const end = Date.now() + timeoutMs;
    while (this.ready < this.threads - 1) {
      if (Date.now() >= end) return false;
      await new Promise((r) => setTimeout(r, 1));
    }
    return true;
  }

  /** Worker i's scratch block: the caller allocates it (grow-only) and records it here. */
  setScratch(i: number, ptr: number): void { this.ctl[SCRATCH + i] = ptr; }

  /** Runs `job` on the caller (`x`, `scratch`) and the workers, `blocks` row blocks of `rows` rows; returns when all are done. */
  run(x: GemmExports, scratch: number, job: GemmJob, rows: number, blocks: number): void {
    const c = this.ctl;
    c[JOB] = job.op === 'int' ? 1 : job.op === 'conv' ? 3 : 2;
    if (job.conv) c.set(job.conv, CONV);
    c[JOB + 1] = job.a; c[JOB + 2] = job.lda; c[JOB + 3] = job.m; c[JOB + 4] = job.k; c[JOB + 5] = job.w;
    c[JOB + 6] = job.wbits; c[JOB + 7] = job.n; c[JOB + 8] = job.path; c[JOB + 9] = job.chunk; c[JOB + 10] = job.out;
    c[JOB + 11] = job.outElt; c[JOB + 12] = rows;
    const e = job.epilogue;
    c[EP] = e[0]; c[EP + 1] = e[1]; c[EP + 2] = e[2]; c[EP + 3] = e[3]; c[EP + 4] = e[4]; c[EP + 5] = e[5];
    this.f32[EP + 6] = e[6]; c[EP + 7] = e[7];
    c[EP + 8] = job.codes[0]; this.f32[EP + 9] = job.codes[1]; c[EP + 10] = job.codes[2];
    c[DONE] = 0;
    c[CHUNKS] = blocks;
    this.gen = (this.gen + 1) | 0;
    if (blocks > NEXT_MASK) throw new RangeError(`blocks: expected at most ${NEXT_MASK}, got ${blocks}`);
    Atomics.store(c, CLAIM, (this.gen & GEN_MASK) << NEXT_BITS);
    Atomics.store(c, GEN, this.gen);
    Atomics.notify(c, GEN);
    const mine = this.participate(x, c, this.f32, scratch);
    this.stats.calls++;
    this.stats.blocks += blocks;
    this.stats.callerBlocks += mine;
    let spins = 0;
    for (;;) {
      const done = Atomics.load(c, DONE);
      if (done >= blocks) break;
      if (this.canWait && ++spins > 2000) Atomics.wait(c, DONE, done, 1);
    }
  }

  /** Stops the workers (they finish the current job first). */
  dispose(): void {
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }
}
