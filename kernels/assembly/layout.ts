// The format's storage layout (SPEC §5) as the kernels read it: container widths and element access.

/** Container width in bits of a b-bit integer: 5..8 → 8, 3..4 → 4, 1..2 → 2. */
// @ts-ignore: decorator
@inline export function containerBits(bits: i32): i32 {
  return bits > 4 ? 8 : bits > 2 ? 4 : 2;
}

/** Bytes of one stored row of k values at `bits`, padded to 16. */
// @ts-ignore: decorator
@inline export function storedRowBytes(k: i32, bits: i32): i32 {
  const raw = (k * containerBits(bits) + 7) >> 3;
  return (raw + 15) & ~15;
}

/** Signed value c of a stored row with container width cb (sign-extended from cb bits). */
// @ts-ignore: decorator
@inline export function loadStored(row: usize, c: i32, cb: i32): i32 {
  const per = 8 / cb;
  const v = (<i32>load<u8>(row + <usize>(c / per)) >> ((c % per) * cb)) & ((1 << cb) - 1);
  return (v << (32 - cb)) >> (32 - cb);
}
