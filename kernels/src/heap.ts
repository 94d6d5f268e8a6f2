// A small first-fit allocator over the wasm memory: packed weights stay resident, per-call
// temporaries are freed after the call, and the memory grows only when nothing fits.

/** Extra readable bytes after every block: the GEMM reads rows up to K rounded up to 8. */
const SLACK = 64;
const ALIGN = 16;
const PAGE = 65536;

const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

export class WasmHeap {
  private readonly free: { ptr: number; size: number }[] = [];
  private readonly sizes = new Map<number, number>();
  private top: number;

  constructor(readonly memory: WebAssembly.Memory, base: number) {
    this.top = alignUp(base, ALIGN);
  }

  /** Allocates `bytes` (16-byte aligned, followed by readable slack); returns the address. */
  alloc(bytes: number): number {
    const size = alignUp(Math.max(bytes, 1) + SLACK, ALIGN);
    for (let i = 0; i < this.free.length; i++) {
      const f = this.free[i];
      if (f.size < size) continue;
      const ptr = f.ptr;
      if (f.size === size) this.free.splice(i, 1);
      else { f.ptr += size; f.size -= size; }
      this.sizes.set(ptr, size);
      return ptr;
    }
    const ptr = this.top;
    const end = ptr + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    this.sizes.set(ptr, size);
    return ptr;
  }

  /** Returns a block to the free list, merging it with free neighbours. */
  release(ptr: number): void {
    const size = this.sizes.get(ptr);
    if (size === undefined) throw new RangeError(`ptr: expected a live block, got ${ptr}`);
    this.sizes.delete(ptr);
    let i = 0;
    while (i < this.free.length && this.free[i].ptr < ptr) i++;
    this.free.splice(i, 0, { ptr, size });
    const next = this.free[i + 1];
    if (next && ptr + size === next.ptr) { this.free[i].size += next.size; this.free.splice(i + 1, 1); }
    const prev = this.free[i - 1];
    if (prev && prev.ptr + prev.size === ptr) { prev.size += this.free[i].size; this.free.splice(i, 1); }
  }

  /** Size of a live block (with its slack). */
  sizeOf(ptr: number): number {
    return this.sizes.get(ptr) ?? 0;
  }

  /** Bytes currently allocated (for tests and diagnostics). */
  get used(): number {
    let s = 0;
    for (const v of this.sizes.values()) s += v;
    return s;
  }
}

/** A grow-only block of the heap reused by every call (it doubles when too small), so steady-state calls never grow the memory. */
export class GrowBlock {
  private at = 0;
  private size = 0;

  constructor(private readonly heap: WasmHeap) {}

  /** The block's address, at least `bytes` long (allocate before taking views: it may grow the memory). */
  reserve(bytes: number): number {
    if (bytes > this.size) {
      if (this.at) this.heap.release(this.at);
      this.size = Math.max(bytes, this.size * 2);
      this.at = this.heap.alloc(this.size);
    }
    return this.at;
  }

  get bytes(): number { return this.size; }

  /** Heap bytes the block holds (with the heap's slack); 0 before the first reserve. */
  get held(): number { return this.at ? this.heap.sizeOf(this.at) : 0; }
}
