// Fused training kernels that run on TensorFlow.js's wasm heap (this module imports that memory
// and keeps no data of its own: pointers are tfjs tensor offsets and a scratch block the caller
// allocates there). The trainer's fake quantizer (eq. 1–5 with STE gradients, eq. 13–14) and
// training-mode BatchNorm, each one to three passes instead of 5–10 separate tfjs kernels.
// Float32 arithmetic with the rounding of the composite tfjs ops operation by operation
// (f32x4.div is IEEE division, f32x4.nearest rounds half to even); sums over a tensor
// accumulate in f64, lane by lane in a fixed order, so a result never depends on the caller.

/** The upper two f32 lanes of v as f64x2. */
// @ts-ignore: decorator
@inline function promoteHigh(v: v128): v128 {
  return f64x2.promote_low_f32x4(i8x16.shuffle(v, v, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 3, 4, 5, 6, 7));
}

// ---- fake quantizer ----------------------------------------------------------------------
// Levels: W̃_h = clip(nearest(x/s), hn, hp); W̃_l = clip(nearest(W̃_h/step) or floor, lo, hi).
// The unsigned activation quantizer is hn = lo = 0, hp = hi = Q, step = 1.

// @ts-ignore: decorator
@inline function levels(x: v128, s: v128, hn: v128, hp: v128, lo: v128, hi: v128, inv: v128, floor: bool): v128 {
  const wh = f32x4.min(f32x4.max(f32x4.nearest(f32x4.div(x, s)), hn), hp);
  const sh = f32x4.mul(wh, inv); // wh / step, exact: step is a power of two
  return f32x4.min(f32x4.max(floor ? f32x4.floor(sh) : f32x4.nearest(sh), lo), hi);
}

// @ts-ignore: decorator
@inline function level1(x: f32, s: f32, hn: f32, hp: f32, lo: f32, hi: f32, inv: f32, floor: bool): f32 {
  const wh = min(max(nearest(x / s), hn), hp);
  const sh = wh * inv;
  return min(max(floor ? Mathf.floor(sh) : nearest(sh), lo), hi);
}

/**
 * dst = W̃_l · (s·step) over `rows` rows of `width` values; scale s[c] per column when
 * perColumn, else s[0]. width is 1 for a per-tensor scale over a flat tensor.
 */
export function fakeQuant(src: usize, dst: usize, rows: i32, width: i32, scales: usize, perColumn: bool,
  hn: f32, hp: f32, lo: f32, hi: f32, step: f32, floor: bool): void {
  const inv = <f32>1.0 / step;
  const vhn = f32x4.splat(hn), vhp = f32x4.splat(hp), vlo = f32x4.splat(lo), vhi = f32x4.splat(hi), vinv = f32x4.splat(inv);
  const total = <usize>rows * <usize>width;
  if (!perColumn) {
    const s = load<f32>(scales);
    const S = s * step;
    const vs = f32x4.splat(s), vS = f32x4.splat(S);
    let i: usize = 0;
    for (; i + 4 <= total; i += 4) {
      const at = i << 2;
      v128.store(dst + at, f32x4.mul(levels(v128.load(src + at), vs, vhn, vhp, vlo, vhi, vinv, floor), vS));
    }
    for (; i < total; i++) store<f32>(dst + (i << 2), level1(load<f32>(src + (i << 2)), s, hn, hp, lo, hi, inv, floor) * S);
    return;
  }
  for (let r: usize = 0; r < <usize>rows; r++) {
    const row = r * <usize>width;
    let c = 0;
    for (; c + 4 <= width; c += 4) {
      const vs = v128.load(scales + (<usize>c << 2));
      const at = (row + <usize>c) << 2;
      v128.store(dst + at, f32x4.mul(levels(v128.load(src + at), vs, vhn, vhp, vlo, vhi, vinv, floor), f32x4.mul(vs, f32x4.splat(step))));
    }
    for (; c < width; c++) {
      const s = load<f32>(scales + (<usize>c << 2));
      const at = (row + <usize>c) << 2;
      store<f32>(dst + at, level1(load<f32>(src + at), s, hn, hp, lo, hi, inv, floor) * (s * step));
    }
  }
}

/**
 * STE gradient of fakeQuant: dx = dy·inside, with v = x/(s·step) and inside = lo < v < hi;
 * acc[c] (f64, one per column, or acc[0] alone) += Σ dy·(W̃_l − v·inside). Scale gradient =
 * acc·step·g, applied by the caller.
 */
