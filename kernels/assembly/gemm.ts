// GEMM of unsigned a-bit activations [M][K] (row stride lda) by signed w-bit weights kept as
// packed panels, int32 accumulation, fused float32 epilogue. Panel layout: kernels/README.md.
//   path 0 "dot16": tile 4×8, weight pairs widened to int16, i32x4.dot_i16x8_s (pmaddwd).
//   path 1 "dot8":  tile 4×16, int8 weight pairs, i16x8.relaxed_dot_i8x16_i7x16_s (pmaddubsw),
//                   16-bit accumulators widened to int32 every `chunk` k-pairs (relaxed build only).
import { awayFromTie, clampCodes, lowBytes, quadExact, reciprocalIsSafe, roundLow } from './quantize';
import { containerBits, loadStored, roundShift } from './common';

export const MR = 4;

// @ts-ignore: decorator
@inline function tileCols(path: i32): i32 { return path == 0 ? 8 : 16; }

/** K padded so that every tile's int8 panel is a whole number of 64-value plane groups. */
// @ts-ignore: decorator
@inline function paddedK(k: i32): i32 { return (k + 7) & ~7; }

/** Index of weight (column nl of the tile, depth c) in the tile's int8 panel. */
// @ts-ignore: decorator
@inline function panelIndex(nl: i32, c: i32, path: i32): i32 {
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
function unpackTile(src: usize, cb: i32, count: i32, dst: usize, widen: bool): void {
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

/** path 0, SIMD: tile[4][8] = A rows a0..a3 · panel (pairs k-pairs of int16 weight pairs). */
function kernel4x8Dot16(a0: usize, a1: usize, a2: usize, a3: usize, w: usize, pairs: i32, tile: usize): void {
  let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
  let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
  for (let p = 0; p < pairs; p++) {
    const w0 = v128.load(w);
    const w1 = v128.load(w, 16);
    w += 32;
    let x = i16x8.extend_low_i8x16_u(v128.load16_splat(a0)); a0 += 2;
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x, w0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x, w1));
    x = i16x8.extend_low_i8x16_u(v128.load16_splat(a1)); a1 += 2;
    c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x, w0));
    c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x, w1));
    x = i16x8.extend_low_i8x16_u(v128.load16_splat(a2)); a2 += 2;
    c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x, w0));
    c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x, w1));
    x = i16x8.extend_low_i8x16_u(v128.load16_splat(a3)); a3 += 2;
    c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x, w0));
    c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x, w1));
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
}

/**
 * path 0, SIMD: interleaves 4 rows of A as int16 pairs, [pair][row] × (a[2p], a[2p+1]), so the
 * microkernel broadcasts a row's pair with one load32_splat. Reads kp bytes per row (zero weights beyond k).
 */
function packA16(a0: usize, a1: usize, a2: usize, a3: usize, kp: i32, dst: usize): void {
  for (let c = 0; c < kp; c += 8) {
    const r0 = i16x8.extend_low_i8x16_u(v128.load64_zero(a0 + c));
    const r1 = i16x8.extend_low_i8x16_u(v128.load64_zero(a1 + c));
    const r2 = i16x8.extend_low_i8x16_u(v128.load64_zero(a2 + c));
    const r3 = i16x8.extend_low_i8x16_u(v128.load64_zero(a3 + c));
    const t0 = v128.shuffle<i32>(r0, r1, 0, 4, 1, 5);
    const t1 = v128.shuffle<i32>(r2, r3, 0, 4, 1, 5);
    const t2 = v128.shuffle<i32>(r0, r1, 2, 6, 3, 7);
    const t3 = v128.shuffle<i32>(r2, r3, 2, 6, 3, 7);
    v128.store(dst, v128.shuffle<i64>(t0, t1, 0, 2));
    v128.store(dst, v128.shuffle<i64>(t0, t1, 1, 3), 16);
    v128.store(dst, v128.shuffle<i64>(t2, t3, 0, 2), 32);
    v128.store(dst, v128.shuffle<i64>(t2, t3, 1, 3), 48);
    dst += 64;
  }
}

