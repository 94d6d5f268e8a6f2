// Loading a model file from memory, a file path (Node), or a URL (fetch), and starting a runtime on it.
import { readModel, type Model } from '@bitswitch/format';
import { createBackend, type BackendName } from './backends.ts';
import type { IntBackend } from './backend.ts';
import { Runtime } from './executor.ts';
import type { PrecisionSpec } from './precision.ts';

export type ModelSource = Model | Uint8Array | ArrayBuffer | URL | string;

const isNode = typeof process !== 'undefined' && !!process.versions?.node;

/** Bytes of a model file: URLs (and any string outside Node) are fetched, other strings are file paths. */
export async function loadModelBytes(source: Exclude<ModelSource, Model>): Promise<Uint8Array> {
  if (source instanceof Uint8Array) return source;
  if (source instanceof ArrayBuffer) return new Uint8Array(source);
  const text = String(source);
  if (source instanceof URL ? source.protocol === 'file:' : isNode && !/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) {
    return new Uint8Array(await nodeFs().readFile(source));
  }
  const res = await fetch(source);
  if (!res.ok) throw new RangeError(`model: expected HTTP 200 from ${text}, got ${res.status} ${res.statusText}`);
  return new Uint8Array(await res.arrayBuffer());
}

/** node:fs/promises through process.getBuiltinModule (Node ≥ 20.16): no import for a browser bundler to resolve. */
function nodeFs(): typeof import('node:fs/promises') {
  const p = globalThis.process as { getBuiltinModule?: (id: string) => unknown } | undefined;
  if (!p?.getBuiltinModule) throw new Error('model: reading a file path needs Node >= 20.16 (process.getBuiltinModule) — pass the file\'s bytes instead');
  return p.getBuiltinModule('node:fs/promises') as typeof import('node:fs/promises');
}

/** A validated Model from any source (the format reader checks every field). */
export async function loadModel(source: ModelSource): Promise<Model> {
  if (typeof source === 'object' && 'layers' in source) return source;
  return readModel(await loadModelBytes(source));
}

export interface RuntimeOptions {
  backend?: BackendName | IntBackend;
  precision?: PrecisionSpec;
  /**
   * Threads per GEMM for the kernels backends. Default: every core in Node; in a browser
   * navigator.hardwareConcurrency when the page is cross-origin isolated (shared memory needs it), else 1.
   */
  threads?: number;
}

/** The default thread count: see RuntimeOptions.threads. */
export function defaultThreads(): number {
  const g = globalThis as { process?: { getBuiltinModule?: (id: string) => { availableParallelism?: () => number; cpus(): unknown[] } }; navigator?: { hardwareConcurrency?: number }; crossOriginIsolated?: boolean };
  if (isNode) {
    const os = g.process?.getBuiltinModule?.('node:os');
    return Math.max(1, os ? (os.availableParallelism?.() ?? os.cpus().length) : 1);
  }
  return g.crossOriginIsolated === true ? Math.max(1, g.navigator?.hardwareConcurrency ?? 1) : 1;
}

/** Loads a model and returns a runtime at `precision` (default: the model's highest bit). */
export async function createRuntime(source: ModelSource, options: RuntimeOptions = {}): Promise<Runtime> {
  const model = await loadModel(source);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 1)) {
    throw new RangeError(`threads: expected an integer >= 1, got ${String(options.threads)}`);
  }
  const backend = typeof options.backend === 'object' ? options.backend : createBackend(options.backend ?? 'kernels', { threads: options.threads ?? defaultThreads() });
  // a browser starts the workers only while this thread yields: wait, so that the first runs have them
  await backend.ready?.();
  return new Runtime(model, backend, options.precision ?? model.bits[0]);
}
