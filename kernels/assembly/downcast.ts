// eq. 2 bit-down-cast of a stored [n][k] tensor: int_h → int_l by rounding shift and clip,
// reading and writing the stored layout (container 8/4/2, LSB-first, rows padded to 16 bytes).
import { containerBits, storedRowBytes, loadStored } from './layout';
import { roundShift, roundShiftLanes, shiftHalf, shiftMask, signedHigh, signedLow } from './rounding';

// @ts-ignore: decorator
@inline function evens(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}

// @ts-ignore: decorator
@inline function odds(a: v128, b: v128): v128 {
  return i8x16.shuffle(a, b, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}

/** Packs two vectors of 2-bit values (elements 0..31, masked) into 16 nibbles pairs. */
// @ts-ignore: decorator
@inline function pairUp(a: v128, b: v128, width: i32, mask: v128): v128 {
  return v128.or(v128.and(evens(a, b), mask), i8x16.shl(v128.and(odds(a, b), mask), width));
}

/** Number of leading values of a row done by the SIMD path; returns the first value left for the scalar tail. */
function downcastRowSimd(src: usize, dst: usize, k: i32, s: i32, l: i32): i32 {
  const mask = shiftMask(s), half = shiftHalf(s), lo = signedLow(l), hi = signedHigh(l);
  const cb = containerBits(l);
  let c = 0;
  if (cb == 8) {
    for (; c + 16 <= k; c += 16) {
      v128.store(dst + c, roundShiftLanes(v128.load(src + c), s, mask, half, lo, hi));
    }
  } else if (cb == 4) {
    const m4 = i8x16.splat(0x0f);
    for (; c + 32 <= k; c += 32) {
      const a = roundShiftLanes(v128.load(src + c), s, mask, half, lo, hi);
      const b = roundShiftLanes(v128.load(src + c, 16), s, mask, half, lo, hi);
      v128.store(dst + (c >> 1), pairUp(a, b, 4, m4));
    }
  } else {
    const m2 = i8x16.splat(0x03);
    const m4 = i8x16.splat(0x0f);
    for (; c + 64 <= k; c += 64) {
      const a = roundShiftLanes(v128.load(src + c), s, mask, half, lo, hi);
      const b = roundShiftLanes(v128.load(src + c, 16), s, mask, half, lo, hi);
      const d = roundShiftLanes(v128.load(src + c, 32), s, mask, half, lo, hi);
      const e = roundShiftLanes(v128.load(src + c, 48), s, mask, half, lo, hi);
      v128.store(dst + (c >> 2), pairUp(pairUp(a, b, 2, m2), pairUp(d, e, 2, m2), 4, m4));
    }
  }
  return c;
}

/** eq. 2 over a stored [n][k] tensor of h-bit values into a stored tensor of l-bit values (2 ≤ l ≤ h ≤ 8). */
export function downcast(src: usize, h: i32, dst: usize, l: i32, n: i32, k: i32): void {
  const s = h - l;
  const lo = -(1 << (l - 1));
  const hi = (1 << (l - 1)) - 1;
  const cbh = containerBits(h);
  const cbl = containerBits(l);
  const srcRow = <usize>storedRowBytes(k, h);
  const dstRow = <usize>storedRowBytes(k, l);
  const per = 8 / cbl;
  const mask = (1 << cbl) - 1;
  for (let r = 0; r < n; r++) {
    const sp = src + <usize>r * srcRow;
    const dp = dst + <usize>r * dstRow;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      if (cbh == 8) c = downcastRowSimd(sp, dp, k, s, l);
    }
    // Scalar tail (and whole rows on the scalar build): clear then OR each value in.
    memory.fill(dp + <usize>(c / per), 0, dstRow - <usize>(c / per));
    for (; c < k; c++) {
      const q = roundShift(loadStored(sp, c, cbh), s, lo, hi) & mask;
      const at = dp + <usize>(c / per);
      store<u8>(at, load<u8>(at) | (q << ((c % per) * cbl)));
    }
  }
}