/** path 0, SIMD: tile[4][8] from 4 packed rows (packA16) · panel of int16 weight pairs. */
function kernel4x8Dot16Packed(ap: usize, w: usize, pairs: i32, tile: usize): void {
  let c00 = i32x4.splat(0), c01 = i32x4.splat(0), c10 = i32x4.splat(0), c11 = i32x4.splat(0);
  let c20 = i32x4.splat(0), c21 = i32x4.splat(0), c30 = i32x4.splat(0), c31 = i32x4.splat(0);
  for (let p = 0; p < pairs; p++) {
    const w0 = v128.load(w);
    const w1 = v128.load(w, 16);
    w += 32;
    let x = v128.load32_splat(ap);
    c00 = i32x4.add(c00, i32x4.dot_i16x8_s(x, w0));
    c01 = i32x4.add(c01, i32x4.dot_i16x8_s(x, w1));
    x = v128.load32_splat(ap, 4);
    c10 = i32x4.add(c10, i32x4.dot_i16x8_s(x, w0));
    c11 = i32x4.add(c11, i32x4.dot_i16x8_s(x, w1));
    x = v128.load32_splat(ap, 8);
    c20 = i32x4.add(c20, i32x4.dot_i16x8_s(x, w0));
    c21 = i32x4.add(c21, i32x4.dot_i16x8_s(x, w1));
    x = v128.load32_splat(ap, 12);
    c30 = i32x4.add(c30, i32x4.dot_i16x8_s(x, w0));
    c31 = i32x4.add(c31, i32x4.dot_i16x8_s(x, w1));
    ap += 16;
  }
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
}

// @ts-ignore: decorator
@inline function widenInto(tile: usize, s: v128): void {
  v128.store(tile, i32x4.add(v128.load(tile), i32x4.extend_low_i16x8_s(s)));
  v128.store(tile, i32x4.add(v128.load(tile, 16), i32x4.extend_high_i16x8_s(s)), 16);
}

/** path 1, relaxed SIMD: tile[4][16] = A rows · panel of int8 weight pairs, 16-bit partial sums per chunk. */
function kernel4x16Dot8(a0: usize, a1: usize, a2: usize, a3: usize, w: usize, pairs: i32, chunk: i32, tile: usize): void {
  // inline zeroing: memory.fill is an out-of-line call, a large share of a short-K tile
  const zero = i32x4.splat(0);
  for (let i: usize = 0; i < 4 * 16 * 4; i += 64) {
    v128.store(tile + i, zero); v128.store(tile + i, zero, 16); v128.store(tile + i, zero, 32); v128.store(tile + i, zero, 48);
  }
  let p = 0;
  while (p < pairs) {
    const end = min(p + chunk, pairs);
    let s00 = i16x8.splat(0), s01 = i16x8.splat(0), s10 = i16x8.splat(0), s11 = i16x8.splat(0);
    let s20 = i16x8.splat(0), s21 = i16x8.splat(0), s30 = i16x8.splat(0), s31 = i16x8.splat(0);
    for (; p < end; p++) {
      const w0 = v128.load(w);
      const w1 = v128.load(w, 16);
      w += 32;
      let x = v128.load16_splat(a0); a0 += 2;
      s00 = i16x8.add(s00, i16x8.relaxed_dot_i8x16_i7x16_s(w0, x));
      s01 = i16x8.add(s01, i16x8.relaxed_dot_i8x16_i7x16_s(w1, x));
      x = v128.load16_splat(a1); a1 += 2;
      s10 = i16x8.add(s10, i16x8.relaxed_dot_i8x16_i7x16_s(w0, x));
      s11 = i16x8.add(s11, i16x8.relaxed_dot_i8x16_i7x16_s(w1, x));
      x = v128.load16_splat(a2); a2 += 2;
      s20 = i16x8.add(s20, i16x8.relaxed_dot_i8x16_i7x16_s(w0, x));
      s21 = i16x8.add(s21, i16x8.relaxed_dot_i8x16_i7x16_s(w1, x));
      x = v128.load16_splat(a3); a3 += 2;
      s30 = i16x8.add(s30, i16x8.relaxed_dot_i8x16_i7x16_s(w0, x));
      s31 = i16x8.add(s31, i16x8.relaxed_dot_i8x16_i7x16_s(w1, x));
    }
    widenInto(tile, s00); widenInto(tile + 32, s01);
    widenInto(tile + 64, s10); widenInto(tile + 96, s11);
    widenInto(tile + 128, s20); widenInto(tile + 160, s21);
    widenInto(tile + 192, s30); widenInto(tile + 224, s31);
  }
}

