// Independent references shared by the tests written for mutation testing: convolution geometry
// from TensorFlow's definition and im2col as "zero-pad the image, then slide the window" (no
// bounds checks), so that the im2col implementations are not checked against their own formulas.

export interface Geometry { outH: number; outW: number; padTop: number; padLeft: number }

/** 'valid': every window inside the image; 'same': ceil(size/stride) outputs, the shortfall padded, the smaller half first. */
export function tfGeometry(h: number, w: number, kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid'): Geometry {
  const outH = padding === 'same' ? Math.ceil(h / sh) : Math.floor((h - kh) / sh) + 1;
  const outW = padding === 'same' ? Math.ceil(w / sw) : Math.floor((w - kw) / sw) + 1;
  const padTop = padding === 'same' ? Math.floor(Math.max((outH - 1) * sh + kh - h, 0) / 2) : 0;
  const padLeft = padding === 'same' ? Math.floor(Math.max((outW - 1) * sw + kw - w, 0) / 2) : 0;
  return { outH, outW, padTop, padLeft };
}

/** Rows (b, oy, ox), columns (ky, kx, c) of NHWC `x`, read from a zero-padded copy of each image. */
export function zeroPadSlide(x: ArrayLike<number>, batch: number, h: number, w: number, c: number,
  kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid'): number[] {
  const g = tfGeometry(h, w, kh, kw, sh, sw, padding);
  const [H, W] = [(g.outH - 1) * sh + kh, (g.outW - 1) * sw + kw];
  const padded = new Float64Array(batch * H * W * c);
  for (let b = 0; b < batch; b++) {
    for (let y = 0; y < h && y + g.padTop < H; y++) {
      for (let xx = 0; xx < w && xx + g.padLeft < W; xx++) {
        for (let ch = 0; ch < c; ch++) padded[((b * H + y + g.padTop) * W + xx + g.padLeft) * c + ch] = x[((b * h + y) * w + xx) * c + ch];
      }
    }
  }
  const out: number[] = [];
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            for (let ch = 0; ch < c; ch++) out.push(padded[((b * H + oy * sh + ky) * W + ox * sw + kx) * c + ch]);
          }
        }
      }
    }
  }
  return out;
}

/** The message of the error `f` throws, after checking its class; fails the test when nothing is thrown. */
export function thrownMessage(f: () => unknown, type: abstract new (...args: never[]) => Error = RangeError): string {
  try {
    f();
  } catch (e) {
    if (!(e instanceof type)) throw new Error(`expected a ${type.name}, got ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    return e.message;
  }
  throw new Error(`expected a ${type.name}, nothing was thrown`);
}
