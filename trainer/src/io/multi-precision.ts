// The multi-precision model a SuperNet starts from: a trainer run folder or its checkpoint.json
// (after quantized training), or a 'multi' .bsw model file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { readModel, type LayerSensitivity } from '@bitswitch/format';
import { CHECKPOINT_FILE, loadCheckpoint } from './checkpoint.ts';
import { networkFromModel } from './import.ts';
import type { Dataset } from '../data/datasets.ts';
import { resolveRecipe, type Recipe } from '../loops/recipe.ts';
import { deriveRng } from '../math/rng.ts';
import { buildModel } from '../nn/models.ts';
import { Network } from '../nn/network.ts';

export interface MultiPrecisionSource {
  net: Network;
  /** The file's sensitivity section, when it has one. */
  sensitivity?: LayerSensitivity[];
  metadata?: Record<string, unknown>;
}

/**
 * The multi-precision model to start from: a trainer run folder (or its checkpoint.json) after
 * quantized training, or a 'multi' .bsw model file. `data` may be a loader: only checkpoints need it.
 */
export function loadMultiPrecision(path: string, data: Dataset | (() => Dataset)): MultiPrecisionSource {
  if (!existsSync(path)) throw new RangeError(`${path}: no such file or folder (expected a trainer run folder, checkpoint.json or .bsw model)`);
  const ckpt = statSync(path).isDirectory() ? join(path, CHECKPOINT_FILE) : path.endsWith('.json') ? path : undefined;
  if (!ckpt) {
    const model = readModel(readFileSync(path));
    if (model.mode !== 'multi') throw new RangeError(`${path}: mode: expected 'multi' (a multi-precision model), got '${model.mode}'`);
    return { net: networkFromModel(model), sensitivity: model.sensitivity, metadata: model.metadata };
  }
  const ds = typeof data === 'function' ? data() : data; // only a checkpoint needs the images' shape
  const st = loadCheckpoint<{ recipe: Recipe; epoch: number; calibrated: boolean; nets: Record<string, Float32Array>[] }>(ckpt);
  const r = resolveRecipe(st.recipe, `${ckpt}: recipe`);
  if (r.algorithm === 'separate') throw new RangeError(`${ckpt}: recipe.algorithm: expected a2 or a1 (one multi-precision network), got separate`);
  if (!st.calibrated) throw new RangeError(`${ckpt}: expected a run past float pre-training (quantized training started), got epoch ${st.epoch}`);
  if (r.data !== ds.name) throw new RangeError(`${ckpt}: recipe.data: expected ${ds.name} (the --data set), got ${r.data}`);
  const spec = buildModel(r.model, [ds.height, ds.width, ds.channels], ds.classes, r.modelOptions);
  const net = new Network(spec, { bits: r.bits, quantizer: r.quantizer, perChannel: r.perChannel }, deriveRng(r.seed, 0));
  net.load(st.nets[0]);
  return { net, metadata: { recipe: r, epoch: st.epoch } };
}