/** path 0, scalar build: same panel layout (int16 pairs), one row at a time with 8 accumulators in locals. */
function kernel4x8Scalar(a0: usize, a1: usize, a2: usize, a3: usize, w: usize, pairs: i32, tile: usize): void {
  for (let r = 0; r < 4; r++) {
    let ar = r == 0 ? a0 : r == 1 ? a1 : r == 2 ? a2 : a3;
    let wp = w;
    let c0 = 0, c1 = 0, c2 = 0, c3 = 0, c4 = 0, c5 = 0, c6 = 0, c7 = 0;
    for (let p = 0; p < pairs; p++) {
      const x0 = <i32>load<u8>(ar);
      const x1 = <i32>load<u8>(ar, 1);
      ar += 2;
      c0 += <i32>load<i16>(wp) * x0 + <i32>load<i16>(wp, 2) * x1;
      c1 += <i32>load<i16>(wp, 4) * x0 + <i32>load<i16>(wp, 6) * x1;
      c2 += <i32>load<i16>(wp, 8) * x0 + <i32>load<i16>(wp, 10) * x1;
      c3 += <i32>load<i16>(wp, 12) * x0 + <i32>load<i16>(wp, 14) * x1;
      c4 += <i32>load<i16>(wp, 16) * x0 + <i32>load<i16>(wp, 18) * x1;
      c5 += <i32>load<i16>(wp, 20) * x0 + <i32>load<i16>(wp, 22) * x1;
      c6 += <i32>load<i16>(wp, 24) * x0 + <i32>load<i16>(wp, 26) * x1;
      c7 += <i32>load<i16>(wp, 28) * x0 + <i32>load<i16>(wp, 30) * x1;
      wp += 32;
    }
    const t = tile + (<usize>r << 5);
    store<i32>(t, c0); store<i32>(t, c1, 4); store<i32>(t, c2, 8); store<i32>(t, c3, 12);
    store<i32>(t, c4, 16); store<i32>(t, c5, 20); store<i32>(t, c6, 24); store<i32>(t, c7, 28);
  }
}

// Epilogue state, set by setEpilogue before gemm (0 pointer = absent).
let epScale: usize = 0;
let epBias: usize = 0;
let epMul: usize = 0;
let epAdd: usize = 0;
let epRelu: bool = false;
let epRes: usize = 0;
let epRqScale: f32 = 0;
let epRqInv: f32 = 0;
let epRqFast: bool = false;
let epRqMax: f32 = 0;
let epTileF32: bool = false;

/** Whether tiles hold float32 sums (gemmF32) instead of int32. */
export function setTileFloat(on: bool): void { epTileF32 = on; }

/**
 * Epilogue settings (scale = 0: raw int32 output): scales f32[n] (= aScale·wScale[n], precomputed), optional
 * bias/mul/add f32[n], residual f32[m][n] (added before ReLU; may be the output itself), relu, requant scale (0 = float output) and bits.
 */
export function setEpilogue(scale: usize, bias: usize, mul: usize, add: usize, residual: usize, relu: i32, rqScale: f32, rqBits: i32): void {
  epScale = scale; epBias = bias; epMul = mul; epAdd = add; epRes = residual; epRelu = relu != 0;
  epRqScale = rqScale; epRqMax = <f32>((1 << rqBits) - 1);
  epRqFast = reciprocalIsSafe(<f64>rqScale);
  epRqInv = epRqFast ? <f32>(1.0 / <f64>rqScale) : 0;
}

/** Float value of one output (index o of out): scale, +bias, ·mul, +add, +residual, ReLU (each step rounded to float32). */
// @ts-ignore: decorator
@inline function epilogueValue(tileAt: usize, n: usize, o: usize): f32 {
  let y = (epTileF32 ? load<f32>(tileAt) : <f32>load<i32>(tileAt)) * load<f32>(epScale + (n << 2));
  if (epBias) y = y + load<f32>(epBias + (n << 2));
  if (epMul) y = y * load<f32>(epMul + (n << 2));
  if (epAdd) y = y + load<f32>(epAdd + (n << 2));
  if (epRes) y = y + load<f32>(epRes + (o << 2));
  if (epRelu) y = max<f32>(y, 0);
  return y;
}

