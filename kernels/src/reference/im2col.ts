// Scalar reference of im2col for NHWC convolutions, and the convolution geometry (TensorFlow padding).

export interface ConvGeometry { oh: number; ow: number; padTop: number; padLeft: number }

/** Output size and leading padding along one axis, like TensorFlow's 'same' / 'valid'. */
export function padBefore(size: number, k: number, s: number, padding: 'same' | 'valid'): { out: number; pad: number } {
  if (padding === 'valid') return { out: Math.ceil((size - k + 1) / s), pad: 0 };
  const out = Math.ceil(size / s);
  return { out, pad: Math.floor(Math.max((out - 1) * s + k - size, 0) / 2) };
}

/** Output size and leading padding of a convolution, like TensorFlow's 'same' / 'valid'. */
export function convGeometry(h: number, w: number, kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid'): ConvGeometry {
  const r = padBefore(h, kh, sh, padding);
  const c = padBefore(w, kw, sw, padding);
  return { oh: r.out, ow: c.out, padTop: r.pad, padLeft: c.pad };
}

/** im2col of NHWC images: rows (b, oy, ox), columns (ky, kx, c); outside pixels are 0. */
export function im2colRef<T extends Uint8Array | Float32Array | Float64Array>(input: T, batch: number, h: number, w: number, c: number,
  kh: number, kw: number, sh: number, sw: number, padding: 'same' | 'valid'): T {
  const g = convGeometry(h, w, kh, kw, sh, sw, padding);
  const cols = kh * kw * c;
  const out = new (input.constructor as { new(n: number): T })(batch * g.oh * g.ow * cols);
  for (let b = 0; b < batch; b++) {
    for (let oy = 0; oy < g.oh; oy++) {
      for (let ox = 0; ox < g.ow; ox++) {
        const row = ((b * g.oh + oy) * g.ow + ox) * cols;
        for (let ky = 0; ky < kh; ky++) {
          for (let kx = 0; kx < kw; kx++) {
            const iy = oy * sh - g.padTop + ky;
            const ix = ox * sw - g.padLeft + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            for (let ch = 0; ch < c; ch++) out[row + (ky * kw + kx) * c + ch] = input[((b * h + iy) * w + ix) * c + ch];
          }
        }
      }
    }
  }
  return out;
}
