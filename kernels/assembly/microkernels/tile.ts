// The int32 tile the 4×16 microkernels accumulate into: row r at tile + 64·r.

/** Zeroes a 4×16 int32 tile with inline stores (memory.fill is an out-of-line call, a large share of a short-K tile). */
// @ts-ignore: decorator
@inline export function zeroTile4x16(tile: usize): void {
  const zero = i32x4.splat(0);
  for (let i: usize = 0; i < 4 * 16 * 4; i += 64) {
    v128.store(tile + i, zero); v128.store(tile + i, zero, 16); v128.store(tile + i, zero, 32); v128.store(tile + i, zero, 48);
  }
}

/** tile[0..8) += the 8 int16 lanes of s, widened to int32. */
// @ts-ignore: decorator
@inline export function widenInto(tile: usize, s: v128): void {
  v128.store(tile, i32x4.add(v128.load(tile), i32x4.extend_low_i16x8_s(s)));
  v128.store(tile, i32x4.add(v128.load(tile, 16), i32x4.extend_high_i16x8_s(s)), 16);
}