// @ts-ignore: decorator
@inline function epilogueVector(acc: v128, n: usize, o: usize): v128 {
  let y = f32x4.mul(epTileF32 ? acc : f32x4.convert_i32x4_s(acc), v128.load(epScale + (n << 2)));
  if (epBias) y = f32x4.add(y, v128.load(epBias + (n << 2)));
  if (epMul) y = f32x4.mul(y, v128.load(epMul + (n << 2)));
  if (epAdd) y = f32x4.add(y, v128.load(epAdd + (n << 2)));
  if (epRes) y = f32x4.add(y, v128.load(epRes + (o << 2)));
  if (epRelu) y = f32x4.max(y, f32x4.splat(0));
  return y;
}

/**
 * eq. 4 re-quantization as int32 lanes: clip(nearest(y / s), 0, hi) with the division in float64 of the
 * float32 operands (format SPEC §6), exactly the format reference. A float32 division would round
 * quotients within half a float32 ulp of a .5 tie onto the tie and flip the code.
 */
// @ts-ignore: decorator
@inline function divideCodes(y: v128): v128 {
  return quadExact(y, f64x2.splat(<f64>epRqScale), f64x2.splat(<f64>epRqMax), f64x2.splat(0));
}

/** Writes rows×cols of an int32 (or float32) tile (row stride nr) to out [M][ldo] as float32 or, with requant, uint8 (eq. 4). */
export function epilogueTile(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32): void {
  const rq = epRqScale > 0;
  if (!epScale) { // raw int32 output
    // inline moves: a memory.copy call per 8- or 16-int row costs as much as a quarter of a K = 512 tile
    for (let r = 0; r < rows; r++) {
      const d = out + ((<usize>(m0 + r) * <usize>ldo + <usize>n0) << 2);
      const t = tile + (<usize>(r * nr) << 2);
      let c = 0;
      if (ASC_FEATURE_SIMD) {
        for (; c + 4 <= cols; c += 4) v128.store(d + (<usize>c << 2), v128.load(t + (<usize>c << 2)));
      }
      for (; c < cols; c++) store<i32>(d + (<usize>c << 2), load<i32>(t + (<usize>c << 2)));
    }
    return;
  }
  for (let r = 0; r < rows; r++) {
    const t = tile + (<usize>(r * nr) << 2);
    const o = <usize>(m0 + r) * <usize>ldo + <usize>n0;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      const hi = f32x4.splat(epRqMax);
      if (rq && epRqFast) {
        // 16 codes at a time: one tie check and one 16-byte store (same arithmetic as below)
        const inv = f32x4.splat(epRqInv);
        for (; c + 16 <= cols; c += 16) {
          const tc = t + (<usize>c << 2);
          const n = <usize>(n0 + c);
          const y0 = epilogueVector(v128.load(tc), n, o + c), y1 = epilogueVector(v128.load(tc, 16), n + 4, o + c + 4);
          const y2 = epilogueVector(v128.load(tc, 32), n + 8, o + c + 8), y3 = epilogueVector(v128.load(tc, 48), n + 12, o + c + 12);
          const c0 = clampCodes(f32x4.mul(y0, inv), hi), c1 = clampCodes(f32x4.mul(y1, inv), hi);
          const c2 = clampCodes(f32x4.mul(y2, inv), hi), c3 = clampCodes(f32x4.mul(y3, inv), hi);
          const r0 = roundLow(c0), r1 = roundLow(c1), r2 = roundLow(c2), r3 = roundLow(c3);
          const ok = v128.and(v128.and(awayFromTie(c0, r0), awayFromTie(c1, r1)), v128.and(awayFromTie(c2, r2), awayFromTie(c3, r3)));
          if (i32x4.all_true(ok)) v128.store(out + o + c, lowBytes(r0, r1, r2, r3));
          else v128.store(out + o + c, lowBytes(divideCodes(y0), divideCodes(y1), divideCodes(y2), divideCodes(y3)));
        }
      }
      for (; c + 4 <= cols; c += 4) {
        const y = epilogueVector(v128.load(t + (<usize>c << 2)), <usize>(n0 + c), o + c);
        if (rq) {
          // y · f32(1/s) gives the code of y / s away from .5 ties (quantize.ts); near one, divide in float64
          const cv = clampCodes(f32x4.mul(y, f32x4.splat(epRqInv)), hi);
          let q = roundLow(cv);
          if (!epRqFast || !i32x4.all_true(awayFromTie(cv, q))) {
            q = divideCodes(y);
          }
          v128.store32_lane(out + o + c, i8x16.shuffle(q, q, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12), 0);
        } else {
          v128.store(out + ((o + c) << 2), y);
        }
      }
    }
    for (; c < cols; c++) {
      const y = epilogueValue(t + (<usize>c << 2), <usize>(n0 + c), o + c);
      if (rq) store<u8>(out + o + c, <u8><i32>max<f64>(min<f64>(nearest<f64>(<f64>y / <f64>epRqScale), <f64>epRqMax), 0));
      else store<f32>(out + ((o + c) << 2), y);
    }
  }
}