export function fakeQuantGrad(dy: usize, src: usize, dx: usize, rows: i32, width: i32, scales: usize, perColumn: bool,
  hn: f32, hp: f32, lo: f32, hi: f32, step: f32, floor: bool, acc: usize): void {
  const inv = <f32>1.0 / step;
  const vhn = f32x4.splat(hn), vhp = f32x4.splat(hp), vlo = f32x4.splat(lo), vhi = f32x4.splat(hi), vinv = f32x4.splat(inv);
  const one = f32x4.splat(1);
  const total = <usize>rows * <usize>width;
  if (!perColumn) {
    const s = load<f32>(scales);
    const S = s * step;
    const vs = f32x4.splat(s), vS = f32x4.splat(S);
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0);
    let i: usize = 0;
    for (; i + 4 <= total; i += 4) {
      const at = i << 2;
      const x = v128.load(src + at), d = v128.load(dy + at);
      const wl = levels(x, vs, vhn, vhp, vlo, vhi, vinv, floor);
      const v = f32x4.div(x, vS);
      const inside = v128.and(v128.and(f32x4.gt(v, vlo), f32x4.lt(v, vhi)), one);
      v128.store(dx + at, f32x4.mul(d, inside));
      const t = f32x4.mul(d, f32x4.sub(wl, f32x4.mul(v, inside)));
      a0 = f64x2.add(a0, f64x2.promote_low_f32x4(t));
      a1 = f64x2.add(a1, promoteHigh(t));
    }
    let sum = f64x2.extract_lane(a0, 0) + f64x2.extract_lane(a0, 1) + f64x2.extract_lane(a1, 0) + f64x2.extract_lane(a1, 1);
    for (; i < total; i++) {
      const x = load<f32>(src + (i << 2)), d = load<f32>(dy + (i << 2));
      const wl = level1(x, s, hn, hp, lo, hi, inv, floor);
      const v = x / S;
      const inside: f32 = v > lo && v < hi ? 1 : 0;
      store<f32>(dx + (i << 2), d * inside);
      sum += <f64>(d * (wl - v * inside));
    }
    store<f64>(acc, load<f64>(acc) + sum);
    return;
  }
  for (let r: usize = 0; r < <usize>rows; r++) {
    const row = r * <usize>width;
    for (let c = 0; c < width; c++) {
      const s = load<f32>(scales + (<usize>c << 2));
      const S = s * step;
      const at = (row + <usize>c) << 2;
      const x = load<f32>(src + at), d = load<f32>(dy + at);
      const wl = level1(x, s, hn, hp, lo, hi, inv, floor);
      const v = x / S;
      const inside: f32 = v > lo && v < hi ? 1 : 0;
      store<f32>(dx + at, d * inside);
      const a = acc + (<usize>c << 3);
      store<f64>(a, load<f64>(a) + <f64>(d * (wl - v * inside)));
    }
  }
}

// ---- BatchNorm over N·H·W of channels-last data ------------------------------------------
// `rows` = N·H·W, `channels` = C; per-channel f64 sums live in the caller's scratch.

/** x̂ = (x − mean)·rstd of 4 channels, in f32. */
// @ts-ignore: decorator
@inline function xhat4(x: usize, mean: usize, rstd: usize): v128 {
  return f32x4.mul(f32x4.sub(v128.load(x), v128.load(mean)), v128.load(rstd));
}

/** x̂ = (x − mean)·rstd of one channel, in f32. */
// @ts-ignore: decorator
@inline function xhat1(x: usize, mean: usize, rstd: usize): f32 {
  return (load<f32>(x) - load<f32>(mean)) * load<f32>(rstd);
}

/** sum[c] += Σ x[r][c] (f64). */
export function channelSums(src: usize, rows: i32, channels: i32, sum: usize): void {
  for (let r: usize = 0; r < <usize>rows; r++) {
    const row = src + ((r * <usize>channels) << 2);
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const x = v128.load(row + (<usize>c << 2));
      const a = sum + (<usize>c << 3);
      v128.store(a, f64x2.add(v128.load(a), f64x2.promote_low_f32x4(x)));
      v128.store(a, f64x2.add(v128.load(a, 16), promoteHigh(x)), 16);
    }
    for (; c < channels; c++) {
      const a = sum + (<usize>c << 3);
      store<f64>(a, load<f64>(a) + <f64>load<f32>(row + (<usize>c << 2)));
    }
  }
}

