// Inference benchmark: ResNet-20 (28×28×1) on the runtime at w8a8/w6a6/w4a4/w2a2 and a mixed
// SubNet, against the same network on the strongest portable peers, all in one process at the
// same thread count: tfjs-backend-wasm f32 (BN folded, fused conv+bias+ReLU), onnxruntime-web f32
// and int8 QDQ (optimization level 'all'), LiteRT.js int8 (XNNPACK). Every peer is checked against
// the float reference first (f32: max relative error ≤ 1e-5; int8: argmax agreement reported).
// Usage: pnpm bench:infer [--threads N[,N…]] [--json FILE] [--rounds R] [--scale S] [--backend kernels|kernels-simd|kernels-scalar|ts-scalar] [--profile]
// --profile prints only the runtime's per-layer times (quantize, im2col, GEMM with its fused
// epilogue, the rest) at w8a8 and w2a2, batch 1 and 32.
// A list of thread counts runs one child process per count (the peers fix their thread count per
// process) and adds a table of each engine's speed-up over its own first count.
// The model has random weights (speed does not depend on the values).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BACKEND_NAMES, Runtime, buildResNet20, createBackend, randomImages, type BackendName } from '@bitswitch/runtime';
import { argmaxAgreement, calibrateInt8, floatReference, foldNetwork, foldedForward, maxRelativeError, type Engine } from './baselines/network.ts';
import { startTfjsWasm, tfjsEngine } from './baselines/tfjs.ts';
import { onnxFloat32, onnxInt8Qdq, ortEngine } from './baselines/onnx.ts';
import { liteRtEngine } from './baselines/litert.ts';
import { tfliteInt8 } from './baselines/tflite.ts';
import { profileLayers } from './profile.ts';
import type { FamilyChoice } from '@bitswitch/kernels';
import { machineInfo } from './machine.ts';

const args = process.argv.slice(2);
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
const seconds = positive('--scale', 1, false);
const rounds = positive('--rounds', 5, true);
const threadList = (opt('--threads') ?? '1').split(',').map((t) => {
  const v = Number(t);
  if (!Number.isInteger(v) || v < 1) fail(`--threads: expected positive integers separated by commas, got ${opt('--threads')}`);
  return v;
});
if (threadList.length > 1) await runEachThreadCount(threadList);
const threads = threadList[0];
const backendName = (opt('--backend') ?? 'kernels') as BackendName;
if (!BACKEND_NAMES.includes(backendName)) fail(`--backend: expected one of ${BACKEND_NAMES.join(', ')}, got ${backendName}`);
const BATCH = 32;
const F32_TOLERANCE = 1e-5;

