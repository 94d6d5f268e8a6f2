// Inference benchmark: ResNet-20 (28×28×1) on the runtime at w8a8/w6a6/w4a4/w2a2 and a mixed
// SubNet against the strongest portable peers at the same thread count (bench/src/infer-run.ts
// measures; bench/src/infer-print.ts prints the tables), in Node or, with --browser, in headless
// Chromium on a page served cross-origin isolated so that threads run there (bench/src/browser/).
// Usage: pnpm bench:infer [--threads N[,N…]] [--browser] [--json FILE] [--rounds R] [--scale S]
//   [--peers tfjs,ort-f32,ort-int8,litert|none] [--backend kernels|kernels-simd|kernels-scalar|ts-scalar] [--profile]
// --profile prints only the runtime's per-layer times (quantize, im2col, GEMM with its fused
// epilogue, the rest) at w8a8 and w2a2, batch 1 and 32 (Node only).
// A list of thread counts runs one child process (or one page) per count, since the peers fix
// their thread count per process, and adds a table of each engine's speed-up over its first count.
// The model has random weights (speed does not depend on the values).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BACKEND_NAMES, createBackend, type BackendName } from '@bitswitch/runtime';
import { startLiteRt } from './baselines/litert.ts';
import { BATCH, BenchError, PEER_KEYS, benchInputs, runInfer, type InferResult, type PeerKey } from './infer-run.ts';
import { printInfer, printScaling } from './infer-print.ts';
import { profileLayers } from './profile.ts';
import { machineInfo } from './machine.ts';

const args = process.argv.slice(2);
const generatedBy = `pnpm bench:infer ${args.join(' ')}`.trim();
function fail(message: string): never {
  console.error(`error: ${message}`);
  process.exit(1);
}
const opt = (name: string) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const positive = (name: string, fallback: number, integer: boolean) => {
  const text = opt(name);
  const v = text === undefined ? fallback : Number(text);
  if (!(v > 0) || (integer && !Number.isInteger(v))) fail(`${name}: expected a positive ${integer ? 'integer' : 'number'}, got ${text}`);
  return v;
};
const jsonFile = opt('--json');
const browser = args.includes('--browser');
const seconds = positive('--scale', 1, false);
const rounds = positive('--rounds', 5, true);
const threadList = (opt('--threads') ?? '1').split(',').map((t) => {
  const v = Number(t);
  if (!Number.isInteger(v) || v < 1) fail(`--threads: expected positive integers separated by commas, got ${opt('--threads')}`);
  return v;
});
const peersText = opt('--peers');
const peers = peersText === undefined ? undefined : peersText === 'none' ? [] : peersText.split(',').map((k) => {
  if (!PEER_KEYS.includes(k as PeerKey)) fail(`--peers: expected 'none' or a comma list of ${PEER_KEYS.join(', ')}, got ${peersText}`);
  return k as PeerKey;
});
const backendName = (opt('--backend') ?? 'kernels') as BackendName;
if (!BACKEND_NAMES.includes(backendName)) fail(`--backend: expected one of ${BACKEND_NAMES.join(', ')}, got ${backendName}`);
if (threadList.length > 1 && !browser) await runEachThreadCount(threadList);
const threads = threadList[0];

if (args.includes('--profile')) {
  if (browser) fail('--profile: runs in Node only — drop --browser');
  printProfile();
}
const options = { rounds, scale: seconds, backend: backendName, peers };
if (browser) {
  await runBrowser();
} else {
  let result;
  try {
    result = await runInfer({ threads, ...options }, { startLiteRt });
  } catch (e) {
    if (e instanceof BenchError) fail(e.message);
    throw e;
  }
  const machine = machineInfo();
  printInfer(result, `${machine.cpu}, ${machine.cores} cores, node ${machine.node}, ${machine.date}`);
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ generatedBy, ...machine, ...result }, null, 2) + '\n');
    console.log(`wrote ${jsonFile}`);
  }
  process.exit(0);
}