/** sq[c] += Σ (x[r][c] − mean[c])², the difference in f32 (as tfjs's moments), the square and sum in f64. */
export function channelSquares(src: usize, rows: i32, channels: i32, mean: usize, sq: usize): void {
  for (let r: usize = 0; r < <usize>rows; r++) {
    const row = src + ((r * <usize>channels) << 2);
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const d = f32x4.sub(v128.load(row + (<usize>c << 2)), v128.load(mean + (<usize>c << 2)));
      const lo = f64x2.promote_low_f32x4(d);
      const hi = promoteHigh(d);
      const a = sq + (<usize>c << 3);
      v128.store(a, f64x2.add(v128.load(a), f64x2.mul(lo, lo)));
      v128.store(a, f64x2.add(v128.load(a, 16), f64x2.mul(hi, hi)), 16);
    }
    for (; c < channels; c++) {
      const d = <f64>(load<f32>(row + (<usize>c << 2)) - load<f32>(mean + (<usize>c << 2)));
      const a = sq + (<usize>c << 3);
      store<f64>(a, load<f64>(a) + d * d);
    }
  }
}

/** y = ((x − mean)·rstd)·gamma + beta, each operation rounded to f32. */
export function normalize(src: usize, dst: usize, rows: i32, channels: i32, mean: usize, rstd: usize, gamma: usize, beta: usize): void {
  for (let r: usize = 0; r < <usize>rows; r++) {
    const off = (r * <usize>channels) << 2;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const p = <usize>c << 2;
      const xh = xhat4(src + off + p, mean + p, rstd + p);
      v128.store(dst + off + p, f32x4.add(f32x4.mul(xh, v128.load(gamma + p)), v128.load(beta + p)));
    }
    for (; c < channels; c++) {
      const p = <usize>c << 2;
      const xh = xhat1(src + off + p, mean + p, rstd + p);
      store<f32>(dst + off + p, xh * load<f32>(gamma + p) + load<f32>(beta + p));
    }
  }
}

/** db[c] += Σ dy, dg[c] += Σ dy·x̂ (f64), x̂ = (x − mean)·rstd in f32. */
export function normalizeGradSums(dy: usize, src: usize, rows: i32, channels: i32, mean: usize, rstd: usize, db: usize, dg: usize): void {
  for (let r: usize = 0; r < <usize>rows; r++) {
    const off = (r * <usize>channels) << 2;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const p = <usize>c << 2;
      const d = v128.load(dy + off + p);
      const xh = xhat4(src + off + p, mean + p, rstd + p);
      const dlo = f64x2.promote_low_f32x4(d);
      const dhi = promoteHigh(d);
      const xlo = f64x2.promote_low_f32x4(xh);
      const xhi = promoteHigh(xh);
      const a = db + (<usize>c << 3), g = dg + (<usize>c << 3);
      v128.store(a, f64x2.add(v128.load(a), dlo));
      v128.store(a, f64x2.add(v128.load(a, 16), dhi), 16);
      v128.store(g, f64x2.add(v128.load(g), f64x2.mul(dlo, xlo)));
      v128.store(g, f64x2.add(v128.load(g, 16), f64x2.mul(dhi, xhi)), 16);
    }
    for (; c < channels; c++) {
      const p = <usize>c << 2;
      const d = load<f32>(dy + off + p);
      const xh = xhat1(src + off + p, mean + p, rstd + p);
      const a = db + (<usize>c << 3), g = dg + (<usize>c << 3);
      store<f64>(a, load<f64>(a) + <f64>d);
      store<f64>(g, load<f64>(g) + <f64>d * <f64>xh);
    }
  }
}

/**
 * dx = ((dy·m − dβ) − x̂·dγ) · k, k[c] = γ·rstd/m, each operation rounded to f32 (the
 * closed-form gradient of batch-norm.ts); dβ, dγ as f32 per channel.
 */
