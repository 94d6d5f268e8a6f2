// Bit switch straight into panels: eq. 2 on int8-container rows, transposed 8 rows at a time into
// the panels packPanels would write for the rounded values (no stored l-bit tensor in between).
import { containerBits } from './layout';
import { paddedK, panelIndex, setLutValue, tileCols } from './pack';
import { roundShift, roundShiftLanes, shiftHalf, shiftMask, signedHigh, signedLow } from './rounding';

/** Transposes 8 rows × 8 k-pairs (16-bit lanes) so that out[p] holds pair p of rows 0..7; writes the vectors at dst, step apart. */
// @ts-ignore: decorator
@inline function transpose8x8Pairs(r0: v128, r1: v128, r2: v128, r3: v128, r4: v128, r5: v128, r6: v128, r7: v128, dst: usize, step: usize): void {
  const a0 = v128.shuffle<i16>(r0, r1, 0, 8, 1, 9, 2, 10, 3, 11);
  const a1 = v128.shuffle<i16>(r0, r1, 4, 12, 5, 13, 6, 14, 7, 15);
  const a2 = v128.shuffle<i16>(r2, r3, 0, 8, 1, 9, 2, 10, 3, 11);
  const a3 = v128.shuffle<i16>(r2, r3, 4, 12, 5, 13, 6, 14, 7, 15);
  const a4 = v128.shuffle<i16>(r4, r5, 0, 8, 1, 9, 2, 10, 3, 11);
  const a5 = v128.shuffle<i16>(r4, r5, 4, 12, 5, 13, 6, 14, 7, 15);
  const a6 = v128.shuffle<i16>(r6, r7, 0, 8, 1, 9, 2, 10, 3, 11);
  const a7 = v128.shuffle<i16>(r6, r7, 4, 12, 5, 13, 6, 14, 7, 15);
  const b0 = v128.shuffle<i32>(a0, a2, 0, 4, 1, 5);
  const b1 = v128.shuffle<i32>(a0, a2, 2, 6, 3, 7);
  const b2 = v128.shuffle<i32>(a1, a3, 0, 4, 1, 5);
  const b3 = v128.shuffle<i32>(a1, a3, 2, 6, 3, 7);
  const c0 = v128.shuffle<i32>(a4, a6, 0, 4, 1, 5);
  const c1 = v128.shuffle<i32>(a4, a6, 2, 6, 3, 7);
  const c2 = v128.shuffle<i32>(a5, a7, 0, 4, 1, 5);
  const c3 = v128.shuffle<i32>(a5, a7, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i64>(b0, c0, 0, 2));
  v128.store(dst + step, v128.shuffle<i64>(b0, c0, 1, 3));
  v128.store(dst + 2 * step, v128.shuffle<i64>(b1, c1, 0, 2));
  v128.store(dst + 3 * step, v128.shuffle<i64>(b1, c1, 1, 3));
  v128.store(dst + 4 * step, v128.shuffle<i64>(b2, c2, 0, 2));
  v128.store(dst + 5 * step, v128.shuffle<i64>(b2, c2, 1, 3));
  v128.store(dst + 6 * step, v128.shuffle<i64>(b3, c3, 0, 2));
  v128.store(dst + 7 * step, v128.shuffle<i64>(b3, c3, 1, 3));
}

/** 16 rounded values of row r at column c, or zeros for rows past n. */
// @ts-ignore: decorator
@inline function rowChunk(src: usize, rowBytes: usize, r: i32, n: i32, c: i32, s: i32, mask: v128, half: v128, lo: v128, hi: v128): v128 {
  return r < n ? roundShiftLanes(v128.load(src + <usize>r * rowBytes + <usize>c), s, mask, half, lo, hi) : i8x16.splat(0);
}

/**
 * Bit switch into panels: int_h values (2 ≤ h ≤ 8) in int8 rows padded to 16 bytes (the stored
 * layout of an 8-bit container) → eq. 2 to l bits → the panels packPanels would write for those values. `work` holds one tile of
 * int8 panel values (kp·nr bytes). Returns 0.
 */
