// Sample images for the demo, made by `bitswitch serve` from the data package (nothing is
// downloaded): `images.json` = {count, shape: [H, W, C], labels, mean, std, dataset, classNames}
// and `images.bin` = count·H·W·C uint8 pixels (NHWC).

export interface TestImagesFile {
  count: number;
  shape: number[];
  labels: number[];
  /** The data set's normalisation, for model files that do not record theirs (format before 1.2). */
  mean: number[];
  std: number[];
  dataset: string;
  classNames: string[];
}

export interface TestImages extends TestImagesFile {
  pixels: Uint8Array;
  perImage: number;
}

/** (p/255 − mean)/std per channel: what the trainer feeds, for files without an INPT section. */
export function normalise(pixels: Uint8Array, meta: Pick<TestImagesFile, 'shape' | 'mean' | 'std'>): Float32Array {
  const C = meta.shape[2];
  return Float32Array.from(pixels, (p, i) => (p / 255 - meta.mean[i % C]) / meta.std[i % C]);
}

async function fetchOk(url: string): Promise<Response> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: the server answered ${res.status} ${res.statusText}`);
  return res;
}

export async function loadTestImages(jsonUrl: string): Promise<TestImages> {
  const meta = (await (await fetchOk(jsonUrl)).json()) as TestImagesFile;
  const pixels = new Uint8Array(await (await fetchOk(jsonUrl.replace(/\.json$/, '.bin'))).arrayBuffer());
  const perImage = meta.shape.reduce((a, b) => a * b, 1);
  if (pixels.length !== meta.count * perImage) throw new Error(`${jsonUrl}: expected ${meta.count}·${perImage} bytes of pixels, got ${pixels.length}`);
  return { ...meta, pixels, perImage };
}
