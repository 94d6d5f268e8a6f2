// A training recipe is data (JSON files in trainer/recipes/); this file only says which fields
// exist, their defaults and their valid values.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ALRS_MODES, type AlrsMode } from '../math/alrs.ts';
import { DATASETS } from '../data/datasets.ts';
import { MODEL_NAMES } from '../nn/models.ts';
import { WEIGHT_QUANTIZERS, type WeightQuantizer } from '../quant/quantizers.ts';

export const ALGORITHMS = ['a2', 'a1', 'separate'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface Recipe {
  model: string;
  /** small-cnn only: channel widths and hidden units. */
  modelOptions?: { channels?: [number, number, number]; hidden?: number };
  data: string;
  bits: number[];
  quantizer: WeightQuantizer;
  perChannel: boolean;
  /** a2: step after each bit (the paper's Algorithm A.2); a1: accumulate over bits, one step; separate: one network per bit. */
  algorithm: Algorithm;
  alrs: AlrsMode;
  /** Float32 pre-training epochs before quantized training. */
  pretrainEpochs: number;
  epochs: number;
  batchSize: number;
  /**
   * The batch is cut into this many equal shards and BatchNorm normalises each with its own
   * statistics (ghost batch norm). null: one shard per worker thread. Fixing it makes runs with
   * any worker count compute the same model.
   */
  shards: number | null;
  pretrainLr: number;
  lr: number;
  weightDecay: number;
  /** Multiplies the scales' rate λ_b (1 = the paper). Adam steps are about the rate in size, whatever the gradient. */
  scaleLrFactor: number;
  /** Self-distillation from the highest bit's logits (lower bits learn its soft labels). */
  distill: boolean;
  augment: { pad: number; flip: boolean };
  seed: number;
  /** Checkpoint every N optimizer batches (and at the end of each epoch); 0 = epochs only. */
  checkpointEvery: number;
  /**
   * After quantized training, re-estimate every bit's BatchNorm statistics over this many training
   * images (bn-reestimate.ts) before the model is exported; 0 keeps the moving averages.
   */
  bnReestimate: number;
  /** Use only the first N training / test images of a stratified subset (null = all). */
  trainLimit: number | null;
  testLimit: number | null;
}

export const DEFAULT_RECIPE: Recipe = {
  model: 'resnet20', data: 'fashion-mnist', bits: [8, 6, 4, 2], quantizer: 'double-rounding', perChannel: false,
  algorithm: 'a2', alrs: 'code', pretrainEpochs: 2, epochs: 10, batchSize: 128, shards: null, pretrainLr: 1e-3, lr: 5e-4,
  weightDecay: 5e-5, scaleLrFactor: 1, distill: false, augment: { pad: 2, flip: false }, seed: 1, checkpointEvery: 50,
  bnReestimate: 4096, trainLimit: null, testLimit: null,
};

function oneOf<T extends string>(v: unknown, list: readonly T[], field: string): T {
  if (!list.includes(v as T)) throw new RangeError(`${field}: expected one of ${list.join(', ')}, got ${JSON.stringify(v)}`);
  return v as T;
}

function num(v: unknown, field: string, lo: number, hi = Infinity, int = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
    throw new RangeError(`${field}: expected ${int ? 'an integer' : 'a number'} in ${lo}..${hi}, got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Fills defaults and validates every field; errors name the field and the expected value. */
/** `name`, when given, says how an error names a field (a CLI names the flag that set it). */
export function resolveRecipe(partial: Partial<Recipe>, source = 'recipe', name?: (field: string) => string): Recipe {
  const r = { ...DEFAULT_RECIPE, ...partial, augment: { ...DEFAULT_RECIPE.augment, ...(partial.augment ?? {}) } } as Recipe;
  const f = name ?? ((k: string) => `${source}.${k}`);
  oneOf(r.model, MODEL_NAMES, f('model'));
  oneOf(r.data, DATASETS, f('data'));
  if (!Array.isArray(r.bits) || r.bits.length === 0 || r.bits.some((b, i) => !Number.isInteger(b) || b < 2 || b > 8 || (i > 0 && b >= r.bits[i - 1]))) {
    throw new RangeError(`${f('bits')}: expected distinct integers in 2..8 in descending order, got ${JSON.stringify(r.bits)}`);
  }
  oneOf(r.quantizer, WEIGHT_QUANTIZERS, f('quantizer'));
  oneOf(r.algorithm, ALGORITHMS, f('algorithm'));
  oneOf(r.alrs, ALRS_MODES, f('alrs'));
  if (typeof r.perChannel !== 'boolean') throw new RangeError(`${f('perChannel')}: expected true or false, got ${JSON.stringify(r.perChannel)}`);
  if (typeof r.distill !== 'boolean') throw new RangeError(`${f('distill')}: expected true or false, got ${JSON.stringify(r.distill)}`);
  num(r.pretrainEpochs, f('pretrainEpochs'), 0, 1e4, true);
  num(r.epochs, f('epochs'), 0, 1e4, true);
  num(r.batchSize, f('batchSize'), 1, 65536, true);
  if (r.shards !== null) num(r.shards, f('shards'), 1, r.batchSize, true);
  num(r.pretrainLr, f('pretrainLr'), 0, 10);
  num(r.lr, f('lr'), 0, 10);
  num(r.weightDecay, f('weightDecay'), 0, 1);
  num(r.scaleLrFactor, f('scaleLrFactor'), 0, 1e6);
  num(r.augment.pad, f('augment.pad'), 0, 16, true);
  num(r.seed, f('seed'), 0, 2 ** 32 - 1, true);
  num(r.checkpointEvery, f('checkpointEvery'), 0, 1e9, true);
  num(r.bnReestimate, f('bnReestimate'), 0, 1e9, true);
  if (r.trainLimit !== null) num(r.trainLimit, f('trainLimit'), 1, 1e9, true);
  if (r.testLimit !== null) num(r.testLimit, f('testLimit'), 1, 1e9, true);
  return r;
}

export function loadRecipe(path: string): Partial<Recipe> {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as Partial<Recipe>;
  } catch (e) {
    throw new RangeError(`${path}: expected a JSON recipe (${(e as Error).message})`);
  }
}

/** The path of a recipe shipped with the trainer (trainer/recipes/NAME.json). */
export function shippedRecipe(name: string): string {
  return fileURLToPath(new URL(`../../recipes/${name}.json`, import.meta.url));
}
