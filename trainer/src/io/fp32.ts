// FP32 starting points: a float32 network saved with what it is (model, data, split, recipe,
// accuracy, commit), from which joint quantized training starts (`train --init FILE`), as the
// paper's joint training starts from a pretrained FP32 model.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '@bitswitch/format/node';
import { decodeFloats, encodeFloats } from './checkpoint.ts';
import { floatVariableNames, type Network } from '../nn/network.ts';
import type { ModelSpec } from '../nn/models.ts';
import type { Recipe } from '../loops/recipe.ts';

export const FP32_FORMAT = 'bitswitch-fp32/1';

export interface Fp32Model {
  format: typeof FP32_FORMAT;
  model: string;
  modelOptions?: Recipe['modelOptions'];
  inputShape: [number, number, number];
  classes: number;
  data: string;
  /** Which training/test split (see trainer/data/README.md). */
  split: string;
  /** Test accuracy in [0, 1] on `testImages` images of the split. */
  accuracy: number;
  testImages: number;
  recipe: Recipe;
  commit: string;
  date: string;
  /** Float variables the float32 forward pass reads: kernels, biases, BN sets 'fp' and 'single'. */
  weights: Record<string, Float32Array>;
}

/** The current commit (with "+changes" when the tree has uncommitted edits), or "unknown". */
export function currentCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return dirty ? `${sha}+changes` : sha;
  } catch {
    return 'unknown';
  }
}

export async function fp32FromNetwork(net: Network, o: Omit<Fp32Model, 'format' | 'model' | 'modelOptions' | 'inputShape' | 'classes' | 'weights' | 'commit' | 'date'>): Promise<Fp32Model> {
  const values = await net.snapshot();
  return {
    format: FP32_FORMAT, model: o.recipe.model, ...(o.recipe.modelOptions ? { modelOptions: o.recipe.modelOptions } : {}),
    inputShape: [...net.spec.inputShape], classes: net.spec.classes, ...o, commit: currentCommit(), date: new Date().toISOString(),
    weights: Object.fromEntries(floatVariableNames(net).map((n) => [n, values[n]!])),
  };
}

export function saveFp32(path: string, m: Fp32Model): void {
  writeFileAtomic(path, JSON.stringify({ ...m, weights: encodeFloats(m.weights) }) + '\n');
}

export function loadFp32(path: string): Fp32Model {
  let raw: Record<string, unknown>;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new RangeError(`--init: ${path} is not a readable FP32 model (${(e as Error).message.split('\n')[0]})`);
  }
  if (raw.format !== FP32_FORMAT) throw new RangeError(`--init: ${path}: format: expected "${FP32_FORMAT}", got ${JSON.stringify(raw.format)}`);
  for (const f of ['model', 'data', 'split'] as const) if (typeof raw[f] !== 'string') throw new RangeError(`--init: ${path}: ${f}: expected a string, got ${JSON.stringify(raw[f])}`);
  const weights = decodeFloats(raw.weights);
  if (!weights || typeof weights !== 'object') throw new RangeError(`--init: ${path}: weights: expected an object of float arrays`);
  return { ...(raw as unknown as Fp32Model), weights };
}

/** `--init FILE`: a model-fp32.json, or a float ONNX model of the recipe's architecture (mapped by @bitswitch/onnx). */
export async function loadInit(path: string, spec: ModelSpec, recipe: Recipe): Promise<Fp32Model> {
  if (!path.endsWith('.onnx')) return loadFp32(path);
  const { fp32FromOnnx } = await import('@bitswitch/onnx');
  const { weights, source } = fp32FromOnnx(new Uint8Array(readFileSync(path)), spec, path);
  return {
    format: FP32_FORMAT, model: recipe.model, ...(recipe.modelOptions ? { modelOptions: recipe.modelOptions } : {}), inputShape: [...spec.inputShape], classes: spec.classes,
    data: recipe.data, split: `not recorded (imported from ${source})`, accuracy: NaN, testImages: 0, recipe, commit: 'unknown', date: new Date().toISOString(), weights,
  };
}

/** Loads a starting point into `net`; the file must describe the same model and input. */
export function initNetwork(net: Network, m: Fp32Model, recipe: Recipe, source: string): void {
  if (m.model !== recipe.model) throw new RangeError(`--init: ${source} holds model ${m.model}, the recipe trains ${recipe.model}`);
  if (JSON.stringify(m.modelOptions ?? null) !== JSON.stringify(recipe.modelOptions ?? null)) throw new RangeError(`--init: ${source}: modelOptions: expected ${JSON.stringify(recipe.modelOptions ?? null)}, got ${JSON.stringify(m.modelOptions ?? null)}`);
  if (m.data !== recipe.data) throw new RangeError(`--init: ${source} was trained on ${m.data}, the recipe trains on ${recipe.data}`);
  const names = floatVariableNames(net);
  const missing = names.filter((n) => !m.weights[n]);
  if (missing.length) throw new RangeError(`--init: ${source}: weights: expected ${missing[0]}${missing.length > 1 ? ` and ${missing.length - 1} more` : ''}`);
  net.load(Object.fromEntries(names.map((n) => [n, m.weights[n]])), true);
}

/** SHA-256 of a file, recorded with the runs that start from it. */
export function fileDigest(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** A short Markdown card for a starting point: what it is, how it was made, how good it is. */
export function fp32Card(m: Fp32Model, file: string, command: string, seconds: number, workers: number, backend: string): string {
  const r = m.recipe;
  return [
    `# ${file}`,
    '',
    `FP32 starting point for joint quantized training (\`bitswitch train --init ${file}\`).`,
    '',
    '| field | value |',
    '|---|---|',
    `| model | ${m.model}${m.modelOptions ? ` ${JSON.stringify(m.modelOptions)}` : ''}, input ${m.inputShape.join('×')}, ${m.classes} classes |`,
    `| data | ${m.data} |`,
    `| split | ${m.split} |`,
    `| recipe | ${r.pretrainEpochs} epochs, batch ${r.batchSize} (${r.shards} BN shards), Adam lr ${r.pretrainLr} cosine, weight decay ${r.weightDecay}, augment pad ${r.augment.pad}${r.augment.flip ? ' + flip' : ''}, seed ${r.seed} |`,
    `| test accuracy | **${(100 * m.accuracy).toFixed(2)} %** on ${m.testImages} test images (trainer, float32) |`,
    `| command | \`${command}\` |`,
    `| trained | ${m.date}, ${(seconds / 60).toFixed(1)} min, ${workers} worker${workers > 1 ? 's' : ''}, backend ${backend} |`,
    `| commit | ${m.commit} |`,
    '',
  ].join('\n');
}
