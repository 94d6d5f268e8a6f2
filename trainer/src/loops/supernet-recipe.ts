// SuperNet training settings (HASB, Algorithm A.3): a recipe as data (trainer/recipes/hasb-*.json),
// with defaults and validation that names the field and the expected value.
import { ALRS_MODES, type AlrsMode } from '../math/alrs.ts';
import type { Augment } from '../data/datasets.ts';

export const SAMPLINGS = ['hasb', 'uniform'] as const;
export type Sampling = (typeof SAMPLINGS)[number];

/** SuperNet training settings (trainer/recipes/hasb-*.json); data limits as in the trainer's recipe. */
export interface SupernetRecipe {
  data: string;
  sampling: Sampling;
  /** σ of Algorithm A.3 (final switching probability). */
  sigma: number;
  epochs: number;
  batchSize: number;
  /** BatchNorm shards per batch (ghost batch norm, as the trainer's recipe); null: one per worker. */
  shards: number | null;
  lr: number;
  weightDecay: number;
  /** ALRS of the scales, as in multi-precision training: 'paper' eq. 6–7, 'code' λ·0.1^rank(b), 'off' λ. */
  alrs: AlrsMode;
  augment: Augment;
  seed: number;
  trainLimit: number | null;
  testLimit: number | null;
}

export const SUPERNET_DEFAULTS: SupernetRecipe = {
  data: 'fashion-mnist', sampling: 'hasb', sigma: 0.5, epochs: 2, batchSize: 64, shards: null, lr: 2e-4, weightDecay: 5e-5,
  alrs: 'code', augment: { pad: 2, flip: false }, seed: 1, trainLimit: null, testLimit: null,
};

/** Fills defaults and validates; errors name the field and the expected value. */
export function resolveSupernetRecipe(partial: Partial<SupernetRecipe>, source = 'supernet'): SupernetRecipe {
  const r = { ...SUPERNET_DEFAULTS, ...partial, augment: { ...SUPERNET_DEFAULTS.augment, ...(partial.augment ?? {}) } };
  const f = (k: string) => `${source}.${k}`;
  const num = (v: unknown, k: string, lo: number, hi: number, int = false) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (int && !Number.isInteger(v))) {
      throw new RangeError(`${f(k)}: expected ${int ? 'an integer' : 'a number'} in ${lo}..${hi}, got ${JSON.stringify(v)}`);
    }
  };
  if (!SAMPLINGS.includes(r.sampling)) throw new RangeError(`${f('sampling')}: expected one of ${SAMPLINGS.join(', ')}, got ${JSON.stringify(r.sampling)}`);
  if (!ALRS_MODES.includes(r.alrs)) throw new RangeError(`${f('alrs')}: expected one of ${ALRS_MODES.join(', ')}, got ${JSON.stringify(r.alrs)}`);
  num(r.sigma, 'sigma', 0, 1);
  num(r.epochs, 'epochs', 1, 1e4, true);
  num(r.batchSize, 'batchSize', 1, 65536, true);
  if (r.shards !== null) num(r.shards, 'shards', 1, r.batchSize, true);
  num(r.lr, 'lr', 0, 10);
  num(r.weightDecay, 'weightDecay', 0, 1);
  num(r.augment.pad, 'augment.pad', 0, 16, true);
  num(r.seed, 'seed', 0, 2 ** 32 - 1, true);
  if (r.trainLimit !== null) num(r.trainLimit, 'trainLimit', 1, 1e9, true);
  if (r.testLimit !== null) num(r.testLimit, 'testLimit', 1, 1e9, true);
  return r;
}
