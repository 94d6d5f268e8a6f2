// Test images for the demo: `NAME.json` = {count, shape: [H, W, C], labels, mean, std} and
// `NAME.bin` = count·H·W·C uint8 pixels (NHWC). Normalised as the trainer does: (p/255 − mean)/std.

export interface TestImagesFile {
  count: number;
  shape: number[];
  labels: number[];
  mean: number[];
  std: number[];
}

export interface TestImages extends TestImagesFile {
  pixels: Uint8Array;
  images: Float32Array;
  perImage: number;
}

export function normalise(pixels: Uint8Array, meta: TestImagesFile): Float32Array {
  const C = meta.shape[2];
  return Float32Array.from(pixels, (p, i) => (p / 255 - meta.mean[i % C]) / meta.std[i % C]);
}

export async function loadTestImages(jsonUrl: string): Promise<TestImages> {
  const meta = (await (await fetch(jsonUrl)).json()) as TestImagesFile;
  const res = await fetch(jsonUrl.replace(/\.json$/, '.bin'));
  const pixels = new Uint8Array(await res.arrayBuffer());
  const perImage = meta.shape.reduce((a, b) => a * b, 1);
  if (pixels.length !== meta.count * perImage) throw new RangeError(`images: expected ${meta.count}·${perImage} bytes, got ${pixels.length}`);
  return { ...meta, pixels, images: normalise(pixels, meta), perImage };
}
