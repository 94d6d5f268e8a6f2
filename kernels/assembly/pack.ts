// Weight panels of the integer GEMM (layout: kernels/README.md): packing from the stored layout,
// unpacking one tile for the microkernels, the int16 packing of A rows for dot16x2, and the bit
// planes and activation tables of the lut16 family (path 2).
import { containerBits, loadStored } from './layout';

/** Columns of a tile: 8 on paths 0 (dot16x2, scalar) and 3 (dot4), 16 on paths 1 (dot8) and 2 (lut16). */
// @ts-ignore: decorator
@inline export function tileCols(path: i32): i32 { return path == 0 || path == 3 ? 8 : 16; }

/** K padded so that every tile's int8 panel is a whole number of 64-value plane groups. */
// @ts-ignore: decorator
@inline export function paddedK(k: i32): i32 { return (k + 7) & ~7; }

/** Index of weight (column nl of the tile, depth c) in the tile's int8 panel. */
// @ts-ignore: decorator
@inline export function panelIndex(nl: i32, c: i32, path: i32): i32 {
  if (path == 3) return ((c >> 2) << 5) + (nl << 2) + (c & 3); // quads: 4 k of a column in one int32 lane
  const p = c >> 1;
  const j = c & 1;
  return path == 0 ? (p << 4) + (nl << 1) + j : (p << 5) + ((nl >> 3) << 4) + ((nl & 7) << 1) + j;
}

/**
 * Packs a stored [n][k] matrix (rows of srcRowBytes bytes, container srcCb) into GEMM panels
 * with container containerBits(bits): 16-byte groups hold 16·8/cb panel values as planes
 * (plane i = bits i·cb.. of each byte = panel values 16i..16i+15 of the group).
 * Returns how many values lie outside the signed range of `bits` (the caller rejects those).
 */
export function packPanels(src: usize, srcRowBytes: i32, srcCb: i32, n: i32, k: i32, bits: i32, path: i32, dst: usize): i32 {
  if (path == 2) return packLutPanels(src, srcRowBytes, srcCb, n, k, bits, dst);
  const nr = tileCols(path);
  const kp = paddedK(k);
  const cb = containerBits(bits);
  const tiles = (n + nr - 1) / nr;
  const tileBytes = <usize>(kp * nr * cb / 8);
  const mask = (1 << cb) - 1;
  const groupShift = cb == 8 ? 4 : cb == 4 ? 5 : 6; // log2(values per 16-byte group)
  const lo = -(1 << (bits - 1));
  const hi = (1 << (bits - 1)) - 1;
  let outside = 0;
  memory.fill(dst, 0, <usize>tiles * tileBytes);
  for (let r = 0; r < n; r++) {
    const row = src + <usize>r * <usize>srcRowBytes;
    const base = dst + <usize>(r / nr) * tileBytes;
    const nl = r % nr;
    for (let c = 0; c < k; c++) {
      const value = loadStored(row, c, srcCb);
      if (value < lo || value > hi) outside++;
      const v = value & mask;
      const idx = panelIndex(nl, c, path);
      const at = base + <usize>(((idx >> groupShift) << 4) + (idx & 15));
      store<u8>(at, load<u8>(at) | (v << (((idx & ((1 << groupShift) - 1)) >> 4) * cb)));
    }
  }
  return outside;
}

/** Panel value idx of a packed tile (scalar; the SIMD unpack below is its vector form). */
// @ts-ignore: decorator
@inline function panelValue(base: usize, idx: i32, cb: i32): i32 {
  const groupShift = cb == 8 ? 4 : cb == 4 ? 5 : 6;
  const b = <i32>load<u8>(base + <usize>(((idx >> groupShift) << 4) + (idx & 15)));
  const v = (b >> (((idx & ((1 << groupShift) - 1)) >> 4) * cb)) & ((1 << cb) - 1);
  return (v << (32 - cb)) >> (32 - cb);
}

// @ts-ignore: decorator
@inline function storeWidened(dst: usize, v: v128, widen: bool): void {
  if (widen) {
    v128.store(dst, i16x8.extend_low_i8x16_s(v));
    v128.store(dst, i16x8.extend_high_i8x16_s(v), 16);
  } else {
    v128.store(dst, v);
  }
}