/** Rows of A per block: the packed int16 rows of a block stay within ~128 KiB (L2). */
// @ts-ignore: decorator
@inline function blockRows(kp: i32): i32 {
  return max(MR, (131072 / (kp * 2)) / MR * MR);
}

/** Bytes of scratch gemm needs: one unpacked tile panel, one int32 tile, one block of packed A rows. */
export function gemmScratchBytes(k: i32, path: i32): i32 {
  const nr = tileCols(path);
  const kp = paddedK(k);
  return kp * nr * (path == 0 ? 2 : 1) + MR * nr * 4 + blockRows(kp) * kp * 2;
}

/**
 * out[m][n] = epilogue(Σ_c a[m·lda + c] · W[n][c]) for m < M, n < N. Rows of A are read up to
 * paddedK(k) bytes (the weights there are zero), so callers keep that much readable memory.
 * Loops: blocks of A rows (packed once per block on path 0) → weight tiles (unpacked once per block) → 4-row tiles.
 */
export function gemm(a: usize, lda: i32, m: i32, k: i32, w: usize, wbits: i32, n: i32, path: i32, chunk: i32, scratch: usize, out: usize): void {
  const nr = tileCols(path);
  const kp = paddedK(k);
  const pairs = kp >> 1;
  const cb = containerBits(wbits);
  const tileBytes = <usize>(kp * nr * cb / 8);
  const panel = scratch;
  const tile = panel + <usize>(kp * nr * (path == 0 ? 2 : 1));
  const packed = tile + <usize>(MR * nr * 4);
  const tiles = (n + nr - 1) / nr;
  const step = <usize>lda;
  const mb = blockRows(kp);

  for (let b0 = 0; b0 < m; b0 += mb) {
    const bEnd = min(m, b0 + mb);
    if (ASC_FEATURE_SIMD) {
      if (path == 0) {
        for (let m0 = b0; m0 < bEnd; m0 += MR) {
          const rows = min(MR, m - m0);
          // Missing rows of the last tile reuse row 0 of the tile; their results are not written.
          const a0 = a + <usize>m0 * step;
          packA16(a0, rows > 1 ? a0 + step : a0, rows > 2 ? a0 + 2 * step : a0, rows > 3 ? a0 + 3 * step : a0,
            kp, packed + <usize>((m0 - b0) * kp * 2));
        }
      }
    }
    for (let t = 0; t < tiles; t++) {
      unpackTile(w + <usize>t * tileBytes, cb, kp * nr, panel, path == 0);
      const n0 = t * nr;
      const cols = min(nr, n - n0);
      for (let m0 = b0; m0 < bEnd; m0 += MR) {
        const rows = min(MR, m - m0);
        const a0 = a + <usize>m0 * step;
        const a1 = rows > 1 ? a0 + step : a0;
        const a2 = rows > 2 ? a0 + 2 * step : a0;
        const a3 = rows > 3 ? a0 + 3 * step : a0;
        if (ASC_FEATURE_RELAXED_SIMD) {
          if (path == 1) kernel4x16Dot8(a0, a1, a2, a3, panel, pairs, chunk, tile);
          else kernel4x8Dot16Packed(packed + <usize>((m0 - b0) * kp * 2), panel, pairs, tile);
        } else if (ASC_FEATURE_SIMD) {
          kernel4x8Dot16Packed(packed + <usize>((m0 - b0) * kp * 2), panel, pairs, tile);
        } else {
          kernel4x8Scalar(a0, a1, a2, a3, panel, pairs, tile);
        }
        epilogueTile(tile, nr, m0, n0, rows, cols, out, n);
      }
    }
  }
}

