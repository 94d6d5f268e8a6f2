// `bitswitch eval FILE`: accuracy per bit-width of a model file on a test split, with the
// trainer's tfjs network or with the runtime's float reference forward pass (--reference); with
// --subnets also each SubNet of the file (one bit per quantized layer).
import type { Command } from 'commander';
import { writeFileAtomic } from '@bitswitch/format/node';
import { argmax, referenceForward } from '@bitswitch/runtime';
import { Rng, evaluate, loadDataset, makeBatch, networkFromModel, precisionName, stratifiedSubset, withSubnetBn, NO_AUGMENT, type Split } from '@bitswitch/trainer';
import { parseNumber, readModelArg } from '../options.ts';
import { reportFallThrough, startBackend } from '../backend.ts';
import { pct } from '../train-report.ts';

interface EvalOptions { data?: string; limit?: string; bits?: string; reference?: boolean; backend?: string; subnets?: boolean | string; json?: string }

/** Accuracy per bit of a model file on a dataset's test split (tfjs, or the plain-TS reference with `reference`). */
export async function evalCommand(file: string, o: EvalOptions): Promise<Record<string, number>> {
  const model = readModelArg(file);
  const limit = o.limit === undefined ? undefined : parseNumber(o.limit, '--limit');
  if (limit !== undefined && !(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`--limit: expected an integer ≥ 1, got ${JSON.stringify(o.limit)}`);
  const bits = o.bits === undefined ? model.bits : o.bits.split(',').map((b) => parseNumber(b, '--bits'));
  const missing = bits.filter((b) => !model.bits.includes(b));
  if (missing.length) throw new RangeError(`--bits: expected some of the model's bits ${model.bits.join(',')}, got ${missing.join(',')}`);
  let pattern: RegExp | undefined;
  if (typeof o.subnets === 'string') {
    try { pattern = new RegExp(o.subnets); } catch { throw new RangeError(`--subnets: expected a regular expression for SubNet names, got ${JSON.stringify(o.subnets)}`); }
  }
  const subnets = o.subnets ? (model.subnets ?? []).filter((s) => !pattern || pattern.test(s.name)) : [];
  if (o.subnets && !subnets.length) throw new RangeError(`--subnets: ${file} holds no SubNets${pattern ? ` whose name matches ${pattern}` : ''} (bitswitch search writes them)`);
  const recorded = model.input?.dataset ?? (model.metadata?.dataset as string | undefined);
  const dataName = o.data ?? recorded;
  if (!dataName) throw new RangeError(`--data: expected mnist or fashion-mnist (the file names no dataset)`);
  if (recorded && o.data && o.data !== recorded) console.error(`bitswitch eval: warning: ${file} was trained on ${recorded}, evaluating on --data ${o.data}; expect chance-level accuracy`);
  const ds = loadDataset(dataName);
  const [H, W, C] = model.inputShape;
  if (H !== ds.height || W !== ds.width || C !== ds.channels) throw new RangeError(`--data: ${dataName} images are [${ds.height}, ${ds.width}, ${ds.channels}], the model expects [${model.inputShape}]`);
  const test: Split = limit && limit < ds.test.count ? stratifiedSubset(ds.test, Math.ceil(limit / ds.classes), ds.classes, H * W * C) : ds.test;
  const out: Record<string, number> = {};
  if (o.reference) {
    const { x, y } = makeBatch(ds, test, Int32Array.from({ length: test.count }, (_, i) => i), NO_AUGMENT, new Rng(0));
    const score = (spec: number | string) => argmax(referenceForward(model, spec, x, test.count), test.count).reduce((a, p, i) => a + (p === y[i] ? 1 : 0), 0) / test.count;
    for (const b of bits) out[precisionName(b)] = score(b);
    for (const s of subnets) out[s.name] = score(s.name);
  } else {
    reportFallThrough(await startBackend(o.backend));
    const net = networkFromModel(model);
    for (const b of bits) out[precisionName(b)] = await evaluate(net, ds, test, b);
    // a SubNet's own BatchNorm statistics (bitswitch recalibrate) apply while it runs
    for (const s of subnets) out[s.name] = await withSubnetBn(net, s.bits, s.bn, () => evaluate(net, ds, test, s.bits));
    net.dispose();
  }
  if (o.json) writeFileAtomic(o.json, JSON.stringify({ file, data: dataName, testImages: test.count, math: o.reference ? 'reference' : 'tfjs', accuracy: out }, null, 2) + '\n');
  console.log(`${file} on ${dataName} (${test.count} test images, ${o.reference ? 'reference math' : 'tfjs'}):`);
  for (const [k, v] of Object.entries(out)) console.log(`  ${k}  ${pct(v)}%`);
  return out;
}

export function register(program: Command): void {
  program.command('eval <file>')
    .description('accuracy per bit-width of a model file on a test split')
    .option('--data <name>', 'mnist | fashion-mnist (default: the dataset named in the file)')
    .option('--limit <n>', 'a stratified subset of N test images (default: all of them)')
    .option('--bits <list>', "evaluate only these bit-widths, e.g. 8,4 (default: every bit-width in the file)")
    .option('--reference', 'evaluate with the plain-TS reference math instead of tfjs (slow)')
    .option('--subnets [regex]', "also the file's SubNets at their per-layer bits (all, or those whose name matches regex; files from bitswitch search)")
    .option('--json <file>', 'also write the accuracies as JSON')
    .option('--backend <name>', 'auto | tensorflow | webgpu | wasm | cpu', 'auto')
    .action(async (file: string, opts: EvalOptions) => { await evalCommand(file, opts); });
}