/** Expands one packed tile of `count` panel values into int8 (widen = false) or int16 (widen = true) at dst. */
export function unpackTile(src: usize, cb: i32, count: i32, dst: usize, widen: bool): void {
  if (ASC_FEATURE_SIMD) {
    const step = widen ? 32 : 16; // bytes written per 16 values
    if (cb == 8) {
      for (let i = 0; i < count; i += 16) { storeWidened(dst, v128.load(src), widen); src += 16; dst += step; }
    } else if (cb == 4) {
      for (let i = 0; i < count; i += 32) {
        const v = v128.load(src); src += 16;
        storeWidened(dst, i8x16.shr_s(i8x16.shl(v, 4), 4), widen); dst += step;
        storeWidened(dst, i8x16.shr_s(v, 4), widen); dst += step;
      }
    } else {
      for (let i = 0; i < count; i += 64) {
        const v = v128.load(src); src += 16;
        storeWidened(dst, i8x16.shr_s(i8x16.shl(v, 6), 6), widen); dst += step;
        storeWidened(dst, i8x16.shr_s(i8x16.shl(v, 4), 6), widen); dst += step;
        storeWidened(dst, i8x16.shr_s(i8x16.shl(v, 2), 6), widen); dst += step;
        storeWidened(dst, i8x16.shr_s(v, 6), widen); dst += step;
      }
    }
  } else {
    for (let i = 0; i < count; i++) {
      const v = panelValue(src, i, cb);
      if (widen) store<i16>(dst + (<usize>i << 1), <i16>v);
      else store<i8>(dst + i, <i8>v);
    }
  }
}

/**
 * path 0, SIMD: interleaves 4 rows of A as int16 pairs, [pair][row] × (a[2p], a[2p+1]), so the
 * microkernel broadcasts a row's pair with one load32_splat. Reads kp bytes per row (zero weights beyond k).
 */
export function packA16(a0: usize, a1: usize, a2: usize, a3: usize, kp: i32, dst: usize): void {
  for (let c = 0; c < kp; c += 8) {
    packA16Group(a0 + c, a1 + c, a2 + c, a3 + c, dst);
    dst += 64;
  }
}

/**
 * packA16 of 4 rows read through a group of row pointers (gemm.ts: rowGroup), each row continuing
 * with 2·segPairs bytes (a multiple of 8) from its pointer per tap.
 */
export function packA16Indirect(group: usize, dst: usize): void {
  const taps = load<i32>(group), seg = load<i32>(group, 4) << 1;
  let ind = group + 16;
  for (let t = 0; t < taps; t++) {
    const a0 = <usize>load<u32>(ind), a1 = <usize>load<u32>(ind, 4), a2 = <usize>load<u32>(ind, 8), a3 = <usize>load<u32>(ind, 12);
    ind += 16;
    for (let c = 0; c < seg; c += 8) {
      packA16Group(a0 + c, a1 + c, a2 + c, a3 + c, dst);
      dst += 64;
    }
  }
}

/** 8 columns (4 pairs) of 4 rows, widened to int16 and interleaved into 64 bytes at dst. */
// @ts-ignore: decorator
@inline function packA16Group(a0: usize, a1: usize, a2: usize, a3: usize, dst: usize): void {
  const r0 = i16x8.extend_low_i8x16_u(v128.load64_zero(a0));
  const r1 = i16x8.extend_low_i8x16_u(v128.load64_zero(a1));
  const r2 = i16x8.extend_low_i8x16_u(v128.load64_zero(a2));
  const r3 = i16x8.extend_low_i8x16_u(v128.load64_zero(a3));
  const t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7);
  const t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<i64>(t0, t1, 0, 2));
  v128.store(dst, v128.shuffle<i64>(t0, t1, 1, 3), 16);
  v128.store(dst, v128.shuffle<i64>(t2, t3, 0, 2), 32);
  v128.store(dst, v128.shuffle<i64>(t2, t3, 1, 3), 48);
}

