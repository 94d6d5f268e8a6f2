// The recipe flags of `train` and `pretrain`: a --recipe file with the flags on top, each invalid
// value named by its flag (or by the file and field), and the options both commands share.
import type { Command } from 'commander';
import { availableParallelism } from 'node:os';
import { DEFAULT_RECIPE, loadRecipe, resolveRecipe, type Recipe } from '@bitswitch/trainer';
import { parseNumber } from './options.ts';

export interface TrainOptions {
  recipe?: string; model?: string; data?: string; bits?: string; alrs?: string; algorithm?: string; quantizer?: string;
  epochs?: string; pretrainEpochs?: string; batchSize?: string; lr?: string; pretrainLr?: string; scaleLrFactor?: string;
  distill?: boolean; perChannel?: boolean; seed?: string; trainLimit?: string; testLimit?: string; checkpointEvery?: string; bnReestimate?: string;
  shards?: string; init?: string; out: string; resume?: boolean; backend?: string; progress?: boolean; logSteps?: boolean; workers?: string;
}

/** The recipe fields the flags set, each with the flag as the user typed it. */
function flagFields(o: Omit<TrainOptions, 'out'>): [flag: string, field: keyof Recipe, value: unknown][] {
  const out: [string, keyof Recipe, unknown][] = [];
  if (o.model) out.push(['--model', 'model', o.model]);
  if (o.data) out.push(['--data', 'data', o.data]);
  if (o.bits) out.push(['--bits', 'bits', o.bits.split(',').map((b) => parseNumber(b, '--bits'))]);
  if (o.alrs) out.push(['--alrs', 'alrs', o.alrs]);
  if (o.algorithm) out.push(['--algorithm', 'algorithm', o.algorithm]);
  if (o.quantizer) out.push(['--quantizer', 'quantizer', o.quantizer]);
  const nums: [keyof Omit<TrainOptions, 'out'>, keyof Recipe, string][] = [
    ['epochs', 'epochs', '--epochs'], ['pretrainEpochs', 'pretrainEpochs', '--pretrain-epochs'], ['batchSize', 'batchSize', '--batch-size'],
    ['lr', 'lr', '--lr'], ['pretrainLr', 'pretrainLr', '--pretrain-lr'], ['scaleLrFactor', 'scaleLrFactor', '--scale-lr-factor'],
    ['seed', 'seed', '--seed'], ['trainLimit', 'trainLimit', '--train-limit'], ['testLimit', 'testLimit', '--test-limit'],
    ['checkpointEvery', 'checkpointEvery', '--checkpoint-every'], ['shards', 'shards', '--shards'], ['bnReestimate', 'bnReestimate', '--bn-reestimate'],
  ];
  for (const [opt, field, flag] of nums) if (o[opt] !== undefined) out.push([flag, field, parseNumber(o[opt] as string, flag)]);
  if (o.distill) out.push(['--distill', 'distill', true]);
  if (o.perChannel) out.push(['--per-channel', 'perChannel', true]);
  return out;
}

/**
 * The recipe fields the options set, each with what set it: the --recipe file's fields, then
 * --init's (a run that starts from an FP32 model does not pre-train again unless asked to), then
 * the flags, a later one replacing an earlier one's value.
 */
function givenFields(o: Omit<TrainOptions, 'out'>): Map<keyof Recipe, [source: string, value: unknown]> {
  const out = new Map<keyof Recipe, [string, unknown]>();
  if (o.recipe) for (const [k, v] of Object.entries(loadRecipe(o.recipe))) out.set(k as keyof Recipe, ['--recipe', v]);
  if (o.init && o.pretrainEpochs === undefined) out.set('pretrainEpochs', ['--init', 0]);
  for (const [flag, field, value] of flagFields(o)) out.set(field, [flag, value]);
  return out;
}

/** Recipe from --recipe FILE (if any) with the flags on top; an invalid value is named by its flag (or the file and field). */
export function recipeFromOptions(o: Omit<TrainOptions, 'out'>): Recipe {
  const given = givenFields(o);
  const r = Object.fromEntries([...given].map(([field, [, value]]) => [field, value])) as Partial<Recipe>;
  const flagOf = (field: string) => {
    const source = given.get(field as keyof Recipe)?.[0];
    return source && source !== '--recipe' && source !== '--init' ? source : undefined;
  };
  return resolveRecipe(r, o.recipe ?? 'recipe', (field) => flagOf(field) ?? (o.recipe ? `${o.recipe}: ${field}` : `recipe default ${field}`));
}

/** Refuses options that would change a resumed run's recipe (a resumed run keeps its own), compared as a new run would take them. */
export function checkResumeFlags(o: Omit<TrainOptions, 'out'>, recipe: Recipe): void {
  const show = (v: unknown) => (Array.isArray(v) ? v.join(',') : String(v));
  for (const [field, [source, value]] of givenFields(o)) {
    if (JSON.stringify(value) !== JSON.stringify(recipe[field])) {
      throw new RangeError(`${source}: a resumed run keeps its recipe (${field} ${show(recipe[field])}); drop ${source} or start a new --out`);
    }
  }
}

/** "(default: X)" for a recipe field in --help; the default is applied by resolveRecipe, a --recipe file can change it. */
export function dflt(field: keyof Recipe): string {
  const v = DEFAULT_RECIPE[field];
  return `(default: ${Array.isArray(v) ? v.join(',') : String(v)}, or the --recipe file's)`;
}

/** The options `train` and `pretrain` share: data limits, checkpoints, resume, backend, workers. */
export function runOptions(cmd: Command): Command {
  return cmd
    .option('--seed <n>', `seed of initialisation, data order and augmentation ${dflt('seed')}`)
    .option('--train-limit <n>', 'use a stratified subset of N training images (default: all of them)')
    .option('--test-limit <n>', 'use a stratified subset of N test images (default: all of them)')
    .option('--checkpoint-every <n>', `checkpoint every N batches (and every epoch) ${dflt('checkpointEvery')}`)
    .option('--resume', 'continue the checkpoint in --out')
    .option('--backend <name>', 'auto | tensorflow | webgpu | wasm | cpu', 'auto')
    .option('--workers <n>', `threads computing gradients on shards of each batch (default: every core, ${availableParallelism()} here)`)
    .option('--shards <n>', 'BatchNorm shards per batch (default: one per worker; fix it to make any worker count train the same model)')
    .option('--no-progress', 'no progress bar');
}
