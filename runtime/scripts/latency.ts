// Writes the per-layer latency table of a model file on this device: the data `bitswitch search
// --latency table.json` budgets with. It lives with the runtime, not in bench/, because it is a user
// tool whose output is an input of the search, measured on the device the model will run on.
// Usage: node --import ./scripts/relaxed-simd.mjs --import tsx runtime/scripts/latency.ts MODEL.bsw [--out FILE] [--batch N] [--min-ms MS] [--backend NAME]
// Output: JSON {layer, bits, ms}[] (runtime/README.md), to FILE or stdout.
import { writeFileSync } from 'node:fs';
import { createRuntime, measureLayerLatency, BACKEND_NAMES, type BackendName } from '../src/index.ts';

const USAGE = 'usage: latency.ts MODEL.bsw [--out FILE] [--batch N] [--min-ms MS] [--backend NAME]';
const args = process.argv.slice(2);
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const fail = (msg: string): never => { console.error(`latency.ts: ${msg}`); process.exit(1); };

const file = args.find((a, i) => !a.startsWith('--') && (i === 0 || !args[i - 1].startsWith('--'))) ?? fail(`MODEL.bsw missing — ${USAGE}`);
const backend = (opt('--backend') ?? 'kernels') as BackendName;
if (!BACKEND_NAMES.includes(backend)) fail(`--backend: expected one of ${BACKEND_NAMES.join(', ')}, got ${backend}`);
try {
  const rt = await createRuntime(file, { backend });
  const rows = measureLayerLatency(rt, { batch: Number(opt('--batch') ?? 1), minMs: Number(opt('--min-ms') ?? 20) });
  const json = JSON.stringify(rows, null, 1) + '\n';
  const out = opt('--out');
  if (out) {
    writeFileSync(out, json);
    console.error(`latency.ts: ${rows.length} rows (${rt.quantizedLayerNames.length} layers × ${rt.model.bits.length} bits) on ${rt.backend.name} → ${out}`);
  } else process.stdout.write(json);
  rt.dispose();
} catch (e) {
  fail((e as Error).message);
}