export function normalizeGrad(dy: usize, src: usize, dx: usize, rows: i32, channels: i32, mean: usize, rstd: usize,
  dbeta: usize, dgamma: usize, k: usize, m: f32): void {
  const vm = f32x4.splat(m);
  for (let r: usize = 0; r < <usize>rows; r++) {
    const off = (r * <usize>channels) << 2;
    let c = 0;
    for (; c + 4 <= channels; c += 4) {
      const p = <usize>c << 2;
      const xh = xhat4(src + off + p, mean + p, rstd + p);
      const inner = f32x4.sub(f32x4.sub(f32x4.mul(v128.load(dy + off + p), vm), v128.load(dbeta + p)), f32x4.mul(xh, v128.load(dgamma + p)));
      v128.store(dx + off + p, f32x4.mul(inner, v128.load(k + p)));
    }
    for (; c < channels; c++) {
      const p = <usize>c << 2;
      const xh = xhat1(src + off + p, mean + p, rstd + p);
      const inner = (load<f32>(dy + off + p) * m - load<f32>(dbeta + p)) - xh * load<f32>(dgamma + p);
      store<f32>(dx + off + p, inner * load<f32>(k + p));
    }
  }
}

// ---- Conv2D filter gradient (NHWC input, HWIO filter) ------------------------------------
// dW[i][j][ci][co] = Σ_{b,oy,ox} x[b][oy·sh+i−pt][ox·sw+j−pl][ci] · dy[b][oy][ox][co], taps outside
// the image contribute nothing. Output pixels go in chunks of CHUNK; per chunk and tap a list of
// (x row, dy row) byte offsets of the pixels whose tap is inside, then for each block of 4 input
// channels × 8 output channels one pass over that list with the 8 sums in registers, added to dW.

const CHUNK = 128;

/** Bytes of scratch convFilterGrad and convInputGrad need (their pixel list). */
export function convGradScratchBytes(): i32 {
  return CHUNK * 8;
}

// @ts-ignore: decorator
@inline function fma(acc: v128, a: v128, b: v128): v128 {
  return f32x4.add(acc, f32x4.mul(a, b));
}

/** dw[r][c..c+8] += Σ_q x[q][r]·dy[q][c..c+8] for the 4 rows r = ci..ci+3 (rows < 4: the first `rows`). */
function block4x8(x: usize, dy: usize, list: usize, n: i32, ci: i32, co: i32, Cout: i32, dw: usize): void {
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const xc = x + (<usize>ci << 2);
  const dc = dy + (<usize>co << 2);
  for (let q = 0; q < n; q++) {
    const e = list + (<usize>q << 3);
    const xr = xc + <usize>load<i32>(e);
    const dr = dc + <usize>load<i32>(e, 4);
    const d0 = v128.load(dr), d1 = v128.load(dr, 16);
    const x0 = v128.load32_splat(xr), x1 = v128.load32_splat(xr, 4), x2 = v128.load32_splat(xr, 8), x3 = v128.load32_splat(xr, 12);
    a00 = fma(a00, x0, d0); a01 = fma(a01, x0, d1);
    a10 = fma(a10, x1, d0); a11 = fma(a11, x1, d1);
    a20 = fma(a20, x2, d0); a21 = fma(a21, x2, d1);
    a30 = fma(a30, x3, d0); a31 = fma(a31, x3, d1);
  }
  const row = <usize>Cout << 2;
  const o = dw + ((<usize>ci * <usize>Cout + <usize>co) << 2);
  v128.store(o, f32x4.add(v128.load(o), a00)); v128.store(o, f32x4.add(v128.load(o, 16), a01), 16);
  v128.store(o + row, f32x4.add(v128.load(o + row), a10)); v128.store(o + row, f32x4.add(v128.load(o + row, 16), a11), 16);
  v128.store(o + 2 * row, f32x4.add(v128.load(o + 2 * row), a20)); v128.store(o + 2 * row, f32x4.add(v128.load(o + 2 * row, 16), a21), 16);
  v128.store(o + 3 * row, f32x4.add(v128.load(o + 3 * row), a30)); v128.store(o + 3 * row, f32x4.add(v128.load(o + 3 * row, 16), a31), 16);
}

/** The general case: one input channel × output channels co..co+cols−1, scalar. */
function blockScalar(x: usize, dy: usize, list: usize, n: i32, ci: i32, co: i32, cols: i32, Cout: i32, dw: usize): void {
  for (let c = 0; c < cols; c++) {
    let a: f32 = 0;
    for (let q = 0; q < n; q++) {
      const e = list + (<usize>q << 3);
      a += load<f32>(x + <usize>load<i32>(e) + (<usize>ci << 2)) * load<f32>(dy + <usize>load<i32>(e, 4) + (<usize>(co + c) << 2));
    }
    const o = dw + ((<usize>ci * <usize>Cout + <usize>(co + c)) << 2);
    store<f32>(o, load<f32>(o) + a);
  }
}