/** out[n] = f32(aScale) · wScale[n or 0], the combined dequantization scale of the epilogue. */
export function combineScales(wScale: usize, perChannel: i32, aScale: f32, n: i32, out: usize): void {
  for (let i = 0; i < n; i++) {
    store<f32>(out + (<usize>i << 2), aScale * load<f32>(wScale + (perChannel ? <usize>i << 2 : 0)));
  }
}

/** Largest byte of rows×cols bytes (row stride ld), to check activations against their bit width. */
export function maxBytes(src: usize, rows: i32, cols: i32, ld: i32): i32 {
  let best = 0;
  for (let r = 0; r < rows; r++) {
    const row = src + <usize>r * <usize>ld;
    let c = 0;
    if (ASC_FEATURE_SIMD) {
      let v = i8x16.splat(0);
      for (; c + 16 <= cols; c += 16) v = i8x16.max_u(v, v128.load(row + c));
      v = i8x16.max_u(v, i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
      v = i8x16.max_u(v, i8x16.shuffle(v, v, 4, 5, 6, 7, 0, 1, 2, 3, 4, 5, 6, 7, 0, 1, 2, 3));
      v = i8x16.max_u(v, i8x16.shuffle(v, v, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0, 1));
      v = i8x16.max_u(v, i8x16.shuffle(v, v, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0, 1, 0));
      best = max(best, <i32>i8x16.extract_lane_u(v, 0));
    }
    for (; c < cols; c++) best = max(best, <i32>load<u8>(row + c));
  }
  return best;
}

// ---- Bit switch straight into panels: eq. 2 on int8-container rows, transposed 8 rows at a time.

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

/** eq. 2 on 16 int8 lanes: clip(round_half_even(v / 2^s), lo, hi). */
// @ts-ignore: decorator
@inline function roundShiftLanes(v: v128, s: i32, mask: v128, half: v128, lo: v128, hi: v128): v128 {
  const one = i8x16.splat(1);
  let q = i8x16.shr_s(v, s);
  const r = v128.and(v, mask);
  const up = v128.or(i8x16.gt_s(r, half), v128.and(i8x16.eq(r, half), i8x16.eq(v128.and(q, one), one)));
  q = i8x16.sub(q, up);
  return i8x16.max_s(i8x16.min_s(q, hi), lo);
}

/** 16 rounded values of row r at column c, or zeros for rows past n. */
// @ts-ignore: decorator
@inline function rowChunk(src: usize, rowBytes: usize, r: i32, n: i32, c: i32, s: i32, mask: v128, half: v128, lo: v128, hi: v128): v128 {
  return r < n ? roundShiftLanes(v128.load(src + <usize>r * rowBytes + <usize>c), s, mask, half, lo, hi) : i8x16.splat(0);
}

/**
 * Bit switch into panels (SIMD builds): stored int_h rows with an 8-bit container (h ≥ 5) →
 * eq. 2 to l bits → the panels packPanels would write for those values. `work` holds one tile of
 * int8 panel values (kp·nr bytes). Returns 0.
 */
export function switchPanels(src: usize, h: i32, n: i32, k: i32, l: i32, path: i32, work: usize, dst: usize): i32 {
  if (!ASC_FEATURE_SIMD) {
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
  const one32: i32 = 1;
  const mask = i8x16.splat(<i8>((one32 << s) - 1));
  const half = i8x16.splat(<i8>(s > 0 ? one32 << (s - 1) : one32));
  const lo = i8x16.splat(<i8>(-(one32 << (l - 1))));
  const hi = i8x16.splat(<i8>((one32 << (l - 1)) - 1));
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
