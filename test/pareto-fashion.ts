// Steps of scripts/pareto-fashion.sh that the `bitswitch` CLI does not wire yet, through the
// packages' JS APIs: train the multi-precision base, export it, sensitivity (with the SuperNet
// module's model loader), supernet, search, and pareto with a runtime-based evaluator.
// Usage: node --experimental-wasm-relaxed-simd --import tsx test/pareto-fashion.ts STEP ARGS…
import { accuracy } from '@bitswitch/search/evaluate';
import { readFileSync } from 'node:fs';
import { readModel, writeModel, type Model } from '@bitswitch/format';
import { Runtime, createBackend } from '@bitswitch/runtime';
import { runPareto, runSearch } from '@bitswitch/search/cli';
import { useBackend } from '@bitswitch/trainer/device';
import { loadDataset, makeBatch, stratifiedSubset, NO_AUGMENT, type Dataset, type Split } from '@bitswitch/trainer/data';
import { computeSensitivity, SENSITIVITY_DEFAULTS } from '@bitswitch/trainer/hessian-cli';
import { loadMultiPrecision } from '@bitswitch/trainer/hasb';
import { runSupernet, type SupernetCliOptions } from '@bitswitch/trainer/hasb-cli';
import { loadRecipe } from '@bitswitch/trainer/recipe';
import { Rng } from '@bitswitch/trainer/rng';
import { networkToModel, sensitivityTargetFromModel } from '@bitswitch/trainer/supernet-io';
import { Trainer, hasCheckpoint } from '@bitswitch/trainer/train';
import { writeFileAtomic } from '@bitswitch/trainer/checkpoint';

/** --name value pairs → { name: value } (flags without a value are true). */
function parseFlags(args: string[]): { positional: string[]; flags: Record<string, string | true> } {
  const positional: string[] = [];
  const flags: Record<string, string | true> = {};
  for (let i = 0; i < args.length; i++) {
    if (!args[i].startsWith('--')) { positional.push(args[i]); continue; }
    const name = args[i].slice(2).replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
    const next = args[i + 1];
    if (next === undefined || next.startsWith('--')) flags[name] = true;
    else { flags[name] = next; i++; }
  }
  return { positional, flags };
}

/** The normalised test images (class-balanced subset of `limit`) as one NHWC array. */
export function testImages(ds: Dataset, limit?: number): { x: Float32Array; y: Int32Array; count: number } {
  const px = ds.height * ds.width * ds.channels;
  const split: Split = limit && limit < ds.test.count ? stratifiedSubset(ds.test, Math.ceil(limit / ds.classes), ds.classes, px) : ds.test;
  const idx = Int32Array.from({ length: split.count }, (_, i) => i);
  return { ...makeBatch(ds, split, idx, NO_AUGMENT, new Rng(0)), count: split.count };
}

/** Top-1 accuracy of a model file run by the runtime (integer kernels) at one bit per quantized layer. */
export function runtimeAccuracy(model: Model, bits: number[], images: { x: Float32Array; y: Int32Array; count: number }, batch = 100): number {
  const rt = new Runtime(model, createBackend('kernels'), bits);
  return accuracy(rt, bits, { images: images.x, labels: images.y, count: images.count }, batch);
}

async function main(): Promise<void> {
  const [step, ...rest] = process.argv.slice(2);
  const { positional: pos, flags } = parseFlags(rest);
  const log = (s: string) => console.log(s);
  switch (step) {
    case 'train-base': { // RECIPE OUT_DIR
      const r = loadRecipe(pos[0]);
      log(`backend ${(await useBackend('auto')).name}`);
      const t = hasCheckpoint(pos[1]) ? Trainer.resume(pos[1]) : new Trainer(r, loadDataset(r.data!), pos[1]);
      if (t.epoch >= t.totalEpochs) log(`${pos[1]}: finished run (${t.totalEpochs} epochs), kept`);
      await t.run({ onEpoch: (e) => log(`${e.phase} epoch ${e.epoch + 1}: loss ${e.loss.toFixed(4)}, ${JSON.stringify(e.accuracy)}, ${e.seconds.toFixed(0)} s`) });
      break;
    }
    case 'export-multi': { // RUN_DIR OUT.bsw --data NAME
      const ds = loadDataset(String(flags.data));
      const src = loadMultiPrecision(pos[0], ds);
      writeFileAtomic(pos[1], writeModel(await networkToModel(src.net, { metadata: { dataset: ds.name, ...src.metadata } })));
      log(`wrote ${pos[1]} (mode multi)`);
      break;
    }
    case 'sensitivity': { // MODEL.bsw --data NAME [--images N]: the sensitivity section, in place
      const model = readModel(readFileSync(pos[0]));
      const opts = { ...SENSITIVITY_DEFAULTS, data: String(flags.data), images: Number(flags.images ?? SENSITIVITY_DEFAULTS.images), maxIters: Number(flags.maxIters ?? SENSITIVITY_DEFAULTS.maxIters), tol: Number(flags.tol ?? SENSITIVITY_DEFAULTS.tol) };
      const { model: out, result, backend } = await computeSensitivity(model, sensitivityTargetFromModel, opts);
      writeFileAtomic(pos[0], writeModel(out));
      log(`backend ${backend}; ${result.iters} probes, ${result.converged ? 'converged' : 'not converged'} (tol ${opts.tol})`);
      out.sensitivity!.forEach((s, i) => log(`  ${s.layer}: tr(H) ${s.hessianTrace.toExponential(4)} ± ${result.stderr[i].toExponential(2)}, per param ${result.perParam[i].toExponential(4)}`));
      break;
    }
    case 'supernet': // MODEL --data … --sampling … --out … (the bitswitch supernet flags)
      await runSupernet(pos[0], flags as SupernetCliOptions, log);
      break;
    case 'search': // MODEL --budget KIND=RANGE --out FILE
      await runSearch(pos[0], { budget: [String(flags.budget)], out: flags.out as string | undefined, objective: flags.objective as string | undefined }, log);
      break;
    case 'pareto': { // MODEL --baseline MODEL --data NAME --limit N --out FILE.svg|html --json FILE
      const ds = loadDataset(String(flags.data));
      const images = testImages(ds, flags.limit ? Number(flags.limit) : undefined);
      log(`evaluating on ${images.count} ${ds.name} test images with the runtime (kernels backend)`);
      await runPareto(pos[0], {
        data: String(flags.data), baseline: flags.baseline as string | undefined, out: flags.out as string | undefined,
        json: flags.json as string | undefined, label: flags.label as string | undefined, baselineLabel: flags.baselineLabel as string | undefined,
      }, async (model, bits) => runtimeAccuracy(model, bits, images), log);
      break;
    }
    default:
      throw new RangeError(`step: expected one of train-base, export-multi, sensitivity, supernet, search, pareto, got ${JSON.stringify(step)}`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    console.error(`error: ${(e as Error).message}`);
    if (process.env.BITSWITCH_DEBUG) console.error((e as Error).stack);
    process.exitCode = 1;
  });
}
