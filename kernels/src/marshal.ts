// Moving a call's arrays between JavaScript and wasm memory: a view on the kernels' memory is used
// in place (no copy), any other array is copied into a temporary block for the call, and results
// are handed back in the caller's view or copied out. Where an array lies is decided before the
// call allocates anything: growing the memory detaches every view on it.
import type { WasmHeap } from './heap.ts';

/** Where one array of a call lies. */
export interface Place<T extends ArrayBufferView> {
  readonly view: T | undefined;
  /** Whether the view is on the kernels' memory (then `ptr` is its address). */
  readonly inPlace: boolean;
  readonly ptr: number;
}

type ViewType<T> = { new (buffer: ArrayBufferLike, byteOffset: number, length: number): T; new (length: number): T };

/** One call's arrays and temporary blocks; release() frees the blocks. */
export class Marshal {
  private readonly temps: number[] = [];

  constructor(private readonly heap: WasmHeap, private readonly memory: WebAssembly.Memory) {}

  /** Where `view` lies; call before anything is allocated. */
  place<T extends ArrayBufferView>(view: T | undefined): Place<T> {
    const inPlace = view !== undefined && view.buffer === this.memory.buffer;
    return { view, inPlace, ptr: inPlace ? view.byteOffset : 0 };
  }

  /** Address of an input: the view itself, or a temporary copy of it (0 for an absent one). */
  input(p: Place<ArrayBufferView>): number {
    if (p.inPlace) return p.ptr;
    return p.view === undefined ? 0 : this.temp(copyIn(this.heap, this.memory, p.view));
  }

  /** Address of an output of `bytes`: the view itself, or a temporary block. */
  output(p: Place<ArrayBufferView>, bytes: number): number {
    return p.inPlace ? p.ptr : this.temp(this.heap.alloc(bytes));
  }

  /** A temporary block of `bytes` for this call. */
  alloc(bytes: number): number {
    return this.temp(this.heap.alloc(bytes));
  }

  /**
   * The result of `length` elements at `ptr`: the caller's view when it lies in wasm memory (a fresh
   * one if the memory grew during the call), else the bytes copied into the caller's array or a new one.
   */
  result<T extends ArrayBufferView>(p: Place<T>, ptr: number, Type: ViewType<T>, length: number): T {
    if (p.inPlace) return p.view!.buffer === this.memory.buffer ? p.view! : new Type(this.memory.buffer, ptr, length);
    const out = p.view ?? new Type(length);
    new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(new Uint8Array(this.memory.buffer, ptr, out.byteLength));
    return out;
  }

  /** Frees the call's temporary blocks. */
  release(): void {
    for (const p of this.temps) this.heap.release(p);
    this.temps.length = 0;
  }

  private temp(ptr: number): number {
    this.temps.push(ptr);
    return ptr;
  }
}

/** Copies a view's bytes into a new block of the heap; returns its address. */
export function copyIn(heap: WasmHeap, memory: WebAssembly.Memory, view: ArrayBufferView): number {
  const ptr = heap.alloc(view.byteLength);
  new Uint8Array(memory.buffer).set(new Uint8Array(view.buffer, view.byteOffset, view.byteLength), ptr);
  return ptr;
}