/** One input channel × 4 output channels. */
function block1x4(x: usize, dy: usize, list: usize, n: i32, ci: i32, co: i32, Cout: i32, dw: usize): void {
  let a = f32x4.splat(0);
  const xc = x + (<usize>ci << 2);
  const dc = dy + (<usize>co << 2);
  for (let q = 0; q < n; q++) {
    const e = list + (<usize>q << 3);
    a = fma(a, v128.load32_splat(xc + <usize>load<i32>(e)), v128.load(dc + <usize>load<i32>(e, 4)));
  }
  const o = dw + ((<usize>ci * <usize>Cout + <usize>co) << 2);
  v128.store(o, f32x4.add(v128.load(o), a));
}

/**
 * dW (fh·fw·Cin·Cout floats, overwritten) of a Conv2D with input x [B,H,W,Cin], output gradient
 * dy [B,Ho,Wo,Cout], strides sh, sw and top/left padding pt, pl. `scratch`: convGradScratchBytes().
 */
export function convFilterGrad(x: usize, dy: usize, dw: usize, B: i32, H: i32, W: i32, Cin: i32, Ho: i32, Wo: i32, Cout: i32,
  fh: i32, fw: i32, sh: i32, sw: i32, pt: i32, pl: i32, scratch: usize): void {
  memory.fill(dw, 0, <usize>(fh * fw * Cin * Cout) << 2);
  const pixels = B * Ho * Wo;
  const tapBytes = <usize>(Cin * Cout) << 2;
  for (let p0 = 0; p0 < pixels; p0 += CHUNK) {
    const p1 = min(p0 + CHUNK, pixels);
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        // the chunk's pixels whose tap (i, j) lies inside the image
        let n = 0;
        for (let p = p0; p < p1; p++) {
          const ox = p % Wo;
          const t = p / Wo;
          const oy = t % Ho;
          const b = t / Ho;
          const iy = oy * sh + i - pt;
          const ix = ox * sw + j - pl;
          if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
          const e = scratch + (<usize>n << 3);
          store<i32>(e, ((b * H + iy) * W + ix) * Cin << 2);
          store<i32>(e, p * Cout << 2, 4);
          n++;
        }
        if (n == 0) continue;
        const tap = dw + <usize>(i * fw + j) * tapBytes;
        let ci = 0;
        for (; ci + 4 <= Cin; ci += 4) {
          let co = 0;
          for (; co + 8 <= Cout; co += 8) block4x8(x, dy, scratch, n, ci, co, Cout, tap);
          for (let r = 0; r < 4; r++) {
            let c = co;
            if (c + 4 <= Cout) { block1x4(x, dy, scratch, n, ci + r, c, Cout, tap); c += 4; }
            if (c < Cout) blockScalar(x, dy, scratch, n, ci + r, c, Cout - c, Cout, tap);
          }
        }
        for (; ci < Cin; ci++) {
          let co = 0;
          for (; co + 4 <= Cout; co += 4) block1x4(x, dy, scratch, n, ci, co, Cout, tap);
          if (co < Cout) blockScalar(x, dy, scratch, n, ci, co, Cout - co, Cout, tap);
        }
      }
    }
  }
}

// ---- Conv2D input gradient for strided convolutions ----------------------------------------
// dx[b][h][w][ci] = Σ_{i,j} Σ_co dy[b][oy][ox][co] · W[i][j][ci][co] over the taps where
// oy = (h + pt − i)/sh and ox = (w + pl − j)/sw are whole and inside dy. With stride 2 a pixel has
// about a quarter of the taps, which the zero-upsampled Conv2D would multiply by zeros.
// wt: the filter as [fh][fw][Cout][Cin] (the caller transposes it), so a tap's column of W for one
// output channel is contiguous. Per chunk of input pixels and tap, the listed (dx row, dy row)
// pairs go 4 at a time through 8-channel blocks with the sums over co in registers.