/** Every thread count in headless Chromium (one page each, served cross-origin isolated), then the scaling table. */
async function runBrowser(): Promise<never> {
  let runs;
  try {
    const { runInBrowser } = await import('./browser/run.ts'); // esbuild and playwright-core only when asked
    runs = await runInBrowser(threadList, options);
  } catch (e) {
    if (e instanceof BenchError) fail(e.message);
    throw e;
  }
  for (const [i, { page, result }] of runs.entries()) {
    if (i > 0) console.log('');
    const machine = machineInfo();
    printInfer(result, `${machine.cpu}, ${machine.cores} cores, ${page.browser} (navigator.hardwareConcurrency ${page.hardwareConcurrency}, crossOriginIsolated ${page.crossOriginIsolated}), ${page.startedAt}–${page.finishedAt}`);
  }
  const base = { generatedBy, ...machineInfo(), browser: runs[0].page };
  let out: object = { ...base, ...runs[0].result };
  if (runs.length > 1) out = { ...base, runs: runs.map((r) => r.result), scaling: printScaling(runs.map((r) => r.result)) };
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify(out, null, 2) + '\n');
    console.log(`wrote ${jsonFile}`);
  }
  process.exit(0);
}

/** The per-layer profile (--profile) at w8a8 and w2a2, batch 1 and 32, then exit. */
function printProfile(): never {
  const { model, one, many } = benchInputs();
  const backend = createBackend(backendName, { threads });
  const reps = Math.max(5, Math.ceil(20 * seconds));
  const f = (v: number) => v.toFixed(3);
  const result: Record<string, ReturnType<typeof profileLayers>> = {};
  console.log(`per-layer profile, ResNet-20, backend ${backend.name}, ${backend.threads ?? 1} thread(s), median of ${reps} runs, ${os.cpus()[0]?.model}, ${new Date().toISOString()}`);
  for (const spec of [8, 2]) {
    for (const [batch, x] of [[1, one], [BATCH, many]] as const) {
      const p = profileLayers(model, backend, spec, x, batch, reps);
      result[`w${spec}a${spec} b${batch}`] = p;
      const sum = (key: 'quantizeMs' | 'im2colMs' | 'gemmMs') => p.layers.reduce((s, l) => s + l[key], 0);
      console.log(`\nw${spec}a${spec}, batch ${batch}: run ${f(p.runMs)} ms; summed medians: quantize ${f(sum('quantizeMs'))}, im2col ${f(sum('im2colMs'))}, GEMM+epilogue ${f(sum('gemmMs'))}, rest (add, pool, JS) ${f(p.otherMs)}; load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
      console.log('| layer | M×N×K | quantize ms | im2col ms | GEMM+epilogue ms | GMAC/s |');
      console.log('|---|---|---|---|---|---|');
      for (const l of p.layers) console.log(`| ${l.name} | ${l.m}×${l.n}×${l.k} | ${f(l.quantizeMs)} | ${f(l.im2colMs)} | ${f(l.gemmMs)} | ${l.gmacs.toFixed(1)} |`);
    }
  }
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ generatedBy, ...machineInfo(), backend: backend.name, threads: backend.threads ?? 1, profiles: result }, null, 2) + '\n');
    console.log(`wrote ${jsonFile}`);
  }
  process.exit(0);
}

/** One child process per thread count, then each engine's speed-up over the first count. */
async function runEachThreadCount(list: number[]): Promise<never> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-infer-'));
  const rest = args.filter((_, i) => !['--threads', '--json'].includes(args[i]) && !['--threads', '--json'].includes(args[i - 1]));
  const results: InferResult[] = [];
  for (const t of list) {
    const file = path.join(dir, `t${t}.json`);
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], ...rest, '--threads', String(t), '--json', file], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    process.stdout.write(child.stdout.split('\n').filter((l) => !/^(INFO|WARNING):/.test(l)).join('\n'));
    if (child.status !== 0) fail(`the run with --threads ${t} failed (exit ${child.status})`);
    results.push(JSON.parse(readFileSync(file, 'utf8')));
  }
  const scaling = printScaling(results);
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ generatedBy, ...machineInfo(), runs: results, scaling }, null, 2) + '\n');
    console.log(`wrote ${jsonFile}`);
  }
  process.exit(0);
}
