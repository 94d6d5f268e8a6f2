// im2col for NHWC convolutions: rows (oy, ox), columns (ky, kx, c) — the OHWI weight order.

/** Copies patches of `batch` images [h][w][c] (elt bytes per value) into dst [batch·oh·ow][kh·kw·c]; outside pixels are 0. */
export function im2col(src: usize, batch: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32,
  padTop: i32, padLeft: i32, oh: i32, ow: i32, elt: i32, dst: usize): void {
  const px = <usize>(c * elt);
  const image = <usize>(h * w) * px;
  const row = <usize>(kh * kw) * px;
  for (let b = 0; b < batch; b++) {
    const img = src + <usize>b * image;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        patchRow(img, h, w, px, kh, kw, oy * sh - padTop, ox * sw - padLeft, dst);
        dst += row;
      }
    }
  }
}

/** One patch row: the kh×kw pixels (px bytes each) of the image at img from (y0, x0) on, outside pixels 0. */
// @ts-ignore: decorator
@inline export function patchRow(img: usize, h: i32, w: i32, px: usize, kh: i32, kw: i32, y0: i32, x0: i32, dst: usize): void {
  const inside = x0 >= 0 && x0 + kw <= w;
  for (let ky = 0; ky < kh; ky++) {
    const iy = y0 + ky;
    if (iy < 0 || iy >= h) {
      zeroBytes(dst, <usize>kw * px);
    } else if (inside) {
      copyBytes(dst, img + (<usize>(iy * w + x0)) * px, <usize>kw * px);
    } else {
      for (let kx = 0; kx < kw; kx++) {
        const ix = x0 + kx;
        if (ix < 0 || ix >= w) zeroBytes(dst + <usize>kx * px, px);
        else copyBytes(dst + <usize>kx * px, img + (<usize>(iy * w + ix)) * px, px);
      }
    }
    dst += <usize>kw * px;
  }
}

// Runs here are short (kw·c bytes): inline vector moves beat memory.copy/fill, which V8 calls out of line.

// @ts-ignore: decorator
@inline function copyBytes(dst: usize, src: usize, n: usize): void {
  if (ASC_FEATURE_SIMD) {
    for (; n >= 16; n -= 16, dst += 16, src += 16) v128.store(dst, v128.load(src));
  }
  for (; n >= 8; n -= 8, dst += 8, src += 8) store<u64>(dst, load<u64>(src));
  for (; n > 0; n--, dst++, src++) store<u8>(dst, load<u8>(src));
}

// @ts-ignore: decorator
@inline export function zeroBytes(dst: usize, n: usize): void {
  if (ASC_FEATURE_SIMD) {
    for (; n >= 16; n -= 16, dst += 16) v128.store(dst, i8x16.splat(0));
  }
  for (; n >= 8; n -= 8, dst += 8) store<u64>(dst, 0);
  for (; n > 0; n--, dst++) store<u8>(dst, 0);
}
