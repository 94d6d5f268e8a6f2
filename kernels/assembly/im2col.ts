// im2col for NHWC convolutions: rows (oy, ox), columns (ky, kx, c) — the OHWI weight order.

/** Copies patches of `batch` images [h][w][c] (elt bytes per value) into dst [batch·oh·ow][kh·kw·c]; outside pixels are 0. */
export function im2col(src: usize, batch: i32, h: i32, w: i32, c: i32, kh: i32, kw: i32, sh: i32, sw: i32,
  padTop: i32, padLeft: i32, oh: i32, ow: i32, elt: i32, dst: usize): void {
  const px = <usize>(c * elt);
  const image = <usize>(h * w) * px;
  for (let b = 0; b < batch; b++) {
    const img = src + <usize>b * image;
    for (let oy = 0; oy < oh; oy++) {
      for (let ox = 0; ox < ow; ox++) {
        const x0 = ox * sw - padLeft;
        const inside = x0 >= 0 && x0 + kw <= w;
        for (let ky = 0; ky < kh; ky++) {
          const iy = oy * sh - padTop + ky;
          if (iy < 0 || iy >= h) {
            memory.fill(dst, 0, <usize>kw * px);
          } else if (inside) {
            memory.copy(dst, img + (<usize>(iy * w + x0)) * px, <usize>kw * px);
          } else {
            for (let kx = 0; kx < kw; kx++) {
              const ix = x0 + kx;
              if (ix < 0 || ix >= w) memory.fill(dst + <usize>kx * px, 0, px);
              else memory.copy(dst + <usize>kx * px, img + (<usize>(iy * w + ix)) * px, px);
            }
          }
          dst += <usize>kw * px;
        }
      }
    }
  }
}
