// Reference pack/unpack of signed integer weights into the format's storage layout
// (SPEC.md §5): rows of K values, container width 8/4/2 bits, LSB-first, rows 16-byte aligned.
import { checkBits, signedRange } from './quant.ts';

/** Alignment of every tensor and every packed row, in bytes (one 128-bit SIMD load). */
export const ALIGN = 16;

/** Container width in bits of a b-bit integer: 5..8 → 8, 3..4 → 4, 1..2 → 2. */
export function containerBits(bits: number): 8 | 4 | 2 {
  checkBits(bits, 'bits', 1, 8);
  return bits > 4 ? 8 : bits > 2 ? 4 : 2;
}

/** Bytes of one packed row of k values at `bits`, padded to ALIGN. */
export function packedRowBytes(k: number, bits: number): number {
  const raw = Math.ceil((k * containerBits(bits)) / 8);
  return Math.ceil(raw / ALIGN) * ALIGN;
}

/** Bytes of a packed [n][k] tensor at `bits`. */
export function packedBytes(n: number, k: number, bits: number): number {
  return n * packedRowBytes(k, bits);
}

/**
 * Packs signed b-bit integers laid out [n][k] row-major. Element (r, c) goes to byte
 * r·rowBytes + floor(c·cb/8), bits (c mod (8/cb))·cb upward, two's complement in cb bits.
 * packSigned([-1, 2, 3], 4, 1, 3) → bytes [0x2f, 0x03, 0, …] (16 bytes).
 */
export function packSigned(values: ArrayLike<number>, bits: number, n: number, k: number): Uint8Array {
  if (values.length !== n * k) throw new RangeError(`values.length: expected n*k = ${n * k}, got ${values.length}`);
  const [lo, hi] = signedRange(bits);
  const cb = containerBits(bits);
  const per = 8 / cb;
  const mask = (1 << cb) - 1;
  const row = packedRowBytes(k, bits);
  const out = new Uint8Array(n * row);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const v = values[r * k + c];
      if (!Number.isInteger(v) || v < lo || v > hi) {
        throw new RangeError(`values[${r * k + c}]: expected an integer in ${lo}..${hi}, got ${v}`);
      }
      const byte = r * row + Math.floor(c / per);
      out[byte] |= (v & mask) << ((c % per) * cb);
    }
  }
  return out;
}

/** Inverse of packSigned: returns Int8Array [n][k]. Values are sign-extended from cb bits. */
export function unpackSigned(bytes: Uint8Array, bits: number, n: number, k: number): Int8Array {
  const cb = containerBits(bits);
  const per = 8 / cb;
  const mask = (1 << cb) - 1;
  const row = packedRowBytes(k, bits);
  if (bytes.length < n * row) throw new RangeError(`bytes.length: expected at least ${n * row}, got ${bytes.length}`);
  const out = new Int8Array(n * k);
  const shift = 32 - cb;
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const v = (bytes[r * row + Math.floor(c / per)] >> ((c % per) * cb)) & mask;
      out[r * k + c] = (v << shift) >> shift;
    }
  }
  return out;
}