/** packPanels for path 2 (lut16): the bit planes of every value (setLutValue); returns the count outside the range of `bits`. */
function packLutPanels(src: usize, srcRowBytes: i32, srcCb: i32, n: i32, k: i32, bits: i32, dst: usize): i32 {
  const tileBytes = <usize>(paddedK(k) * 8);
  const lo = -(1 << (bits - 1));
  const hi = (1 << (bits - 1)) - 1;
  let outside = 0;
  memory.fill(dst, 0, <usize>((n + 15) >> 4) * tileBytes);
  for (let r = 0; r < n; r++) {
    const row = src + <usize>r * <usize>srcRowBytes;
    for (let c = 0; c < k; c++) {
      const value = loadStored(row, c, srcCb);
      if (value < lo || value > hi) outside++;
      setLutValue(dst + <usize>(r >> 4) * tileBytes, r & 15, c, value);
    }
  }
  return outside;
}

/**
 * path 2 (lut16, weights of ≤ 2 bits as w = b0 − 2·b1): sets the bits of value v, column nl of its
 * zeroed tile at base, depth c. k-group g = c >> 2 takes 32 bytes: byte nl holds the 4 bits of plane
 * b0 of column nl (bit c & 3 for depth c), byte 16 + nl those of plane b1 (so each byte is a table index).
 */
// @ts-ignore: decorator
@inline export function setLutValue(base: usize, nl: i32, c: i32, v: i32): void {
  const at = base + <usize>(((c >> 2) << 5) + nl);
  const bit = c & 3;
  store<u8>(at, <u8>(<i32>load<u8>(at) | ((v & 1) << bit)));
  store<u8>(at, <u8>(<i32>load<u8>(at, 16) | (((v >> 1) & 1) << bit)), 16);
}

/**
 * path 2: the activation tables of `rows` rows of A (row stride lda), kp/4 per row, 16 bytes each:
 * entry b of group g is Σ_{i < 4, bit i of b set} a[4g + i] (so entry 0 is 0). Reads kp bytes per row.
 */
export function lutTables(a: usize, lda: i32, rows: i32, kp: i32, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    const row = a + <usize>r * <usize>lda;
    for (let c = 0; c < kp; c += 8) {
      lutTablesGroup(row + <usize>c, dst);
      dst += 32;
    }
  }
}

/**
 * lutTables of `rows` rows read through groups of row pointers (gemm.ts: rowGroup), groupBytes
 * apart, each row continuing with 2·segPairs bytes (a multiple of 8) from its pointer per tap.
 */
export function lutTablesIndirect(ind: usize, rows: i32, groupBytes: i32, dst: usize): void {
  for (let r = 0; r < rows; r++) {
    const group = ind + <usize>((r >> 2) * groupBytes);
    const taps = load<i32>(group), seg = load<i32>(group, 4) << 1;
    let at = group + 16 + <usize>((r & 3) * 4);
    for (let t = 0; t < taps; t++) {
      const row = <usize>load<u32>(at);
      at += 16;
      for (let c = 0; c < seg; c += 8) {
        lutTablesGroup(row + <usize>c, dst);
        dst += 32;
      }
    }
  }
}

/** The tables of the two groups of 4 activations at src (8 bytes) into 32 bytes at dst. */
// @ts-ignore: decorator
@inline function lutTablesGroup(src: usize, dst: usize): void {
  // u = [0, a0, a1, a0+a1, 0, a2, a3, a2+a3, 0, a4, …] from two single-source shuffles of [a0 … a7, 0, …];
  // then entry b of the first group is u[b & 3] + u[4 + (b >> 2)], of the second u[8 + …].
  const v = v128.load64_zero(src);
  const u = i8x16.add(
    i8x16.shuffle(v, v, 8, 0, 1, 0, 8, 2, 3, 2, 8, 4, 5, 4, 8, 6, 7, 6),
    i8x16.shuffle(v, v, 8, 8, 8, 1, 8, 8, 8, 3, 8, 8, 8, 5, 8, 8, 8, 7));
  v128.store(dst, i8x16.add(
    i8x16.shuffle(u, u, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3),
    i8x16.shuffle(u, u, 4, 4, 4, 4, 5, 5, 5, 5, 6, 6, 6, 6, 7, 7, 7, 7)));
  v128.store(dst, i8x16.add(
    i8x16.shuffle(u, u, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11, 8, 9, 10, 11),
    i8x16.shuffle(u, u, 12, 12, 12, 12, 13, 13, 13, 13, 14, 14, 14, 14, 15, 15, 15, 15)), 16);
}
