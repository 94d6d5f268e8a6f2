// `pnpm demo`: the main job end to end on embedded data. Train one small network jointly on
// {8,6,4,2} (trainer), export one int8 file, then load that single file in the CPU runtime and
// switch it to every precision, printing accuracy, latency and weight bytes per precision.
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { describeModel, readModel } from '@bitswitch/format';
import { readFileSync } from 'node:fs';

export async function demoCommand(outDir = join(tmpdir(), `bitswitch-demo-${Date.now()}`)): Promise<void> {
  const { runDemo, loadDataset, makeBatch, NO_AUGMENT, Rng } = await import('@bitswitch/trainer');
  const trainerAcc = await runDemo(outDir);
  const file = join(outDir, 'model.bsw');
  const bytes = new Uint8Array(readFileSync(file));
  const model = readModel(bytes);
  const summary = describeModel(model);

  const { createRuntime } = await import('@bitswitch/runtime');
  const rt = await createRuntime(bytes);
  const ds = loadDataset(String(model.metadata?.dataset ?? 'mnist'));
  const n = ds.test.count;
  const { x, y } = makeBatch(ds, ds.test, Int32Array.from({ length: n }, (_, i) => i), NO_AUGMENT, new Rng(0));
  const pixels = model.inputShape.reduce((a, b) => a * b, 1);
  const batch = 32;

  console.log(`\nruntime (${rt.backend.name}) on the same file, ${n} test images, batch ${batch}:`);
  console.log('  precision  accuracy  trainer(ref,200)  ms/image  weight bytes  switch ms');
  for (const b of model.bits) {
    rt.setPrecision(b);
    const switchMs = rt.lastSwitchInfo.switchMs;
    let correct = 0;
    const t0 = performance.now();
    for (let i = 0; i < n; i += batch) {
      const m = Math.min(batch, n - i);
      const pred = rt.classify(x.subarray(i * pixels, (i + m) * pixels), m);
      for (let j = 0; j < m; j++) if (pred[j] === y[i + j]) correct++;
    }
    const ms = (performance.now() - t0) / n;
    const wb = summary.bytesAtBits.find((r) => r.bits === b)!.bytes;
    const ref = trainerAcc[`w${b}a${b}`];
    console.log(`  w${b}a${b}       ${(100 * correct / n).toFixed(2).padStart(6)}%  ${ref === undefined ? '' : (100 * ref).toFixed(2).padStart(15) + '%'}  ${ms.toFixed(3).padStart(8)}  ${String(wb).padStart(12)}  ${switchMs.toFixed(2).padStart(9)}`);
  }
  console.log(`one file: ${file} (${bytes.length} bytes). Inspect it: node cli/bin/bitswitch.mjs inspect ${file}`);
}