/** dx[e][c..c+8] += Σ_co dy[e][co]·wt[co][c..c+8] for 4 list entries e (entries past n: none). */
function tapBlock4x8(dy: usize, dx: usize, wt: usize, list: usize, q: i32, n: i32, c: i32, Cin: i32, Cout: i32): void {
  const e0 = list + (<usize>q << 3);
  const full = q + 4 <= n;
  const d0 = dy + <usize>load<i32>(e0, 4);
  const d1 = full || q + 1 < n ? dy + <usize>load<i32>(e0, 12) : d0;
  const d2 = full || q + 2 < n ? dy + <usize>load<i32>(e0, 20) : d0;
  const d3 = full || q + 3 < n ? dy + <usize>load<i32>(e0, 28) : d0;
  let a00 = f32x4.splat(0), a01 = f32x4.splat(0), a10 = f32x4.splat(0), a11 = f32x4.splat(0);
  let a20 = f32x4.splat(0), a21 = f32x4.splat(0), a30 = f32x4.splat(0), a31 = f32x4.splat(0);
  const rowBytes = <usize>Cin << 2;
  let w = wt + (<usize>c << 2);
  for (let co = 0; co < Cout; co++) {
    const w0 = v128.load(w), w1 = v128.load(w, 16);
    const off = <usize>co << 2;
    const y0 = v128.load32_splat(d0 + off), y1 = v128.load32_splat(d1 + off), y2 = v128.load32_splat(d2 + off), y3 = v128.load32_splat(d3 + off);
    a00 = fma(a00, y0, w0); a01 = fma(a01, y0, w1);
    a10 = fma(a10, y1, w0); a11 = fma(a11, y1, w1);
    a20 = fma(a20, y2, w0); a21 = fma(a21, y2, w1);
    a30 = fma(a30, y3, w0); a31 = fma(a31, y3, w1);
    w += rowBytes;
  }
  const cb = <usize>c << 2;
  const o0 = dx + <usize>load<i32>(e0) + cb;
  v128.store(o0, f32x4.add(v128.load(o0), a00)); v128.store(o0, f32x4.add(v128.load(o0, 16), a01), 16);
  if (!full && q + 1 >= n) return;
  const o1 = dx + <usize>load<i32>(e0, 8) + cb;
  v128.store(o1, f32x4.add(v128.load(o1), a10)); v128.store(o1, f32x4.add(v128.load(o1, 16), a11), 16);
  if (!full && q + 2 >= n) return;
  const o2 = dx + <usize>load<i32>(e0, 16) + cb;
  v128.store(o2, f32x4.add(v128.load(o2), a20)); v128.store(o2, f32x4.add(v128.load(o2, 16), a21), 16);
  if (!full && q + 3 >= n) return;
  const o3 = dx + <usize>load<i32>(e0, 24) + cb;
  v128.store(o3, f32x4.add(v128.load(o3), a30)); v128.store(o3, f32x4.add(v128.load(o3, 16), a31), 16);
}

/** One list entry × input channels c..c+cols−1, scalar. */
function tapScalar(dy: usize, dx: usize, wt: usize, e: usize, c: i32, cols: i32, Cin: i32, Cout: i32): void {
  const d = dy + <usize>load<i32>(e, 4);
  const o = dx + <usize>load<i32>(e);
  for (let k = c; k < c + cols; k++) {
    let a: f32 = 0;
    for (let co = 0; co < Cout; co++) a += load<f32>(d + (<usize>co << 2)) * load<f32>(wt + ((<usize>co * <usize>Cin + <usize>k) << 2));
    store<f32>(o + (<usize>k << 2), load<f32>(o + (<usize>k << 2)) + a);
  }
}

/**
 * dx [B,H,W,Cin] (overwritten) of a Conv2D with output gradient dy [B,Ho,Wo,Cout], filter wt
 * [fh][fw][Cout][Cin], strides sh, sw and top/left padding pt, pl. `scratch`: convGradScratchBytes().
 */