export function switchPanels(src: usize, h: i32, n: i32, k: i32, l: i32, path: i32, work: usize, dst: usize): i32 {
  if (path == 2) {
    switchPanelsLut(src, h, n, k, l, dst);
    return 0;
  }
  if (!ASC_FEATURE_SIMD || path == 3) { // the vector transpose below writes pair panels (paths 0, 1)
    switchPanelsScalar(src, h, n, k, l, path, work, dst);
    return 0;
  }
  const nr = tileCols(path);
  const kp = paddedK(k);
  const cb = containerBits(l);
  const tiles = (n + nr - 1) / nr;
  const tileBytes = <usize>(kp * nr * cb / 8);
  const rowBytes = <usize>((k + 15) & ~15); // stored int8 rows
  const s = h - l;
  const mask = shiftMask(s), half = shiftHalf(s), lo = signedLow(l), hi = signedHigh(l);
  const pairs = kp >> 1;
  for (let t = 0; t < tiles; t++) {
    const r0 = t * nr;
    // int8 panel values of the tile: vector j = panel values 16j..16j+15
    for (let c = 0; c < kp; c += 16) {
      const p0 = c >> 1;
      for (let half8 = 0; half8 < nr; half8 += 8) {
        const rb = r0 + half8;
        const at = work + <usize>((path == 0 ? p0 : 2 * p0 + (half8 >> 3)) << 4);
        const step: usize = path == 0 ? 16 : 32;
        if (p0 + 8 <= pairs) {
          transpose8x8Pairs(
            rowChunk(src, rowBytes, rb, n, c, s, mask, half, lo, hi), rowChunk(src, rowBytes, rb + 1, n, c, s, mask, half, lo, hi),
            rowChunk(src, rowBytes, rb + 2, n, c, s, mask, half, lo, hi), rowChunk(src, rowBytes, rb + 3, n, c, s, mask, half, lo, hi),
            rowChunk(src, rowBytes, rb + 4, n, c, s, mask, half, lo, hi), rowChunk(src, rowBytes, rb + 5, n, c, s, mask, half, lo, hi),
            rowChunk(src, rowBytes, rb + 6, n, c, s, mask, half, lo, hi), rowChunk(src, rowBytes, rb + 7, n, c, s, mask, half, lo, hi),
            at, step);
        } else {
          // last 4 pairs of a row (kp = 8 mod 16): transpose into a spare area past the tile, copy 4 vectors back
          const spare = work + <usize>(kp * nr);
          transpose8x8Pairs(
            rowChunk(src, rowBytes, rb, n, c, s, mask, half, lo, hi), rowChunk(src, rowBytes, rb + 1, n, c, s, mask, half, lo, hi),
            rowChunk(src, rowBytes, rb + 2, n, c, s, mask, half, lo, hi), rowChunk(src, rowBytes, rb + 3, n, c, s, mask, half, lo, hi),
            rowChunk(src, rowBytes, rb + 4, n, c, s, mask, half, lo, hi), rowChunk(src, rowBytes, rb + 5, n, c, s, mask, half, lo, hi),
            rowChunk(src, rowBytes, rb + 6, n, c, s, mask, half, lo, hi), rowChunk(src, rowBytes, rb + 7, n, c, s, mask, half, lo, hi),
            spare, 16);
          for (let j = 0; j < 4; j++) v128.store(at + <usize>j * step, v128.load(spare + (<usize>j << 4)));
        }
      }
    }
    // planes: groups of 16·8/cb panel values → 16 bytes
    const out = dst + <usize>t * tileBytes;
    const vectors = (kp * nr) >> 4;
    if (cb == 8) {
      memory.copy(out, work, <usize>(kp * nr));
    } else if (cb == 4) {
      const m4 = i8x16.splat(0x0f);
      for (let j = 0; j < vectors; j += 2) {
        const v = v128.or(v128.and(v128.load(work + (<usize>j << 4)), m4), i8x16.shl(v128.load(work + (<usize>j << 4), 16), 4));
        v128.store(out + (<usize>j << 3), v);
      }
    } else {
      const m2 = i8x16.splat(0x03);
      for (let j = 0; j < vectors; j += 4) {
        const w = work + (<usize>j << 4);
        const v = v128.or(
          v128.or(v128.and(v128.load(w), m2), i8x16.shl(v128.and(v128.load(w, 16), m2), 2)),
          v128.or(i8x16.shl(v128.and(v128.load(w, 32), m2), 4), i8x16.shl(v128.load(w, 48), 6)));
        v128.store(out + (<usize>j << 2), v);
      }
    }
  }
  return 0;
}

/** Bytes of work memory switchPanels needs. */
export function switchWorkBytes(k: i32, path: i32): i32 {
  return paddedK(k) * tileCols(path) + 128;
}

/** switchPanels on the scalar build: the same result with plain loops. */
function switchPanelsScalar(src: usize, h: i32, n: i32, k: i32, l: i32, path: i32, work: usize, dst: usize): void {
  const nr = tileCols(path);
  const kp = paddedK(k);
  const cb = containerBits(l);
  const tiles = (n + nr - 1) / nr;
  const tileBytes = <usize>(kp * nr * cb / 8);
  const rowBytes = <usize>((k + 15) & ~15);
  const s = h - l;
  const lo = -(1 << (l - 1));
  const hi = (1 << (l - 1)) - 1;
  const count = kp * nr;
  for (let t = 0; t < tiles; t++) {
    memory.fill(work, 0, <usize>count);
    for (let nl = 0; nl < nr; nl++) {
      const r = t * nr + nl;
      if (r >= n) break;
      const row = src + <usize>r * rowBytes;
      for (let c = 0; c < k; c++) {
        store<i8>(work + <usize>panelIndex(nl, c, path), <i8>roundShift(<i32>load<i8>(row + c), s, lo, hi));
      }
    }
    const out = dst + <usize>t * tileBytes;
    if (cb == 8) {
      memory.copy(out, work, <usize>count);
    } else {
      const planes = 8 / cb;
      const mask = (1 << cb) - 1;
      for (let g = 0; g < count; g += planes << 4) {
        for (let j = 0; j < 16; j++) {
          let b = 0;
          for (let i = 0; i < planes; i++) b |= (<i32>load<i8>(work + <usize>(g + (i << 4) + j)) & mask) << (i * cb);
          store<u8>(out + <usize>((g / planes) + j), <u8>b);
        }
      }
    }
  }
}

/** switchPanels for path 2 (lut16, l ≤ 2): eq. 2 per value straight into the bit planes. */
function switchPanelsLut(src: usize, h: i32, n: i32, k: i32, l: i32, dst: usize): void {
  const tileBytes = <usize>(paddedK(k) * 8);
  const rowBytes = <usize>((k + 15) & ~15);
  const s = h - l;
  const lo = -(1 << (l - 1));
  const hi = (1 << (l - 1)) - 1;
  memory.fill(dst, 0, <usize>((n + 15) >> 4) * tileBytes);
  for (let r = 0; r < n; r++) {
    const row = src + <usize>r * rowBytes;
    const base = dst + <usize>(r >> 4) * tileBytes;
    for (let c = 0; c < k; c++) setLutValue(base, r & 15, c, roundShift(<i32>load<i8>(row + c), s, lo, hi));
  }
}
