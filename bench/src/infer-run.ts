// The inference benchmark's measurement, one thread count: ResNet-20 (28×28×1) on the runtime at
// w8a8/w6a6/w4a4/w2a2 and a mixed SubNet, against the same network on the strongest portable peers
// at the same thread count: tfjs-backend-wasm f32 (BN folded, fused conv+bias+ReLU), onnxruntime-web
// f32 and int8 QDQ (optimization level 'all'), LiteRT.js int8 (XNNPACK). Every peer is checked
// against the float reference first (f32: max relative error ≤ 1e-5; int8: argmax agreement).
// It runs unchanged in Node (bench/src/infer.ts) and in Chromium (bench/src/browser/page.ts), so it
// imports nothing from node:*; where LiteRT.js comes from is the caller's (`Host`).
import { Runtime, buildResNet20, createBackend, randomImages, type BackendName } from '@bitswitch/runtime';
import type { FamilyChoice } from '@bitswitch/kernels';
import { argmaxAgreement, calibrateInt8, floatReference, foldNetwork, foldedForward, maxRelativeError, type Engine, type Int8Calibration } from './baselines/network.ts';
import { startTfjsWasm, tfjsEngine } from './baselines/tfjs.ts';
import { onnxFloat32, onnxInt8Qdq, ortEngine } from './baselines/onnx.ts';
import { liteRtEngineOn, type LiteRtLoaded } from './baselines/litert-engine.ts';
import { tfliteInt8 } from './baselines/tflite.ts';

export const BATCH = 32;
export const F32_TOLERANCE = 1e-5;
/** Peers by the key `--peers` takes, in table order. */
export const PEERS = {
  tfjs: { name: 'tfjs-wasm f32 fused', precision: 'f32' },
  'ort-f32': { name: 'onnxruntime-web f32', precision: 'f32' },
  'ort-int8': { name: 'onnxruntime-web int8', precision: 'int8' },
  litert: { name: 'LiteRT.js int8', precision: 'int8' },
} as const;
export type PeerKey = keyof typeof PEERS;
export const PEER_KEYS = Object.keys(PEERS) as PeerKey[];
/** The runtime's rows: each bit width, then a mixed SubNet. */
export const SPECS: (number | string)[] = [8, 6, 4, 2, 'mixed-cycle'];
/** Rows the speed-up table compares. */
export const RATIO_ROWS = ['w8a8', 'w4a4', 'w2a2'];

/** A user error (a flag or the environment): one line, no stack. */
export class BenchError extends Error {
  override name = 'BenchError';
}

export interface InferOptions {
  threads: number;
  rounds: number;
  /** Multiplies the time each configuration is sampled per round. */
  scale: number;
  backend: BackendName;
  /** Peers to run (default all). */
  peers?: PeerKey[];
  /** Keep bitswitch's batch-32 logits per row (`outputs`), for exactness checks. */
  keepOutputs?: boolean;
}

/** Where this process gets LiteRT.js from, loaded for `threads` threads. */
export interface Host { startLiteRt(threads: number): Promise<LiteRtLoaded> }

export interface PeerCheck { maxRelativeError: number; argmaxAgreement: number; ok: boolean; int8SimulationError?: number }
export interface Timing { latencyMs: number; latencyBestMs: number; batchMsPerImage: number; batchBestMsPerImage: number; samples: { latency: number; batch: number } }
/** A peer's row: timed, or `unavailable` with the reason it could not run here. */
export type PeerRow = { name: string; precision: 'f32' | 'int8' } & (
  | ({ info: string; check: PeerCheck; unavailable?: undefined } & Timing)
  | { unavailable: string }
);
export type TimedPeerRow = Extract<PeerRow, { check: PeerCheck }>;
export interface RuntimeRow extends Timing {
  name: string; precision: string; bits: number[];
  weightBytes: number; coldSwitchMs: number; warmSwitchMs: number; argmaxAgreementWithFloat: number;
}
export interface Ratio { row: string; against: string; batch1: number; batch32: number; batch1Best: number; batch32Best: number }

export interface InferResult {
  threads: number;
  note: string;
  macsPerImage: number;
  inputShape: [number, number, number];
  backend: string;
  batch: number;
  rounds: number;
  /** tfjs's info line, or why it could not start. */
  tfjs?: string;
  int8PeerDifference: number;
  peers: PeerRow[];
  rows: RuntimeRow[];
  ratios: Ratio[];
  /** The GEMM family the runtime measured fastest per layer shape where the build has several. */
  familyChoices: FamilyChoice[];
  memory: { storedBytes: number; cachedBytesAllPrecisions: number };
  /** The runtime's worker pool after the run: calls split across threads, row blocks, blocks the calling thread ran (absent on one thread). */
  pool?: { ready: number; calls: number; blocks: number; callerBlocks: number };
  /** With keepOutputs: the runtime's batch-32 logits per row name. */
  outputs?: Record<string, number[]>;
}

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
const message = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0];