/** Times fn for about `ms` (at least 2 runs) and appends each run's milliseconds to `into`. */
async function sample(fn: () => unknown, ms: number, into: number[]): Promise<void> {
  const end = performance.now() + ms;
  for (let i = 0; i < 2 || performance.now() < end; i++) {
    const t0 = performance.now();
    const r = fn();
    if (r instanceof Promise) await r;
    into.push(performance.now() - t0);
  }
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const best = (xs: number[]) => Math.min(...xs);
const load = () => os.loadavg().map((v) => v.toFixed(2)).join(' ');

const model = buildResNet20({ seed: 1 });
const [H, W, C] = model.inputShape;
const one = randomImages(model.inputShape, 1, 11);
const many = randomImages(model.inputShape, BATCH, 12);
if (args.includes('--profile')) printProfile();
const reference = floatReference(model, many, BATCH);
const classes = reference.length / BATCH;

// Peers: the folded network, int8 calibrated on images the check does not use.
const net = foldNetwork(model);
const cal = calibrateInt8(net, randomImages(model.inputShape, 64, 13), 64);
const tfjsInfo = await startTfjsWasm(threads);
interface Peer { name: string; precision: 'f32' | 'int8'; one: Engine; many: Engine }
const tfjs = tfjsEngine(net);
const ortF32 = await ortEngine(net, onnxFloat32(net), 'onnxruntime-web f32', threads);
const ortInt8 = await ortEngine(net, onnxInt8Qdq(net, cal), 'onnxruntime-web int8 QDQ', threads);
const peers: Peer[] = [
  { name: 'tfjs-wasm f32 fused', precision: 'f32', one: tfjs, many: tfjs },
  { name: 'onnxruntime-web f32', precision: 'f32', one: ortF32, many: ortF32 },
  { name: 'onnxruntime-web int8', precision: 'int8', one: ortInt8, many: ortInt8 },
  // LiteRT models have a fixed batch: one model per batch size.
  { name: 'LiteRT.js int8', precision: 'int8', one: await liteRtEngine('LiteRT.js int8 b1', tfliteInt8(net, cal, 1), threads), many: await liteRtEngine('LiteRT.js int8 b32', tfliteInt8(net, cal, BATCH), threads) },
];
// The int8 models' own arithmetic in float64: what the int8 peers should reproduce up to requantization rounding.
const int8Simulation = foldedForward(net, many, BATCH, cal).get(net.output)!;
const checks = new Map<string, { maxRelativeError: number; argmaxAgreement: number; ok: boolean; int8SimulationError?: number }>();
const int8Logits: Float32Array[] = [];
for (const p of peers) {
  const y = await p.many.run(many, BATCH);
  const y1 = await p.one.run(one, 1);
  if (y1.length !== classes) fail(`${p.name}: expected ${classes} logits at batch 1, got ${y1.length}`);
  const err = maxRelativeError(y, reference);
  const ok = p.precision === 'f32' ? err <= F32_TOLERANCE : true;
  if (!ok) fail(`${p.name}: expected the f32 logits within ${F32_TOLERANCE} (relative) of the float reference, got ${err.toExponential(2)}`);
  if (p.precision === 'int8') int8Logits.push(y);
  checks.set(p.name, { maxRelativeError: err, argmaxAgreement: argmaxAgreement(y, reference, classes), ok, ...(p.precision === 'int8' ? { int8SimulationError: maxRelativeError(y, int8Simulation) } : {}) });
}
// The two int8 peers share one calibration, so they should agree with each other far better than with float.
const int8PeerDifference = int8Logits.length === 2 ? maxRelativeError(int8Logits[0], int8Logits[1]) : NaN;

// The runtime. A cold switch derives every layer's weights (fresh runtime); a warm one finds them cached.
const specs: (number | string)[] = [8, 6, 4, 2, 'mixed-cycle'];
const coldSwitchMs: Record<string, number> = {};
for (const s of specs) coldSwitchMs[String(s)] = new Runtime(model, createBackend(backendName), s).lastSwitchInfo.switchMs;
const rt = new Runtime(model, createBackend(backendName, { threads }));
if (rt.info.threads !== threads) fail(`--threads: the runtime runs ${rt.info.threads} here (${rt.info.note})`);
for (const s of specs) rt.setPrecision(s);

// The CPU is shared, so configurations are interleaved round by round: a load change hits all alike.
interface Config { name: string; prepare(): void; one(): unknown; many(): unknown; lat: number[]; batch: number[] }
const configs: Config[] = [
  ...peers.map((p) => ({ name: p.name, prepare: () => {}, one: () => p.one.run(one, 1), many: () => p.many.run(many, BATCH), lat: [], batch: [] })),
  ...specs.map((spec) => ({ name: String(spec), prepare: () => rt.setPrecision(spec), one: () => rt.run(one, 1), many: () => rt.run(many, BATCH), lat: [], batch: [] })),
];
for (const c of configs) { c.prepare(); await c.one(); await c.many(); } // warm-up
for (let round = 0; round < rounds; round++) {
  for (const c of configs) {
    c.prepare();
    await sample(c.one, 150 * seconds, c.lat);
    await sample(c.many, 250 * seconds, c.batch);
  }
}
const timing = (c: Config) => ({
  latencyMs: median(c.lat), latencyBestMs: best(c.lat),
  batchMsPerImage: median(c.batch) / BATCH, batchBestMsPerImage: best(c.batch) / BATCH,
  samples: { latency: c.lat.length, batch: c.batch.length },
});
const peerRows = peers.map((p, i) => ({ name: p.name, precision: p.precision, info: `${p.one.info}`, check: checks.get(p.name)!, ...timing(configs[i]) }));
const rows = specs.map((spec, i) => {
  const c = configs[peers.length + i];
  const info = rt.setPrecision(spec);
  const y = rt.run(many, BATCH);
  return {
    name: `bitswitch ${info.label}`, precision: info.label, bits: info.bits, ...timing(c),
    weightBytes: rt.memory().activeBytes, coldSwitchMs: coldSwitchMs[String(spec)], warmSwitchMs: info.switchMs,
    argmaxAgreementWithFloat: argmaxAgreement(y, reference, classes),
  };
});
/** Speed-ups of the runtime's rows against each peer (peer time / runtime time), median and best runs. */
const ratios = rows.filter((r) => ['w8a8', 'w4a4', 'w2a2'].includes(r.precision)).flatMap((r) => peerRows.map((p) => ({
  row: r.name, against: p.name,
  batch1: p.latencyMs / r.latencyMs, batch32: p.batchMsPerImage / r.batchMsPerImage,
  batch1Best: p.latencyBestMs / r.latencyBestMs, batch32Best: p.batchBestMsPerImage / r.batchBestMsPerImage,
})));
const memory = rt.memory();
/** The GEMM family the runtime measured fastest per layer shape where the build has several. */
const familyChoices = (rt.backend as { kernels?: { familyChoices: FamilyChoice[] } }).kernels?.familyChoices ?? [];
const result = {
  generatedBy: `pnpm bench:infer ${args.join(' ')}`.trim(),
  ...machineInfo(), threads,
  note: 'random-weight ResNet-20 (runtime/src/testing.ts); medians (and best runs, *Best) over interleaved rounds; peers run the same network with BN folded; CPU shared with other jobs while measured',
  macsPerImage: net.macsPerImage,
  backend: rt.backend.name, batch: BATCH, rounds, tfjs: tfjsInfo, int8PeerDifference,
  peers: peerRows, rows, ratios, familyChoices,
  memory: { storedBytes: memory.storedBytes, cachedBytesAllPrecisions: memory.cachedBytes },
};

const f = (v: number, d = 2) => v.toFixed(d);
console.log(`ResNet-20 ${H}×${W}×${C}, ${net.macsPerImage} MACs/image, ${result.cpu}, ${result.cores} cores, node ${result.node}, ${result.date}`);
console.log(`threads ${threads}; runtime backend ${result.backend}; ${tfjsInfo}`);
for (const p of peerRows) console.log(`  ${p.name}: ${p.info}`);
console.log(`\nengines, median / best run, load average ${load()}:`);
console.log('| engine | batch 1 ms | batch 32 ms/img | GMAC/s (b32) | check against float reference |');
console.log('|---|---|---|---|---|');
const gmacs = (msPerImage: number) => f(net.macsPerImage / (msPerImage * 1e6), 1);
for (const p of peerRows) {
  const chk = p.precision === 'f32' ? `max rel. error ${p.check.maxRelativeError.toExponential(1)} (≤ ${F32_TOLERANCE})` : `argmax ${f(p.check.argmaxAgreement * 100, 0)}%, max rel. error ${f(p.check.maxRelativeError, 3)} (${f(p.check.int8SimulationError!, 3)} to the int8 simulation)`;
  console.log(`| ${p.name} | ${f(p.latencyMs, 3)} / ${f(p.latencyBestMs, 3)} | ${f(p.batchMsPerImage, 3)} / ${f(p.batchBestMsPerImage, 3)} | ${gmacs(p.batchMsPerImage)} | ${chk} |`);
}
for (const r of rows) {
  console.log(`| bitswitch ${r.precision} | ${f(r.latencyMs, 3)} / ${f(r.latencyBestMs, 3)} | ${f(r.batchMsPerImage, 3)} / ${f(r.batchBestMsPerImage, 3)} | ${gmacs(r.batchMsPerImage)} | argmax ${f(r.argmaxAgreementWithFloat * 100, 0)}% |`);
}
console.log(`int8 peers against each other: max rel. difference ${int8PeerDifference.toExponential(1)} (same calibration)`);
console.log(`\nspeed-up of bitswitch over each peer (peer time / bitswitch time), median (best), load average ${load()}:`);
console.log(`| bitswitch | ${peerRows.map((p) => `${p.name} b1 | b32`).join(' | ')} |`);
console.log(`|---|${peerRows.map(() => '---|---').join('|')}|`);
for (const r of rows.filter((x) => ['w8a8', 'w4a4', 'w2a2'].includes(x.precision))) {
  const cells = ratios.filter((x) => x.row === r.name).map((x) => `${f(x.batch1)} (${f(x.batch1Best)}) | ${f(x.batch32)} (${f(x.batch32Best)})`);
  console.log(`| ${r.precision} | ${cells.join(' | ')} |`);
}
console.log(`\nbitswitch per precision, load average ${load()}:`);
console.log('| precision | weight bytes | cold switch ms | warm switch ms |');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.precision} | ${r.weightBytes} | ${f(r.coldSwitchMs)} | ${f(r.warmSwitchMs)} |`);
console.log(`stored model weights ${memory.storedBytes} bytes; packed weights cached for all precisions above: ${memory.cachedBytes} bytes`);
console.log('argmax columns: random weights, so low bits (and int8 peers) disagree with float more than a trained model would');
if (familyChoices.length) {
  console.log(`GEMM family measured per layer shape (median ms of a ${familyChoices[0].rows}-row GEMM at load time):`);
  for (const c of familyChoices) console.log(`  w${c.wbits}a${c.abits} N ${c.n} K ${c.k}: ${c.family} (${c.times.map((t) => `${t.family.replace(/^qu8-qs\d-gemm-/, '')} ${f(t.ms, 3)}`).join(', ')})`);
}
for (const e of new Set(peers.flatMap((p) => [p.one, p.many]))) e.dispose();
if (jsonFile) {
  writeFileSync(jsonFile, JSON.stringify(result, null, 2) + '\n');
  console.log(`wrote ${jsonFile}`);
}
process.exit(0);

/** The per-layer profile (--profile) at w8a8 and w2a2, batch 1 and 32, then exit. */
function printProfile(): never {
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
      console.log(`\nw${spec}a${spec}, batch ${batch}: run ${f(p.runMs)} ms; summed medians: quantize ${f(sum('quantizeMs'))}, im2col ${f(sum('im2colMs'))}, GEMM+epilogue ${f(sum('gemmMs'))}, rest (add, pool, JS) ${f(p.otherMs)}; load average ${load()}`);
      console.log('| layer | M×N×K | quantize ms | im2col ms | GEMM+epilogue ms | GMAC/s |');
      console.log('|---|---|---|---|---|---|');
      for (const l of p.layers) console.log(`| ${l.name} | ${l.m}×${l.n}×${l.k} | ${f(l.quantizeMs)} | ${f(l.im2colMs)} | ${f(l.gemmMs)} | ${l.gmacs.toFixed(1)} |`);
    }
  }
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ generatedBy: `pnpm bench:infer ${args.join(' ')}`.trim(), ...machineInfo(), backend: backend.name, threads: backend.threads ?? 1, profiles: result }, null, 2) + '\n');
    console.log(`wrote ${jsonFile}`);
  }
  process.exit(0);
}

interface Row { name: string; latencyMs: number; batchMsPerImage: number }

/** One child process per thread count, then each engine's speed-up over the first count. */
async function runEachThreadCount(list: number[]): Promise<never> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-infer-'));
  const rest = args.filter((_, i) => !['--threads', '--json'].includes(args[i]) && !['--threads', '--json'].includes(args[i - 1]));
  const results: { threads: number; peers: Row[]; rows: Row[] }[] = [];
  for (const t of list) {
    const file = path.join(dir, `t${t}.json`);
    const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1], ...rest, '--threads', String(t), '--json', file], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
    process.stdout.write(child.stdout.split('\n').filter((l) => !/^(INFO|WARNING):/.test(l)).join('\n'));
    if (child.status !== 0) fail(`the run with --threads ${t} failed (exit ${child.status})`);
    results.push(JSON.parse(readFileSync(file, 'utf8')));
  }
  const base = results[0];
  console.log(`\nthread scaling: time at ${base.threads} thread(s) / time at N, median, load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}:`);
  console.log(`| engine | ${results.slice(1).map((r) => `b1 ×${r.threads} | b32 ×${r.threads}`).join(' | ')} |`);
  console.log(`|---|${results.slice(1).map(() => '---|---').join('|')}|`);
  const scaling = [...base.peers, ...base.rows].map((r0) => ({
    name: r0.name,
    speedups: results.slice(1).map((r) => {
      const x = [...r.peers, ...r.rows].find((y) => y.name === r0.name)!;
      return { threads: r.threads, batch1: r0.latencyMs / x.latencyMs, batch32: r0.batchMsPerImage / x.batchMsPerImage };
    }),
  }));
  for (const s of scaling) console.log(`| ${s.name} | ${s.speedups.map((x) => `${x.batch1.toFixed(2)} | ${x.batch32.toFixed(2)}`).join(' | ')} |`);
  if (jsonFile) {
    writeFileSync(jsonFile, JSON.stringify({ generatedBy: `pnpm bench:infer ${args.join(' ')}`.trim(), ...machineInfo(), runs: results, scaling }, null, 2) + '\n');
    console.log(`wrote ${jsonFile}`);
  }
  process.exit(0);
}
