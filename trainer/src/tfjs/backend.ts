// Picks the best TensorFlow.js backend that loads on this machine: GPU first,
// never stuck, never broken: each candidate must also pass a tiny forward/backward step read
// back asynchronously (probeBackend). Each candidate that fails records why, so the caller can
// report it.
import * as tf from '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { registerWasmKernels } from './wasm-kernels.ts';
import { registerSecondOrderGradients } from './second-order-grads.ts';

export type BackendPref = 'auto' | 'tensorflow' | 'tensorflow-gpu' | 'webgpu' | 'wasm' | 'cpu';
export const BACKEND_PREFS: readonly BackendPref[] = ['auto', 'tensorflow-gpu', 'tensorflow', 'webgpu', 'wasm', 'cpu'];

export interface BackendAttempt { name: string; error?: string }
export interface BackendChoice { name: string; tried: BackendAttempt[] }

export interface Candidate {
  name: Exclude<BackendPref, 'auto'>;
  /** the name TensorFlow.js registers the backend under */
  tfName: string;
  /** imports and registers the backend; throws with the reason when it cannot work here */
  load: () => Promise<void>;
}

const require = createRequire(import.meta.url);

/** Folder holding the tfjs-backend-wasm .wasm binaries, resolved from node_modules (no network). */
export function wasmDistDir(): string {
  return dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')) + '/';
}

// tfjs-node registers its kernels before it loads its native binding, so a failed import
// leaves a half-registered 'tensorflow' backend behind: remove it so the next try starts clean.
function forgetTensorflowBackend(): void {
  for (const k of tf.getKernelsForBackend('tensorflow')) tf.unregisterKernel(k.kernelName, 'tensorflow');
  if (tf.findBackendFactory('tensorflow')) tf.removeBackend('tensorflow');
}

async function loadTfjsNode(pkg: string): Promise<void> {
  try {
    await import(pkg);
  } catch (e) {
    forgetTensorflowBackend();
    throw e;
  }
  if (!tf.findBackendFactory('tensorflow')) throw new Error(`${pkg} loaded but registered no 'tensorflow' backend`);
}

let webgpuReady: Promise<void> | undefined;
/** What Dawn reports about the adapter it found (vendor, architecture, description). */
let webgpuAdapter: { vendor?: string; architecture?: string; description?: string } | undefined;

/** Whether a WebGPU adapter is a CPU implementation (SwiftShader, llvmpipe, lavapipe): correct but slower than wasm. */
export function isSoftwareAdapter(info: { vendor?: string; architecture?: string; description?: string } | undefined): boolean {
  return /swiftshader|llvmpipe|lavapipe|software/i.test(`${info?.architecture ?? ''} ${info?.description ?? ''}`);
}

/**
 * Whether a Vulkan loader can be found on Linux (Dawn's only backend there). Without one Dawn
 * prints a two-line warning to stderr on every start, so it is not probed at all.
 */
export function vulkanLoaderPresent(env: NodeJS.ProcessEnv = process.env, exists: (p: string) => boolean = existsSync): boolean {
  if (process.platform !== 'linux') return true;
  const dirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib64', '/usr/lib', '/usr/local/lib', '/lib/x86_64-linux-gnu', '/lib64'];
  return dirs.some((d) => exists(join(d, 'libvulkan.so.1')));
}

// Dawn (the `webgpu` package) needs a Vulkan loader and a GPU on Linux; without them it
// returns no adapter, which is the normal case on CPU-only machines.
async function loadWebGpu(): Promise<void> {
  webgpuReady ??= (async () => {
    if (!vulkanLoaderPresent()) throw new Error('no Vulkan loader (libvulkan.so.1) on this machine, so Dawn has no adapter');
    const { create, globals } = (await import('webgpu')) as unknown as {
      create: (flags: string[]) => { requestAdapter: () => Promise<{ info?: typeof webgpuAdapter } | null> };
      globals: Record<string, unknown>;
    };
    const gpu = create([]);
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error('Dawn found no GPU adapter (no Vulkan loader or no GPU)');
    webgpuAdapter = { vendor: adapter.info?.vendor, architecture: adapter.info?.architecture, description: adapter.info?.description };
    Object.assign(globalThis, globals);
    const g = globalThis as { navigator?: { gpu?: unknown } };
    if (!g.navigator) Object.defineProperty(globalThis, 'navigator', { value: {}, configurable: true, writable: true });
    g.navigator!.gpu = gpu;
    await import('@tensorflow/tfjs-backend-webgpu');
  })();
  return webgpuReady;
}

let wasmReady: Promise<void> | undefined;

async function loadWasm(): Promise<void> {
  wasmReady ??= (async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(wasmDistDir());
    registerWasmKernels();
  })();
  return wasmReady;
}

export const CANDIDATES: readonly Candidate[] = [
  { name: 'tensorflow-gpu', tfName: 'tensorflow', load: () => loadTfjsNode('@tensorflow/tfjs-node-gpu') },
  { name: 'tensorflow', tfName: 'tensorflow', load: () => loadTfjsNode('@tensorflow/tfjs-node') },
  { name: 'webgpu', tfName: 'webgpu', load: loadWebGpu },
  { name: 'wasm', tfName: 'wasm', load: loadWasm },
  { name: 'cpu', tfName: 'cpu', load: async () => {} },
];

function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  return msg.split('\n')[0]!.trim();
}

// The probe: y = conv2d(x, w) (3×3 input, 2×2 filter, valid), loss = ½Σy², and dloss/dw, on
// values whose results are exact in float32.
const PROBE_X = [1, 2, 3, 4, 5, 6, 7, 8, 9];
const PROBE_W = [0.5, -1, 2, 0.25];