/**
 * Waits until the runtime's `threads − 1` workers have started. A browser starts a Web Worker only
 * while the page's thread returns to its event loop, which the timing loop (synchronous runs)
 * never does: without this wait every GEMM would run on the calling thread alone.
 */
async function workersStarted(stats: () => InferResult['pool'], threads: number): Promise<void> {
  if (threads === 1 || !stats()) return;
  const end = performance.now() + 30_000;
  while (stats()!.ready < threads - 1) {
    if (performance.now() > end) throw new BenchError(`--threads: ${stats()!.ready} of the runtime's ${threads - 1} worker threads started within 30 s`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** The images every run uses (seeded): one for latency, BATCH for throughput and the checks. */
export function benchInputs(): { model: ReturnType<typeof buildResNet20>; one: Float32Array; many: Float32Array } {
  const model = buildResNet20({ seed: 1 });
  return { model, one: randomImages(model.inputShape, 1, 11), many: randomImages(model.inputShape, BATCH, 12) };
}

export async function runInfer(o: InferOptions, host: Host): Promise<InferResult> {
  const { threads } = o;
  const wanted = new Set(o.peers ?? PEER_KEYS);
  const { model, one, many } = benchInputs();
  const reference = floatReference(model, many, BATCH);
  const classes = reference.length / BATCH;

  // Peers: the folded network, int8 calibrated on images the check does not use.
  const net = foldNetwork(model);
  // Calibrated when an int8 peer first needs it (a peer that cannot start here costs nothing).
  let calibration: Int8Calibration | undefined;
  const cal = () => (calibration ??= calibrateInt8(net, randomImages(model.inputShape, 64, 13), 64));
  let tfjsInfo: string | undefined;
  const starters: Record<PeerKey, () => Promise<{ one: Engine; many: Engine }>> = {
    async tfjs() {
      tfjsInfo = await startTfjsWasm(threads);
      const e = tfjsEngine(net);
      return { one: e, many: e };
    },
    async 'ort-f32'() {
      const e = await ortEngine(net, onnxFloat32(net), PEERS['ort-f32'].name, threads);
      return { one: e, many: e };
    },
    async 'ort-int8'() {
      const e = await ortEngine(net, onnxInt8Qdq(net, cal()), 'onnxruntime-web int8 QDQ', threads);
      return { one: e, many: e };
    },
    // LiteRT models have a fixed batch: one model per batch size.
    async litert() {
      const loaded = await host.startLiteRt(threads);
      const c = cal();
      return { one: await liteRtEngineOn(loaded, 'LiteRT.js int8 b1', tfliteInt8(net, c, 1)), many: await liteRtEngineOn(loaded, 'LiteRT.js int8 b32', tfliteInt8(net, c, BATCH)) };
    },
  };
  interface Peer { key: PeerKey; one: Engine; many: Engine }
  const peers: Peer[] = [];
  const unavailable = new Map<PeerKey, string>();
  for (const key of PEER_KEYS.filter((k) => wanted.has(k))) {
    try {
      peers.push({ key, ...(await starters[key]()) });
    } catch (e) {
      unavailable.set(key, message(e));
      if (key === 'tfjs') tfjsInfo = `tfjs did not start: ${message(e)}`;
    }
  }

  // The int8 models' own arithmetic in float64: what the int8 peers should reproduce up to requantization rounding.
  const int8Simulation = calibration ? foldedForward(net, many, BATCH, calibration).get(net.output)! : undefined;
  const checks = new Map<PeerKey, PeerCheck>();
  const int8Logits: Float32Array[] = [];
  for (const p of peers) {
    const { name, precision } = PEERS[p.key];
    const y = await p.many.run(many, BATCH);
    const y1 = await p.one.run(one, 1);
    if (y1.length !== classes) throw new BenchError(`${name}: expected ${classes} logits at batch 1, got ${y1.length}`);
    const err = maxRelativeError(y, reference);
    const ok = precision === 'f32' ? err <= F32_TOLERANCE : true;
    if (!ok) throw new BenchError(`${name}: expected the f32 logits within ${F32_TOLERANCE} (relative) of the float reference, got ${err.toExponential(2)}`);
    if (precision === 'int8') int8Logits.push(y);
    checks.set(p.key, { maxRelativeError: err, argmaxAgreement: argmaxAgreement(y, reference, classes), ok, ...(precision === 'int8' ? { int8SimulationError: maxRelativeError(y, int8Simulation!) } : {}) });
  }
  // The two int8 peers share one calibration, so they should agree with each other far better than with float.
  const int8PeerDifference = int8Logits.length === 2 ? maxRelativeError(int8Logits[0], int8Logits[1]) : NaN;

  // The runtime. A cold switch derives every layer's weights (fresh runtime); a warm one finds them cached.
  const coldSwitchMs: Record<string, number> = {};
  for (const s of SPECS) {
    const cold = new Runtime(model, createBackend(o.backend), s);
    coldSwitchMs[String(s)] = cold.lastSwitchInfo.switchMs;
    cold.dispose();
  }
  const rt = new Runtime(model, createBackend(o.backend, { threads }));
  if (rt.info.threads !== threads) throw new BenchError(`--threads: the runtime runs ${rt.info.threads} here (${rt.info.note})`);
  const poolStats = () => (rt.backend as { kernels?: { poolStats?: InferResult['pool'] } }).kernels?.poolStats;
  await workersStarted(poolStats, threads);
  for (const s of SPECS) rt.setPrecision(s);

  // The CPU is shared, so configurations are interleaved round by round: a load change hits all alike.
  interface Config { prepare(): void; one(): unknown; many(): unknown; lat: number[]; batch: number[] }
  const config = (prepare: () => void, runOne: () => unknown, runMany: () => unknown): Config => ({ prepare, one: runOne, many: runMany, lat: [], batch: [] });
  const peerConfigs = peers.map((p) => config(() => {}, () => p.one.run(one, 1), () => p.many.run(many, BATCH)));
  const specConfigs = SPECS.map((spec) => config(() => rt.setPrecision(spec), () => rt.run(one, 1), () => rt.run(many, BATCH)));
  const configs = [...peerConfigs, ...specConfigs];
  for (const c of configs) { c.prepare(); await c.one(); await c.many(); } // warm-up
  for (let round = 0; round < o.rounds; round++) {
    for (const c of configs) {
      c.prepare();
      await sample(c.one, 150 * o.scale, c.lat);
      await sample(c.many, 250 * o.scale, c.batch);
    }
  }
  const timing = (c: Config): Timing => ({
    latencyMs: median(c.lat), latencyBestMs: best(c.lat),
    batchMsPerImage: median(c.batch) / BATCH, batchBestMsPerImage: best(c.batch) / BATCH,
    samples: { latency: c.lat.length, batch: c.batch.length },
  });
  const peerRows: PeerRow[] = PEER_KEYS.filter((k) => wanted.has(k)).map((key) => {
    const { name, precision } = PEERS[key];
    const i = peers.findIndex((p) => p.key === key);
    if (i < 0) return { name, precision, unavailable: unavailable.get(key)! };
    return { name, precision, info: `${peers[i].one.info}`, check: checks.get(key)!, ...timing(peerConfigs[i]) };
  });
  const outputs: Record<string, number[]> = {};
  const rows: RuntimeRow[] = SPECS.map((spec, i) => {
    const info = rt.setPrecision(spec);
    const y = rt.run(many, BATCH);
    if (o.keepOutputs) outputs[`bitswitch ${info.label}`] = Array.from(y);
    return {
      name: `bitswitch ${info.label}`, precision: info.label, bits: info.bits, ...timing(specConfigs[i]),
      weightBytes: rt.memory().activeBytes, coldSwitchMs: coldSwitchMs[String(spec)], warmSwitchMs: info.switchMs,
      argmaxAgreementWithFloat: argmaxAgreement(y, reference, classes),
    };
  });
  const timed = peerRows.filter((p): p is TimedPeerRow => p.unavailable === undefined);
  /** Speed-ups of the runtime's rows against each peer (peer time / runtime time), median and best runs. */
  const ratios = rows.filter((r) => RATIO_ROWS.includes(r.precision)).flatMap((r) => timed.map((p) => ({
    row: r.name, against: p.name,
    batch1: p.latencyMs / r.latencyMs, batch32: p.batchMsPerImage / r.batchMsPerImage,
    batch1Best: p.latencyBestMs / r.latencyBestMs, batch32Best: p.batchBestMsPerImage / r.batchBestMsPerImage,
  })));
  const memory = rt.memory();
  const pool = poolStats();
  const familyChoices = (rt.backend as { kernels?: { familyChoices: FamilyChoice[] } }).kernels?.familyChoices ?? [];
  for (const e of new Set(peers.flatMap((p) => [p.one, p.many]))) e.dispose();
  rt.dispose();
  return {
    threads,
    note: 'random-weight ResNet-20 (runtime/src/testing.ts); medians (and best runs, *Best) over interleaved rounds; peers run the same network with BN folded; CPU shared with other jobs while measured',
    macsPerImage: net.macsPerImage, inputShape: net.inputShape,
    backend: rt.backend.name, batch: BATCH, rounds: o.rounds, tfjs: tfjsInfo, int8PeerDifference,
    peers: peerRows, rows, ratios, familyChoices,
    memory: { storedBytes: memory.storedBytes, cachedBytesAllPrecisions: memory.cachedBytes },
    ...(pool ? { pool } : {}), ...(o.keepOutputs ? { outputs } : {}),
  };
}
