// The fused GEMM epilogue: int32 (or float32) tile → scale, bias, folded BatchNorm, residual,
// ReLU → float32 output or eq. 4 codes of the next layer. State is set once per GEMM (setEpilogue).
import { awayFromTie, clampCodes, lowBytes, quadExact, reciprocalIsSafe, roundLow } from './rounding';

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
// Second output of a float epilogue: the eq. 4 codes of y for the next layer (0 pointer = absent).
let epCodes: usize = 0;
let epCdScale: f32 = 0;
let epCdInv: f32 = 0;
let epCdFast: bool = false;
let epCdMax: f32 = 0;

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
  epCodes = 0;
}

/**
 * After setEpilogue, for a float output: also write the eq. 4 codes of every output value y with
 * scale and bits to codes [M][ldo] (uint8), as a separate quantize of the float output would.
 */
export function setEpilogueCodes(codes: usize, scale: f32, bits: i32): void {
  epCodes = codes; epCdScale = scale; epCdMax = <f32>((1 << bits) - 1);
  epCdFast = reciprocalIsSafe(<f64>scale);
  epCdInv = epCdFast ? <f32>(1.0 / <f64>scale) : 0;
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
 * eq. 4 codes of 4 values (low byte of each int32 lane): y · f32(1/s) gives the code of y / s away
 * from .5 ties (quantize.ts); near one, or where 1/s is not safe (fast false), divide in float64.
 * The requant output and the second (codes) output both take their codes here.
 */
// @ts-ignore: decorator
@inline function quadCodes(y: v128, scale: f32, inv: f32, hi: f32, fast: bool): v128 {
  const cv = clampCodes(f32x4.mul(y, f32x4.splat(inv)), f32x4.splat(hi));
  const q = roundLow(cv);
  if (fast && i32x4.all_true(awayFromTie(cv, q))) return q;
  return quadExact(y, f64x2.splat(<f64>scale), f64x2.splat(<f64>hi), f64x2.splat(0));
}

/**
 * eq. 4 codes of 16 values (4 vectors) as 16 bytes: y · f32(1/s) (inv) with one tie check for all
 * 16, the float64 division of the float32 operands (quadExact, format SPEC §6) where any lies near a
 * .5 tie: a float32 division would round quotients next to a tie onto it and flip the code. Callers
 * ensure 1/s is safe.
 */
// @ts-ignore: decorator
@inline function sixteenCodes(y0: v128, y1: v128, y2: v128, y3: v128, inv: v128, hi: v128, scale: f32, hiS: f32): v128 {
  const c0 = clampCodes(f32x4.mul(y0, inv), hi), c1 = clampCodes(f32x4.mul(y1, inv), hi);
  const c2 = clampCodes(f32x4.mul(y2, inv), hi), c3 = clampCodes(f32x4.mul(y3, inv), hi);
  const r0 = roundLow(c0), r1 = roundLow(c1), r2 = roundLow(c2), r3 = roundLow(c3);
  const ok = v128.and(v128.and(awayFromTie(c0, r0), awayFromTie(c1, r1)), v128.and(awayFromTie(c2, r2), awayFromTie(c3, r3)));
  if (i32x4.all_true(ok)) return lowBytes(r0, r1, r2, r3);
  const s = f64x2.splat(<f64>scale), h = f64x2.splat(<f64>hiS), z = f64x2.splat(0);
  return lowBytes(quadExact(y0, s, h, z), quadExact(y1, s, h, z), quadExact(y2, s, h, z), quadExact(y3, s, h, z));
}

/** eq. 4 of one float32 value with the float64 division (format SPEC §6). */
// @ts-ignore: decorator
@inline function scalarCode(y: f32, scale: f32, hi: f32): u8 {
  return <u8><i32>max<f64>(min<f64>(nearest<f64>(<f64>y / <f64>scale), <f64>hi), 0);
}

// Outputs of a specialized epilogue (epilogueFast): float32 only, float32 and the next layer's codes, codes only (requant).
const OUT_FLOAT = 0;
const OUT_FLOAT_CODES = 1;
const OUT_CODES = 2;

/**
 * epilogueValue on 4 lanes with the optional steps fixed at compile time (epilogueFast instantiates
 * it once per combination, so no step costs a test per vector): the same float32 operations in the
 * same order.
 */
// @ts-ignore: decorator
@inline function affineVector(acc: v128, n: usize, o: usize, bias: bool, bn: bool, res: bool, relu: bool): v128 {
  let y = f32x4.mul(f32x4.convert_i32x4_s(acc), v128.load(epScale + (n << 2)));
  if (bias) y = f32x4.add(y, v128.load(epBias + (n << 2)));
  if (bn) y = f32x4.add(f32x4.mul(y, v128.load(epMul + (n << 2))), v128.load(epAdd + (n << 2)));
  if (res) y = f32x4.add(y, v128.load(epRes + (o << 2)));
  if (relu) y = relu4(y);
  return y;
}

/**
 * f32x4.max(y, 0) (NaN stays NaN, −0 becomes +0) without its NaN and signed-zero fix-ups, which
 * engines spell out in about eight instructions: pmax(0, y) is one maxps, and NaN lanes come back
 * from y itself.
 */
// @ts-ignore: decorator
@inline function relu4(y: v128): v128 {
  return v128.or(f32x4.pmax(f32x4.splat(0), y), v128.and(y, f32x4.ne(y, y)));
}

/**
 * The SIMD epilogue of an int32 tile for one combination of steps and outputs (all compile-time
 * constants after inlining): 16 columns at a time with one tie check and one 16-byte store of
 * codes, then 4 at a time; the last cols % 4 columns go through the general epilogueTile.
 * Codes come from y · f32(1/s) away from .5 ties, else from the float64 division (quadCodes).
 */
// @ts-ignore: decorator
@inline function epilogueRows(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32,
  bias: bool, bn: bool, res: bool, relu: bool, mode: i32): void {
  const codes = mode == OUT_CODES ? out : epCodes;
  const scale = mode == OUT_CODES ? epRqScale : epCdScale;
  const hiS = mode == OUT_CODES ? epRqMax : epCdMax;
  const invS = mode == OUT_CODES ? epRqInv : epCdInv;
  const hi = f32x4.splat(hiS);
  const inv = f32x4.splat(invS);
  const tail = cols & ~3;
  for (let r = 0; r < rows; r++) {
    const t = tile + (<usize>(r * nr) << 2);
    const o = <usize>(m0 + r) * <usize>ldo + <usize>n0;
    let c = 0;
    if (mode != OUT_FLOAT) {
      for (; c + 16 <= cols; c += 16) {
        const tc = t + (<usize>c << 2);
        const n = <usize>(n0 + c);
        const oc = o + <usize>c;
        const y0 = affineVector(v128.load(tc), n, oc, bias, bn, res, relu);
        const y1 = affineVector(v128.load(tc, 16), n + 4, oc + 4, bias, bn, res, relu);
        const y2 = affineVector(v128.load(tc, 32), n + 8, oc + 8, bias, bn, res, relu);
        const y3 = affineVector(v128.load(tc, 48), n + 12, oc + 12, bias, bn, res, relu);
        if (mode == OUT_FLOAT_CODES) {
          const f = out + (oc << 2);
          v128.store(f, y0); v128.store(f, y1, 16); v128.store(f, y2, 32); v128.store(f, y3, 48);
        }
        v128.store(codes + oc, sixteenCodes(y0, y1, y2, y3, inv, hi, scale, hiS));
      }
    }
    for (; c < tail; c += 4) {
      const oc = o + <usize>c;
      const y = affineVector(v128.load(t + (<usize>c << 2)), <usize>(n0 + c), oc, bias, bn, res, relu);
      if (mode != OUT_CODES) v128.store(out + (oc << 2), y);
      if (mode != OUT_FLOAT) {
        const q = quadCodes(y, scale, invS, hiS, true);
        v128.store32_lane(codes + oc, i8x16.shuffle(q, q, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12), 0);
      }
    }
  }
  if (tail < cols) epilogueGeneral(tile + (<usize>tail << 2), nr, m0, n0 + tail, rows, cols - tail, out, ldo);
}

// The dispatch below picks one inlined copy of epilogueRows per combination of the optional steps.
// @ts-ignore: decorator
@inline function byMode(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32, bias: bool, bn: bool, res: bool, relu: bool, mode: i32): void {
  if (mode == OUT_FLOAT) epilogueRows(tile, nr, m0, n0, rows, cols, out, ldo, bias, bn, res, relu, OUT_FLOAT);
  else if (mode == OUT_FLOAT_CODES) epilogueRows(tile, nr, m0, n0, rows, cols, out, ldo, bias, bn, res, relu, OUT_FLOAT_CODES);
  else epilogueRows(tile, nr, m0, n0, rows, cols, out, ldo, bias, bn, res, relu, OUT_CODES);
}

// @ts-ignore: decorator
@inline function byRelu(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32, bias: bool, bn: bool, res: bool, mode: i32): void {
  if (epRelu) byMode(tile, nr, m0, n0, rows, cols, out, ldo, bias, bn, res, true, mode);
  else byMode(tile, nr, m0, n0, rows, cols, out, ldo, bias, bn, res, false, mode);
}

// @ts-ignore: decorator
@inline function byResidual(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32, bias: bool, bn: bool, mode: i32): void {
  if (epRes) byRelu(tile, nr, m0, n0, rows, cols, out, ldo, bias, bn, true, mode);
  else byRelu(tile, nr, m0, n0, rows, cols, out, ldo, bias, bn, false, mode);
}

// @ts-ignore: decorator
@inline function byBatchNorm(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32, bias: bool, mode: i32): void {
  if (epMul) byResidual(tile, nr, m0, n0, rows, cols, out, ldo, bias, true, mode);
  else byResidual(tile, nr, m0, n0, rows, cols, out, ldo, bias, false, mode);
}

/**
 * The specialized epilogue of an int32 tile where one applies: epilogueRows with the optional steps
 * of this GEMM as constants. False where the general loop must run (float32 tiles, only one of the
 * BatchNorm pair, a requant or codes scale whose reciprocal is not safe).
 */
function epilogueFast(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32): bool {
  if (epTileF32 || (epMul == 0) != (epAdd == 0)) return false;
  let mode = OUT_FLOAT;
  if (epRqScale > 0) {
    if (!epRqFast) return false;
    mode = OUT_CODES;
  } else if (epCodes) {
    if (!epCdFast) return false;
    mode = OUT_FLOAT_CODES;
  }
  if (epBias) byBatchNorm(tile, nr, m0, n0, rows, cols, out, ldo, true, mode);
  else byBatchNorm(tile, nr, m0, n0, rows, cols, out, ldo, false, mode);
  return true;
}

/** Writes rows×cols of an int32 (or float32) tile (row stride nr) to out [M][ldo] as float32 or, with requant, uint8 (eq. 4). */
export function epilogueTile(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32): void {
  if (ASC_FEATURE_SIMD && epScale) {
    if (epilogueFast(tile, nr, m0, n0, rows, cols, out, ldo)) return;
  }
  epilogueGeneral(tile, nr, m0, n0, rows, cols, out, ldo);
}

/** epilogueTile with the steps tested per vector: every case, including the ones epilogueFast leaves. */
function epilogueGeneral(tile: usize, nr: i32, m0: i32, n0: i32, rows: i32, cols: i32, out: usize, ldo: i32): void {
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
          v128.store(out + o + c, sixteenCodes(y0, y1, y2, y3, inv, hi, epRqScale, epRqMax));
        }
      }
      for (; c + 4 <= cols; c += 4) {
        const y = epilogueVector(v128.load(t + (<usize>c << 2)), <usize>(n0 + c), o + c);
        if (rq) {
          const q = quadCodes(y, epRqScale, epRqInv, epRqMax, epRqFast);
          v128.store32_lane(out + o + c, i8x16.shuffle(q, q, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12), 0);
        } else {
          v128.store(out + ((o + c) << 2), y);
          if (epCodes) {
            const q = quadCodes(y, epCdScale, epCdInv, epCdMax, epCdFast);
            v128.store32_lane(epCodes + o + c, i8x16.shuffle(q, q, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12, 0, 4, 8, 12), 0);
          }
        }
      }
    }
    for (; c < cols; c++) {
      const y = epilogueValue(t + (<usize>c << 2), <usize>(n0 + c), o + c);
      if (rq) store<u8>(out + o + c, scalarCode(y, epRqScale, epRqMax));
      else {
        store<f32>(out + ((o + c) << 2), y);
        if (epCodes) store<u8>(epCodes + o + c, scalarCode(y, epCdScale, epCdMax));
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
