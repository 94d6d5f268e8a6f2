// The WebGPU path end to end, on every machine: Dawn (the `webgpu` package) on SwiftShader's
// Vulkan driver, which Debian's chromium package ships (.ci/browser-deps.sh installs it), runs the
// same small scenario as the wasm backend (test/fixtures/backend-parity.ts: joint training,
// evaluation, a Hessian-trace estimate, SuperNet training, export) and the results are compared.
// tfjs has one backend per process, so each side runs in a child process.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { readModel, type Model } from '@bitswitch/format';

const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const SWIFTSHADER_ENV = { VK_ICD_FILENAMES: ICD, LD_LIBRARY_PATH: ['/usr/lib/chromium', process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') };
const FIXTURE = fileURLToPath(new URL('./fixtures/backend-parity.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');
// Node 20's relaxed-SIMD flag, turned on only where needed (Node >= 22 rejects it on the command line)
const RELAXED_SIMD = new URL('../../scripts/relaxed-simd.mjs', import.meta.url).href;

function webgpuPackage(): boolean {
  try { createRequire(import.meta.url).resolve('webgpu'); return true; } catch { return false; }
}

const skip = !existsSync(ICD) ? `${ICD} is missing (install Debian's chromium package: .ci/browser-deps.sh)`
  : !webgpuPackage() ? "the optional 'webgpu' package is not installed" : undefined;

/** Runs node with tsx on `args`, returns the last JSON line of its stdout. */
function runNode(args: string[], env: Record<string, string>): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', RELAXED_SIMD, '--import', TSX, ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20, timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`${args.join(' ')}: ${err.message}\n${stderr}`));
      const line = stdout.trim().split('\n').filter((l) => l.startsWith('{')).pop();
      if (!line) return reject(new Error(`${args.join(' ')}: no JSON on stdout\n${stderr}`));
      resolve(JSON.parse(line));
    });
  });
}

interface Scenario {
  backend: string; seconds: number; losses: number[]; supLosses: number[]; trace: number[];
  logits: Record<string, number[]>; weights: Record<string, number[]>; supWeights: Record<string, number[]>; model: string;
}

function maxAbsDiff(a: Record<string, number[]>, b: Record<string, number[]>): { diff: number; at: string } {
  assert.equal(Object.keys(b).sort(), Object.keys(a).sort(), 'same variables');
  let diff = 0, at = '';
  for (const [k, v] of Object.entries(a)) v.forEach((x, i) => { const d = Math.abs(x - b[k]![i]!); if (!(d <= diff)) { diff = d; at = `${k}[${i}]`; } });
  return { diff, at };
}

const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(1, Math.abs(a), Math.abs(b));

