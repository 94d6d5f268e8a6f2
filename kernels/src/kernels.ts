// The Kernels object: one instantiated build, its memory, and checked wrappers of every kernel.
// Every check happens before wasm memory is touched; errors name the field and the expected value.
import type { BuildName } from './builds.ts';
import type { Exports } from './exports.ts';
import { FamilyChooser, type FamilyChoice } from './choose.ts';
import { GemmCalls } from './gemm.ts';
import { WasmHeap } from './heap.ts';
import { copyIn } from './marshal.ts';
import { GemmPool } from './pool.ts';
import { Transforms } from './transform.ts';
import type {
  ConvGemmArgs, GemmArgs, GemmF32Args, Im2colArgs, Im2colResult, PackedWeights, PackedWeightsF32, ResidentValues, WasmBuffer,
} from './types.ts';
import { WeightPacker, type PackOptions } from './weights.ts';

export class Kernels {
  readonly heap: WasmHeap;
  /** Packed weights alive, by address. */
  private readonly live = new Set<number>();
  private readonly pool?: GemmPool;
  private readonly transforms: Transforms;
  private readonly packer: WeightPacker;
  private readonly gemms: GemmCalls;
  private readonly chooser = new FamilyChooser(this);
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
    this.transforms = new Transforms(x, this.heap);
    this.packer = new WeightPacker(x, this.heap, this.live, build);
    this.gemms = new GemmCalls(x, this.heap, this.live, this.pool);
  }

  /**
   * f() with every GEMM on the calling thread (the family chooser's timings).
   * @internal
   */
  onCallingThread<T>(f: () => T): T {
    const was = this.gemms.serial;
    this.gemms.serial = true;
    try {
      return f();
    } finally {
      this.gemms.serial = was;
    }
  }

  /**
   * The GEMM family for w`wbits` × a`abits` weights [n][k] on this build: the only one that supports
   * them, or the fastest of several, measured once per shape (FamilyChooser). Pass its name as
   * PackOptions.family; every family gives the same results.
   */
  fastestFamily(wbits: number, abits: number, n: number, k: number): string {
    return this.chooser.choose(wbits, abits, n, k).name;
  }

  /** The measured family choices so far (shapes with several candidate families). */
  get familyChoices(): FamilyChoice[] { return this.chooser.measured; }

  /** Threads that run each large GEMM (1 without a pool). */
  get threads(): number { return this.pool?.threads ?? 1; }

  /** Workers started so far, threaded calls, their row blocks and the blocks the calling thread ran (undefined on one thread). */
  get poolStats(): { ready: number; calls: number; blocks: number; callerBlocks: number } | undefined {
    return this.pool && { ready: this.pool.ready, ...this.pool.stats };
  }

  /** Resolves when every worker thread has started (at once without a pool); false after `timeoutMs` without them. */
  whenThreadsReady(timeoutMs?: number): Promise<boolean> {
    return this.pool ? this.pool.whenReady(timeoutMs) : Promise.resolve(true);
  }

  /** Stops the worker threads (the kernels keep working on one thread). */
  dispose(): void { this.pool?.dispose(); }

  get memory(): WebAssembly.Memory { return this.x.memory; }

  /** A fresh byte view of the memory (views die when the memory grows). */
  u8(): Uint8Array { return new Uint8Array(this.x.memory.buffer); }

  /** Copies bytes into a resident block (e.g. a layer's stored int8 weights). */
  resident(bytes: Uint8Array | Int8Array): WasmBuffer {
    return { ptr: copyIn(this.heap, this.x.memory, bytes), bytes: bytes.byteLength };
  }

  /** Frees a block from resident() or residentValues(). */
  free(buf: WasmBuffer): void { this.heap.release(buf.ptr); }

  /** Bytes held by packed weights and resident buffers (the call scratch excluded). */
  get residentBytes(): number {
    return this.heap.used - this.gemms.scratchBytes;
  }

  /** eq. 1: float32 weights [n][k] → int8 with scale per tensor (length 1) or per row (length n). */
  quantizeWeights(w: Float32Array, scale: ArrayLike<number>, h: number, n: number): Int8Array {
    return this.transforms.quantizeWeights(w, scale, h, n);
  }

  /**
   * eq. 4: float32 activations → unsigned `bits`-bit integers. `x` and `out` (length x.length) that
   * are views on the kernels' memory are used in place (no copies).
   */
  quantizeActivations(x: Float32Array, scale: number, bits: number, out?: Uint8Array): Uint8Array {
    return this.transforms.quantizeActivations(x, scale, bits, out);
  }

  /**
   * eq. 2: stored int_h [n][k] → stored int_l (format SPEC §5 layout), 2 ≤ l ≤ h ≤ 8. `out` (length
   * n·packedRowBytes(k, l)) is written in place when it is a view on the kernels' memory.
   */
  downcast(stored: Uint8Array | WasmBuffer, h: number, l: number, n: number, k: number, out?: Uint8Array): Uint8Array {
    return this.transforms.downcast(stored, h, l, n, k, out);
  }

  /** im2col of NHWC images (TensorFlow 'same'/'valid' padding): rows (b, oy, ox), columns (ky, kx, c). */
  im2col<T extends Uint8Array | Float32Array>(args: Im2colArgs<T>): Im2colResult<T> {
    return this.transforms.im2col(args);
  }

  /**
   * W̃_h [n][k] as the format reader delivers it (int8 values in the signed h-bit range), copied once
   * into wasm memory; switchBits packs any l ≤ h from it in one pass. Free with free().
   */
  residentValues(valuesNK: Int8Array, h: number, n: number, k: number): ResidentValues {
    return this.packer.residentValues(valuesNK, h, n, k);
  }

  /** Packs int8 values [n][k] (row n = output channel) of `bits` bits into resident GEMM panels. */
  packGemmWeights(valuesNK: Int8Array, bits: number, n: number, k: number, opts: PackOptions = {}): PackedWeights {
    return this.packer.packGemmWeights(valuesNK, bits, n, k, opts);
  }

  /** Packs weights in the stored layout (format SPEC §5) at `bits` into resident GEMM panels. */
  packGemmWeightsStored(stored: Uint8Array | WasmBuffer, bits: number, n: number, k: number, opts: PackOptions = {}): PackedWeights {
    return this.packer.packGemmWeightsStored(stored, bits, n, k, opts);
  }

  /** Bit switch: W̃_h (resident values, or stored) → eq. 2 down-cast to l bits → resident GEMM panels. */
  switchBits(src: Uint8Array | WasmBuffer | ResidentValues, h: number, l: number, n: number, k: number, opts: PackOptions = {}): PackedWeights {
    return this.packer.switchBits(src, h, l, n, k, opts);
  }

  /** Packs float32 weights [n][k] (row n = output channel) into resident panels for gemmF32. */
  packGemmWeightsF32(valuesNK: Float32Array, n: number, k: number): PackedWeightsF32 {
    return this.packer.packGemmWeightsF32(valuesNK, n, k);
  }

  /**
   * out[m][n] = epilogue(Σ_c a[m·lda + c]·W[n][c]). Float32 output with an epilogue, uint8 with
   * epilogue.requant, raw Int32 without an epilogue.
   */
  gemm(args: GemmArgs): Float32Array | Uint8Array | Int32Array {
    return this.gemms.gemm(args);
  }

  /**
   * A convolution over NHWC codes without the patch matrix: the input is read through the window
   * (igemm), with exactly the result of gemm on im2col's patch matrix. Output rows (b, oy, ox).
   */
  convGemm(args: ConvGemmArgs): Float32Array | Uint8Array | Int32Array {
    return this.gemms.convGemm(args);
  }

  /**
   * float32 GEMM (first/last float layers): out[m][n] = epilogue(Σ_k a[m·lda + k]·W[n][k]), summed in
   * k order without FMA (gemmF32Ref reproduces it bit for bit). uint8 output with epilogue.requant.
   */
  gemmF32(args: GemmF32Args): Float32Array | Uint8Array {
    return this.gemms.gemmF32(args);
  }
}