/** The probe's loss and filter gradient in plain arithmetic: the values a working backend must give. */
export function probeReference(): { loss: number; grad: number[] } {
  const grad = [0, 0, 0, 0];
  let loss = 0;
  for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) {
    const patch = [PROBE_X[i * 3 + j]!, PROBE_X[i * 3 + j + 1]!, PROBE_X[(i + 1) * 3 + j]!, PROBE_X[(i + 1) * 3 + j + 1]!];
    const y = patch.reduce((a, p, k) => a + p * PROBE_W[k]!, 0);
    loss += (y * y) / 2;
    patch.forEach((p, k) => { grad[k] += y * p; });
  }
  return { loss, grad };
}

/**
 * Runs one tiny forward/backward step (conv2d, its filter gradient, a reduction) on the active
 * backend and reads the results back asynchronously; throws with what went wrong when the
 * backend fails or computes a wrong value, so `auto` never keeps a broken backend.
 */
export async function probeBackend(): Promise<void> {
  const x = tf.tensor4d(PROBE_X, [1, 3, 3, 1]);
  const w = tf.variable(tf.tensor4d(PROBE_W, [2, 2, 1, 1]));
  try {
    const { value, grads } = tf.variableGrads(() => tf.tidy(() => tf.mul(tf.sum(tf.square(tf.conv2d(x, w as tf.Tensor4D, 1, 'valid'))), 0.5) as tf.Scalar), [w]);
    const g = Object.values(grads)[0]!;
    let got: [Float32Array | Int32Array | Uint8Array, Float32Array | Int32Array | Uint8Array];
    try {
      got = await Promise.all([value.data(), g.data()]) as typeof got;
    } finally {
      tf.dispose([value, g]);
    }
    const want = probeReference();
    const close = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.max(1, Math.abs(b));
    if (!close(got[0][0]!, want.loss)) throw new Error(`probe step: loss ${got[0][0]}, expected ${want.loss}`);
    if (!want.grad.every((v, k) => close(got[1][k]!, v))) throw new Error(`probe step: gradient [${Array.from(got[1])}], expected [${want.grad}]`);
  } finally {
    tf.dispose([x, w]);
  }
}

async function tryCandidate(c: Candidate, pref: BackendPref): Promise<void> {
  await c.load();
  if (pref === 'auto' && c.name === 'webgpu' && isSoftwareAdapter(webgpuAdapter)) {
    throw new Error(`Dawn's adapter is ${webgpuAdapter?.description ?? webgpuAdapter?.architecture}, a CPU emulation slower than wasm (force it with --backend webgpu)`);
  }
  // setBackend resolves false (not throws) when the backend's initialisation fails.
  if (!(await tf.setBackend(c.tfName))) throw new Error(`tf.setBackend('${c.tfName}') failed to initialise`);
  await tf.ready();
  await probeBackend();
}

/** Tries `order` in turn (each loaded, activated and probed) and keeps the first that works. */
export async function chooseFrom(order: readonly Candidate[], pref: BackendPref): Promise<BackendChoice> {
  registerSecondOrderGradients();
  const tried: BackendAttempt[] = [];
  for (const c of order) {
    try {
      await tryCandidate(c, pref);
      tried.push({ name: c.name });
      return { name: c.name, tried };
    } catch (e) {
      tried.push({ name: c.name, error: reason(e) });
    }
  }
  const why = tried.map((t) => `${t.name}: ${t.error}`).join('; ');
  throw new Error(`no TensorFlow.js backend could be loaded for --backend ${pref} (${why})`);
}

function choose(pref: BackendPref): Promise<BackendChoice> {
  return chooseFrom(pref === 'auto' ? CANDIDATES : CANDIDATES.filter((c) => c.name === pref), pref);
}

const chosen = new Map<BackendPref, Promise<BackendChoice>>();

/**
 * Loads and activates a backend. 'auto' tries tensorflow-gpu → tensorflow → webgpu → wasm → cpu
 * and keeps the first that works; any other value forces that backend (and throws if it
 * cannot load). Idempotent: a second call with the same preference re-activates the same
 * backend without loading anything again.
 */
export async function initBackend(pref: BackendPref = 'auto'): Promise<BackendChoice> {
  if (!BACKEND_PREFS.includes(pref)) {
    throw new RangeError(`backend: expected one of ${BACKEND_PREFS.join(', ')}, got ${JSON.stringify(pref)}`);
  }
  let p = chosen.get(pref);
  if (!p) {
    p = choose(pref);
    chosen.set(pref, p);
    p.catch(() => chosen.delete(pref));
  }
  const choice = await p;
  const tfName = CANDIDATES.find((c) => c.name === choice.name)!.tfName;
  if (tf.getBackend() !== tfName) await tf.setBackend(tfName);
  return choice;
}

/** The first line of a reason, with tfjs-node's missing-addon message (a long path) said in two words. */
function shortReason(error: string): string {
  const line = error.split('\n')[0];
  return /native addon module .* can ?not be found/i.test(line) ? 'not installed' : line;
}

/** The candidates `auto` passed over, with a one-line reason each ('' when the first one was kept). */
export function passedOver(choice: BackendChoice): string {
  return choice.tried.filter((t) => t.error).map((t) => `${t.name}: ${shortReason(t.error!)}`).join('; ');
}

export { registerWasmKernels, builtinWasmConv2DBackpropInput } from './wasm-kernels.ts';
export { registerSecondOrderGradients } from './second-order-grads.ts';