if (skip) {
  console.log(`webgpu.test: skipped: ${skip}`);
  test.skip('WebGPU (SwiftShader) and wasm train, evaluate, estimate traces and export alike', () => {});
} else {
  test('WebGPU (SwiftShader) and wasm train, evaluate, estimate traces and export alike', async () => {
    const [wasm, gpu] = await Promise.all([
      runNode([FIXTURE, 'wasm'], {}),
      runNode([FIXTURE, 'webgpu'], SWIFTSHADER_ENV),
    ]) as unknown as [Scenario, Scenario];
    assert.is(wasm.backend, 'wasm');
    assert.is(gpu.backend, 'webgpu');
    console.log(`  wasm ${wasm.seconds.toFixed(1)} s, webgpu on SwiftShader ${gpu.seconds.toFixed(1)} s`);
    // Tolerances. The backends sum in different orders (float32 rounding ~1e-7 relative), and a
    // weight or activation that lands within that of a rounding tie is quantized one step apart,
    // which moves a loss by ~1e-3. Adam's first steps move each weight by about lr (1e-3) whatever
    // the gradient's size, so a gradient near zero whose sign differs moves a weight ≤ 2·lr per
    // step: 3 joint steps (2 bits each) and 2 SuperNet steps bound weights at 2e-3 apart, far below
    // the weights themselves (~0.1 to 1).
    assert.is(gpu.losses.length, 3);
    gpu.losses.forEach((l, i) => assert.ok(close(l, wasm.losses[i]!, 5e-3), `joint step ${i}: loss ${l} on webgpu vs ${wasm.losses[i]} on wasm`));
    gpu.supLosses.forEach((l, i) => assert.ok(close(l, wasm.supLosses[i]!, 5e-3), `SuperNet step ${i}: loss ${l} vs ${wasm.supLosses[i]}`));
    const w = maxAbsDiff(wasm.weights, gpu.weights);
    assert.ok(w.diff <= 2e-3, `weights after joint training: max |Δ| ${w.diff} at ${w.at}`);
    const s = maxAbsDiff(wasm.supWeights, gpu.supWeights);
    assert.ok(s.diff <= 2e-3, `SuperNet weights: max |Δ| ${s.diff} at ${s.at}`);
    // evaluation forward (BN moving statistics) on the 20 test images, logits ~0.1 to 1
    const l = maxAbsDiff(wasm.logits, gpu.logits);
    assert.ok(l.diff <= 0.05, `test-image logits: max |Δ| ${l.diff} at ${l.at}`);
    // Hutchinson: the same Rademacher probes on each side's exported model
    assert.is(gpu.trace.length, 3);
    assert.ok(wasm.trace.every((t) => t !== 0), 'the trace estimate is not trivially zero');
    gpu.trace.forEach((t, i) => assert.ok(close(t, wasm.trace[i]!, 2e-2), `layer ${i} trace ${t} vs ${wasm.trace[i]}`));
    // exported integer weights: equal but for rare ties, and then one step apart
    const [a, b] = [wasm, gpu].map((r) => readModel(Buffer.from(r.model, 'base64'))) as [Model, Model];
    let total = 0, differ = 0;
    a.layers.forEach((la, k) => {
      const lb = b.layers[k]!;
      if (!('weights' in la) || !('weights' in lb) || la.weights.kind !== 'int' || lb.weights.kind !== 'int') return;
      la.weights.values.forEach((v, i) => { total++; const d = Math.abs(v - lb.weights.values[i]!); if (d) differ++; assert.ok(d <= 1, `${la.name}[${i}]: ${v} vs ${lb.weights.values[i]}`); });
    });
    assert.ok(total > 0 && differ <= 0.02 * total, `${differ} of ${total} exported integer weights differ`);
    const lossDiff = Math.max(...gpu.losses.map((x, i) => Math.abs(x - wasm.losses[i]!)), ...gpu.supLosses.map((x, i) => Math.abs(x - wasm.supLosses[i]!)));
    const traceRel = Math.max(...gpu.trace.map((t, i) => Math.abs(t - wasm.trace[i]!) / Math.abs(wasm.trace[i]!)));
    console.log(`  webgpu vs wasm: loss |Δ| ≤ ${lossDiff.toExponential(1)}, weights |Δ| ≤ ${w.diff.toExponential(1)} (SuperNet ${s.diff.toExponential(1)}), logits |Δ| ≤ ${l.diff.toExponential(1)}, traces rel. ≤ ${traceRel.toExponential(1)}, ${differ}/${total} exported ints differ by 1`);
  });

  test("auto does not pick SwiftShader's WebGPU (slower than wasm) and says why", async () => {
    const script = `import { initBackend } from ${JSON.stringify(new URL('../src/tfjs/backend.ts', import.meta.url).href)};
      const auto = await initBackend('auto'); console.log(JSON.stringify(auto)); process.exit(0);`;
    const auto = await runNode(['--input-type=module', '-e', script], SWIFTSHADER_ENV) as unknown as { name: string; tried: { name: string; error?: string }[] };
    assert.is.not(auto.name, 'webgpu');
    const webgpu = auto.tried.find((t) => t.name === 'webgpu');
    assert.match(webgpu?.error ?? '', /SwiftShader.*CPU emulation slower than wasm \(force it with --backend webgpu\)/);
  });
}

test.run();
