// Argument checks of the Kernels calls. Every check runs before wasm memory is touched; errors
// name the field and the expected value.
import { convGeometry } from './reference/im2col.ts';
import type { ConvWindowArgs } from './types.ts';

export function checkInt(field: string, v: unknown, lo: number, hi = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) {
    throw new RangeError(`${field}: expected an integer in ${lo}..${hi === Number.MAX_SAFE_INTEGER ? '∞' : hi}, got ${String(v)}`);
  }
  return v;
}

export function checkLength(field: string, arr: ArrayLike<number> | undefined, expected: number | number[]): void {
  const ok = Array.isArray(expected) ? expected : [expected];
  if (!arr || !ok.includes(arr.length)) {
    throw new RangeError(`${field}.length: expected ${ok.join(' or ')}, got ${arr ? arr.length : 'nothing'}`);
  }
}

export function checkPositive(field: string, v: number): void {
  if (typeof v !== 'number' || !Number.isFinite(v) || !(v > 0)) throw new RangeError(`${field}: expected a finite number > 0, got ${v}`);
}

export function checkType(field: string, v: unknown, type: { name: string; prototype: object }): void {
  if (!(v instanceof (type as unknown as new () => object))) {
    throw new RangeError(`${field}: expected a ${type.name}, got ${v === null ? 'null' : typeof v === 'object' ? (v as object).constructor.name : typeof v}`);
  }
}

/** Views a call reads or writes must be live: growing the kernels' memory detaches views on it. */
export function checkLive(fields: string, ...views: (ArrayBufferView | undefined)[]): void {
  if (views.some((v) => v !== undefined && v.buffer.byteLength === 0)) {
    const what = views.length > 1 ? 'live views' : 'a live view';
    throw new RangeError(`${fields}: expected ${what}; this one was detached when the kernels memory grew, take a fresh view`);
  }
}

/** n and k of an [n][k] weight matrix. */
export function checkNK(n: number, k: number): void {
  checkInt('n', n, 1);
  checkInt('k', k, 1);
}

/** The per-channel vectors of an epilogue (length n), its requantization and its residual (m·n floats). */
export function checkEpilogueParts(ep: { bias?: ArrayLike<number>; mul?: ArrayLike<number>; add?: ArrayLike<number>; residual?: Float32Array; requant?: { scale: number; bits: number }; codes?: { out: Uint8Array; scale: number; bits: number } }, m: number, n: number): void {
  if (ep.codes) {
    if (ep.requant) throw new RangeError('epilogue.codes: expected a float32 output (no epilogue.requant) to take codes of');
    checkType('epilogue.codes.out', ep.codes.out, Uint8Array);
    checkLength('epilogue.codes.out', ep.codes.out, m * n);
    checkPositive('epilogue.codes.scale', ep.codes.scale);
    checkInt('epilogue.codes.bits', ep.codes.bits, 1, 8);
  }
  if (ep.bias) checkLength('epilogue.bias', ep.bias, n);
  if (ep.mul) checkLength('epilogue.mul', ep.mul, n);
  if (ep.add) checkLength('epilogue.add', ep.add, n);
  if (ep.requant) { checkPositive('epilogue.requant.scale', ep.requant.scale); checkInt('epilogue.requant.bits', ep.requant.bits, 1, 8); }
  if (ep.residual === undefined) return;
  checkType('epilogue.residual', ep.residual, Float32Array);
  checkLength('epilogue.residual', ep.residual, m * n);
  checkLive('epilogue.residual', ep.residual);
}

/** A convolution window over NHWC images, checked: sizes, strides, padding and the geometry it gives. */
export interface ConvWindow { batch: number; h: number; w: number; c: number; kh: number; kw: number; sh: number; sw: number; oh: number; ow: number; padTop: number; padLeft: number }

/** Checks the window fields of an im2col or convGemm call (input length included: batch·h·w·c). */
export function checkConvWindow(args: ConvWindowArgs & { input: ArrayLike<number> }): ConvWindow {
  const batch = checkInt('batch', args.batch ?? 1, 1);
  const h = checkInt('h', args.h, 1), w = checkInt('w', args.w, 1), c = checkInt('c', args.c, 1);
  const kh = checkInt('kh', args.kh, 1), kw = checkInt('kw', args.kw, 1);
  const [sh, sw] = typeof args.stride === 'object' ? args.stride : [args.stride ?? 1, args.stride ?? 1];
  checkInt('stride[0]', sh, 1); checkInt('stride[1]', sw, 1);
  if (args.padding !== 'same' && args.padding !== 'valid') throw new RangeError(`padding: expected 'same' or 'valid', got ${String(args.padding)}`);
  if (args.padding === 'valid' && (kh > h || kw > w)) throw new RangeError(`kh, kw: expected ≤ h, w = ${h}, ${w} with 'valid' padding, got ${kh}, ${kw}`);
  checkLength('input', args.input, batch * h * w * c);
  const g = convGeometry(h, w, kh, kw, sh, sw, args.padding);
  return { batch, h, w, c, kh, kw, sh, sw, oh: g.oh, ow: g.ow, padTop: g.padTop, padLeft: g.padLeft };
}