export function convInputGrad(dy: usize, wt: usize, dx: usize, B: i32, H: i32, W: i32, Cin: i32, Ho: i32, Wo: i32, Cout: i32,
  fh: i32, fw: i32, sh: i32, sw: i32, pt: i32, pl: i32, scratch: usize): void {
  memory.fill(dx, 0, <usize>(B * H * W * Cin) << 2);
  const pixels = B * H * W;
  const tapBytes = <usize>(Cout * Cin) << 2;
  for (let p0 = 0; p0 < pixels; p0 += CHUNK) {
    const p1 = min(p0 + CHUNK, pixels);
    for (let i = 0; i < fh; i++) {
      for (let j = 0; j < fw; j++) {
        let n = 0;
        for (let p = p0; p < p1; p++) {
          const w = p % W;
          const t = p / W;
          const h = t % H;
          const b = t / H;
          const ry = h + pt - i, rx = w + pl - j;
          if (ry < 0 || rx < 0 || ry % sh != 0 || rx % sw != 0) continue;
          const oy = ry / sh, ox = rx / sw;
          if (oy >= Ho || ox >= Wo) continue;
          const e = scratch + (<usize>n << 3);
          store<i32>(e, p * Cin << 2);
          store<i32>(e, ((b * Ho + oy) * Wo + ox) * Cout << 2, 4);
          n++;
        }
        if (n == 0) continue;
        const tap = wt + <usize>(i * fw + j) * tapBytes;
        let c = 0;
        for (; c + 8 <= Cin; c += 8) for (let q = 0; q < n; q += 4) tapBlock4x8(dy, dx, tap, scratch, q, n, c, Cin, Cout);
        if (c < Cin) for (let q = 0; q < n; q++) tapScalar(dy, dx, tap, scratch + (<usize>q << 3), c, Cin - c, Cin, Cout);
      }
    }
  }
}

// ---- Adam ----------------------------------------------------------------------------------------
// One pass of Adam with L2 weight decay over n floats, in the order and float32 rounding of the
// composite ops (trainer/src/math/adam.ts), so both give the same bits:
//   g = g0 + p·wd (when wd ≠ 0); m' = m·b1 + g·nb1; v' = v·b2 + (g·g)·nb2;
//   p' = p − ((m'/c1) / (sqrt(v'/c2) + eps))·lr,  nb1 = 1 − b1 and nb2 = 1 − b2 as the caller rounded them.
// Outputs go to p2, m2, v2 (they may alias p, m, v).

export function adam(p: usize, g: usize, m: usize, v: usize, p2: usize, m2: usize, v2: usize, n: i32,
  wd: f32, b1: f32, nb1: f32, b2: f32, nb2: f32, c1: f32, c2: f32, eps: f32, lr: f32): void {
  const decay = wd != 0;
  const W = f32x4.splat(wd), B1 = f32x4.splat(b1), NB1 = f32x4.splat(nb1), B2 = f32x4.splat(b2), NB2 = f32x4.splat(nb2);
  const C1 = f32x4.splat(c1), C2 = f32x4.splat(c2), E = f32x4.splat(eps), L = f32x4.splat(lr);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const pv = v128.load(p + o);
    const g0 = v128.load(g + o);
    const gv = decay ? f32x4.add(g0, f32x4.mul(pv, W)) : g0;
    const m1 = f32x4.add(f32x4.mul(v128.load(m + o), B1), f32x4.mul(gv, NB1));
    const v1 = f32x4.add(f32x4.mul(v128.load(v + o), B2), f32x4.mul(f32x4.mul(gv, gv), NB2));
    const u = f32x4.div(f32x4.div(m1, C1), f32x4.add(f32x4.sqrt(f32x4.div(v1, C2)), E));
    v128.store(p2 + o, f32x4.sub(pv, f32x4.mul(u, L)));
    v128.store(m2 + o, m1);
    v128.store(v2 + o, v1);
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const pv = load<f32>(p + o);
    const g0 = load<f32>(g + o);
    const gv = decay ? g0 + pv * wd : g0;
    const m1 = load<f32>(m + o) * b1 + gv * nb1;
    const v1 = load<f32>(v + o) * b2 + (gv * gv) * nb2;
    const u = (m1 / c1) / (Mathf.sqrt(v1 / c2) + eps);
    store<f32>(p2 + o, pv - u * lr);
    store<f32>(m2 + o, m1);
    store<f32>(v2 + o, v1);
  }
}

// ---- ReLU gradient -------------------------------------------------------------------------------

/** dx = dy·(x > 0 ? 1 : 0) over n floats: tfjs's ReLU gradient (dy times the step of x) in one pass. */
export function reluGrad(dy: usize, x: usize, dx: usize, n: i32): void {
  const one = f32x4.splat(1), zero = f32x4.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const step = v128.and(f32x4.gt(v128.load(x + o), zero), one);
    v128.store(dx + o, f32x4.mul(v128.load(dy + o), step));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, load<f32>(dy + o) * (load<f32>(x + o) > 0 ? <f32>1 : <f32>0));
  }
}
