// Picks the best TensorFlow.js backend that loads on this machine (issue 4): GPU first,
// never stuck. Each candidate that fails records why, so the caller can report it.
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

interface Candidate {
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
      create: (flags: string[]) => { requestAdapter: () => Promise<unknown | null> };
      globals: Record<string, unknown>;
    };
    const gpu = create([]);
    const adapter = await gpu.requestAdapter();
    if (!adapter) throw new Error('Dawn found no GPU adapter (no Vulkan loader or no GPU)');
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

async function tryCandidate(c: Candidate): Promise<void> {
  await c.load();
  // setBackend resolves false (not throws) when the backend's initialisation fails.
  if (!(await tf.setBackend(c.tfName))) throw new Error(`tf.setBackend('${c.tfName}') failed to initialise`);
  await tf.ready();
}

async function choose(pref: BackendPref): Promise<BackendChoice> {
  registerSecondOrderGradients();
  const order = pref === 'auto' ? CANDIDATES : CANDIDATES.filter((c) => c.name === pref);
  const tried: BackendAttempt[] = [];
  for (const c of order) {
    try {
      await tryCandidate(c);
      tried.push({ name: c.name });
      return { name: c.name, tried };
    } catch (e) {
      tried.push({ name: c.name, error: reason(e) });
    }
  }
  const why = tried.map((t) => `${t.name}: ${t.error}`).join('; ');
  throw new Error(`no TensorFlow.js backend could be loaded for --backend ${pref} (${why})`);
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

export { registerWasmKernels, builtinWasmConv2DBackpropInput } from './wasm-kernels.ts';
export { registerSecondOrderGradients } from './second-order-grads.ts';
