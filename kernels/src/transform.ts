// The element-wise and layout kernels of the Kernels object: eq. 1 and eq. 4 quantization, eq. 2
// down-cast in the stored layout, and im2col.
import { packedRowBytes } from '@bitswitch/format';
import type { Exports } from './exports.ts';
import type { WasmHeap } from './heap.ts';
import { Marshal } from './marshal.ts';
import type { Im2colArgs, Im2colResult, WasmBuffer } from './types.ts';
import { checkConvWindow, checkInt, checkLength, checkLive, checkNK, checkPositive, checkType } from './validate.ts';

export class Transforms {
  constructor(private readonly x: Exports, private readonly heap: WasmHeap) {}

  private call(): Marshal { return new Marshal(this.heap, this.x.memory); }

  quantizeWeights(w: Float32Array, scale: ArrayLike<number>, h: number, n: number): Int8Array {
    checkType('w', w, Float32Array);
    checkInt('h', h, 2, 8);
    checkInt('n', n, 1);
    if (w.length % n !== 0) throw new RangeError(`n: expected a divisor of w.length ${w.length}, got ${n}`);
    checkLength('scale', scale, [1, n]);
    for (let i = 0; i < scale.length; i++) checkPositive(`scale[${i}]`, scale[i]);
    const k = w.length / n;
    const call = this.call();
    try {
      const src = call.input(call.place(w));
      const sc = call.input(call.place(scale instanceof Float32Array ? scale : Float32Array.from(scale)));
      const dst = call.alloc(w.length);
      this.x.quantizeWeights(src, n, k, sc, scale.length === 1 ? 0 : 1, h, dst);
      return new Int8Array(this.x.memory.buffer.slice(dst, dst + w.length));
    } finally {
      call.release();
    }
  }

  quantizeActivations(x: Float32Array, scale: number, bits: number, out?: Uint8Array): Uint8Array {
    checkType('x', x, Float32Array);
    checkPositive('scale', scale);
    checkInt('bits', bits, 1, 8);
    if (out !== undefined) { checkType('out', out, Uint8Array); checkLength('out', out, x.length); }
    checkLive('x/out', x, out);
    const call = this.call();
    const xAt = call.place(x), outAt = call.place(out);
    try {
      const dst = call.output(outAt, x.length);
      this.x.quantizeActivations(call.input(xAt), x.length, scale, bits, dst);
      return call.result(outAt, dst, Uint8Array, x.length);
    } finally {
      call.release();
    }
  }

  downcast(stored: Uint8Array | WasmBuffer, h: number, l: number, n: number, k: number, out?: Uint8Array): Uint8Array {
    checkInt('h', h, 2, 8);
    checkInt('l', l, 2, h);
    checkNK(n, k);
    const bytes = n * packedRowBytes(k, l);
    if (out !== undefined) { checkType('out', out, Uint8Array); checkLength('out', out, bytes); }
    const inBytes = n * packedRowBytes(k, h);
    const len = stored instanceof Uint8Array ? stored.length : stored?.bytes;
    if (len !== inBytes) throw new RangeError(`stored.length: expected ${inBytes}, got ${len}`);
    const call = this.call();
    const outAt = call.place(out);
    try {
      const src = stored instanceof Uint8Array ? call.input({ view: stored, inPlace: false, ptr: 0 }) : stored.ptr;
      const dst = call.output(outAt, bytes);
      this.x.downcast(src, h, dst, l, n, k);
      return call.result(outAt, dst, Uint8Array, bytes);
    } finally {
      call.release();
    }
  }

  im2col<T extends Uint8Array | Float32Array>(args: Im2colArgs<T>): Im2colResult<T> {
    const { input } = args;
    if (!(input instanceof Uint8Array) && !(input instanceof Float32Array)) {
      throw new RangeError(`input: expected a Uint8Array or Float32Array, got ${typeof input}`);
    }
    const { batch, h, w, c, kh, kw, sh, sw, ...g } = checkConvWindow(args);
    const cols = kh * kw * c;
    const rows = batch * g.oh * g.ow;
    const Type = input.constructor as { new(buf: ArrayBufferLike, off: number, len: number): T; new(len: number): T };
    if (args.out !== undefined) {
      checkType('out', args.out, Type as never);
      checkLength('out', args.out, rows * cols);
    }
    checkLive('input/out', input, args.out);
    const call = this.call();
    const inAt = call.place(input), outAt = call.place(args.out);
    try {
      const src = call.input(inAt);
      const dst = call.output(outAt, rows * cols * input.BYTES_PER_ELEMENT);
      this.x.im2col(src, batch, h, w, c, kh, kw, sh, sw, g.padTop, g.padLeft, g.oh, g.ow, input.BYTES_PER_ELEMENT, dst);
      return { data: call.result(outAt, dst, Type, rows * cols), rows, cols, oh: g.oh, ow: g.ow };
    } finally {
      call.release();
    }
  }
}
