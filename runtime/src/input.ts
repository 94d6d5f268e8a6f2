// Raw input for models that record how to feed them (format 1.2 INPT, SPEC.md §7.4): 8-bit pixels
// in a Uint8Array or Uint8ClampedArray, or browser ImageData, are normalised here exactly as the
// model was trained. Any other array is the graph's own float input (NHWC) and passes unchanged.
import type { InputDescriptor, Model } from '@bitswitch/format';

/** What the runtime reads of an ImageData (canvas pixels, RGBA row-major); duck-typed so Node tests can build one. */
export interface ImageDataLike { readonly width: number; readonly height: number; readonly data: Uint8ClampedArray }

/** 8-bit pixels (layout as the model's INPT says) or ImageData, one image or a batch. */
export type RawInput = Uint8Array | Uint8ClampedArray | ImageDataLike | readonly ImageDataLike[];
/** What Runtime.run accepts: raw input, or normalised float values in the graph's NHWC order. */
export type ModelInput = ArrayLike<number> | RawInput;

export function isImageData(x: unknown): x is ImageDataLike {
  const o = x as ImageDataLike;
  return typeof o === 'object' && o !== null && o.data instanceof Uint8ClampedArray && Number.isInteger(o.width) && Number.isInteger(o.height);
}

/** True for input that needs the model's descriptor: 8-bit arrays and ImageData. */
export function isRawInput(x: unknown): x is RawInput {
  return x instanceof Uint8Array || x instanceof Uint8ClampedArray || isImageData(x) || (Array.isArray(x) && x.length > 0 && x.every(isImageData));
}

/**
 * Graph input (float32, NHWC) from raw values in the descriptor's layout:
 * x = ((r − lo) / (hi − lo) − mean[c]) / std[c] in float64 (SPEC.md §7.4).
 * MNIST (0..255, mean 0.1307, std 0.3081): pixel 0 → −0.42421…, pixel 255 → 2.82148…
 */
export function normalizeInput(input: InputDescriptor, raw: ArrayLike<number>, batch = 1): Float32Array {
  const { height: H, width: W, channels: C, range: [lo, hi], mean, std } = input;
  const plane = H * W;
  if (raw.length !== batch * plane * C) {
    throw new RangeError(`input.length: expected batch ${batch} × ${input.layout} [${H}, ${W}, ${C}] = ${batch * plane * C} raw values, got ${raw.length}`);
  }
  const out = new Float32Array(raw.length);
  const span = hi - lo;
  for (let b = 0; b < batch; b++) {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < C; c++) {
        const at = input.layout === 'NHWC' ? (b * plane + p) * C + c : (b * C + c) * plane + p;
        out[(b * plane + p) * C + c] = ((raw[at] - lo) / span - mean[c]) / std[c];
      }
    }
  }
  return out;
}

/**
 * Raw NHWC values of ImageData for C channels: C = 1 takes the luma (299 R + 587 G + 114 B) / 1000,
 * which is the grey value itself when R = G = B; C = 3 takes R, G, B; C = 4 takes RGBA. Alpha is
 * otherwise ignored. The images must already be the model's size.
 */
export function imageDataValues(images: readonly ImageDataLike[], H: number, W: number, C: number): Float64Array {
  if (C !== 1 && C !== 3 && C !== 4) throw new RangeError(`input: ImageData has RGBA pixels; a model with ${C} channels needs its input as an array`);
  const out = new Float64Array(images.length * H * W * C);
  images.forEach((img, i) => {
    if (img.width !== W || img.height !== H) {
      throw new RangeError(`input: expected ImageData of ${W}×${H} pixels (the model's input), got ${img.width}×${img.height} — draw the image scaled to ${W}×${H} first`);
    }
    const d = img.data;
    for (let p = 0; p < H * W; p++) {
      const o = (i * H * W + p) * C;
      if (C === 1) out[o] = (299 * d[4 * p] + 587 * d[4 * p + 1] + 114 * d[4 * p + 2]) / 1000;
      else for (let c = 0; c < C; c++) out[o + c] = d[4 * p + c];
    }
  });
  return out;
}

/**
 * The runtime's input hook: float arrays pass through; raw input is normalised with the model's
 * INPT descriptor, and a batch of ImageData sets the batch size.
 */
export function graphInput(model: Model, input: ModelInput, batch: number): { values: ArrayLike<number>; batch: number } {
  if (!isRawInput(input)) return { values: input as ArrayLike<number>, batch };
  const d = model.input;
  if (!d) {
    throw new RangeError('input: 8-bit pixels need the normalisation a model file records (format 1.2 INPT), and this file has none — pass a Float32Array normalised as the model was trained, or export the model again');
  }
  if (d.dtype !== 'uint8') {
    throw new RangeError(`input: this model takes ${d.dtype} raw values in ${d.range[0]}..${d.range[1]} (INPT), got 8-bit pixels — pass normalizeInput(model.input, values) as a Float32Array`);
  }
  if (isImageData(input) || Array.isArray(input)) {
    const images = isImageData(input) ? [input] : (input as readonly ImageDataLike[]);
    const nhwc: InputDescriptor = { ...d, layout: 'NHWC' };
    return { values: normalizeInput(nhwc, imageDataValues(images, d.height, d.width, d.channels), images.length), batch: images.length };
  }
  return { values: normalizeInput(d, input as Uint8Array, batch), batch };
}
