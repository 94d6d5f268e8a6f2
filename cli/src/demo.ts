// `pnpm demo`: the main job end to end on embedded data. Train one small network jointly on
// {8,6,4,2} (trainer), export one int8 file, then load that single file in the CPU runtime and
// switch it to every precision, printing accuracy, latency and weight bytes per precision.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeModel, quantizedLayers, readModel } from '@bitswitch/format';
import { accuracy } from '@bitswitch/search/evaluate';
import { testImages } from './evaluate.ts';

export async function demoCommand(outDir = join(tmpdir(), `bitswitch-demo-${Date.now()}`)): Promise<void> {
  const { runDemo } = await import('@bitswitch/trainer');
  const trainerAcc = await runDemo(outDir);
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
  console.log('  precision  accuracy  trainer(ref,200)  ms/image  weight bytes  switch ms');
  for (const b of model.bits) {
    rt.setPrecision(b);
    const switchMs = rt.lastSwitchInfo.switchMs;
    const t0 = performance.now();
    const acc = accuracy(rt, perLayer(b), images, batch);
    const ms = (performance.now() - t0) / images.count;
    const wb = summary.bytesAtBits.find((r) => r.bits === b)!.bytes;
    const ref = trainerAcc[`w${b}a${b}`];
    console.log(`  w${b}a${b}       ${(100 * acc).toFixed(2).padStart(6)}%  ${ref === undefined ? ''.padStart(16) : (100 * ref).toFixed(2).padStart(15) + '%'}  ${ms.toFixed(3).padStart(8)}  ${String(wb).padStart(12)}  ${switchMs.toFixed(2).padStart(9)}`);
  }
  console.log(`one file: ${file} (${bytes.length} bytes). Inspect it: node cli/bin/bitswitch.mjs inspect ${file}`);
}
