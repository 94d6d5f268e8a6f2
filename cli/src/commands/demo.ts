// `pnpm demo`: the main job end to end on embedded data. Train the MNIST CNN jointly on
// {8,6,4,2} from its committed FP32 model (trainer, every core), export one int8 file, then load
// that single file in the CPU runtime and switch it to every precision, printing accuracy on the
// 10,000 test images, latency and weight bytes per precision.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeModel, quantizedLayers, readModel } from '@bitswitch/format';
import { accuracy } from '@bitswitch/search/evaluate';
import { testImages } from '../evaluate.ts';

/** The FP32 starting point the demo's joint training starts from (committed under models/). */
export const DEMO_INIT = new URL('../../../models/mnist-cnn-fp32.json', import.meta.url);

/**
 * Joint {8,6,4,2} training of the MNIST CNN from its committed FP32 model on every core
 * (trainer/recipes/demo.json), one exported file; returns the trainer's accuracy per precision.
 */
export async function runDemo(outDir: string, workers?: string): Promise<Record<string, number>> {
  const [{ shippedRecipe }, { trainCommand }] = await Promise.all([import('@bitswitch/trainer'), import('./train.ts')]);
  return trainCommand({ recipe: shippedRecipe('demo'), init: fileURLToPath(DEMO_INIT), out: outDir, workers });
}

export async function demoCommand(outDir = join(tmpdir(), `bitswitch-demo-${Date.now()}`), workers?: string): Promise<void> {
  const t0 = Date.now();
  const trainerAcc = await runDemo(outDir, workers);
  const file = join(outDir, 'model.bsw');
  const bytes = new Uint8Array(readFileSync(file));
  const model = readModel(bytes);
  const summary = describeModel(model);

  const { createRuntime } = await import('@bitswitch/runtime');
  const rt = await createRuntime(bytes);
  const images = await testImages(String(model.metadata?.dataset ?? 'mnist'));
  const batch = 32;
  const perLayer = (b: number) => quantizedLayers(model).map(() => b);

  console.log(`\nruntime (${rt.backend.name}) on the same file, ${images.count} test images, batch ${batch}:`);
  console.log('  precision  accuracy  trainer (2,000 images)  ms/image  weight bytes  switch ms');
  for (const b of model.bits) {
    rt.setPrecision(b);
    const switchMs = rt.lastSwitchInfo.switchMs;
    const t0 = performance.now();
    const acc = accuracy(rt, perLayer(b), images, batch);
    const ms = (performance.now() - t0) / images.count;
    const wb = summary.bytesAtBits.find((r) => r.bits === b)!.bytes;
    const ref = trainerAcc[`w${b}a${b}`];
    console.log(`  w${b}a${b}       ${(100 * acc).toFixed(2).padStart(6)}%  ${ref === undefined ? ''.padStart(22) : (100 * ref).toFixed(2).padStart(21) + '%'}  ${ms.toFixed(3).padStart(8)}  ${String(wb).padStart(12)}  ${switchMs.toFixed(2).padStart(9)}`);
  }
  // w6 codes fit the 8-bit container, so w6a6 stores as many bytes as w8a8 (format/SPEC.md)
  console.log('  (6-bit weights are stored in 8-bit containers, so w6a6 and w8a8 hold the same bytes)');
  console.log(`one file: ${file} (${bytes.length} bytes). Inspect it: node cli/bin/bitswitch.mjs inspect ${file}`);
  console.log(`demo done in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
}

export function register(program: Command): void {
  program.command('demo')
    .description('train the MNIST CNN jointly on {8,6,4,2} from its FP32 model (embedded MNIST), export one file, run it at every precision on the CPU runtime')
    .option('--out <dir>', 'where the run, checkpoint and model.bsw go (default: a new temp folder)')
    .option('--workers <n>', 'threads computing gradients (default: every core)')
    .action(async (o: { out?: string; workers?: string }) => { await demoCommand(o.out, o.workers); });
}
