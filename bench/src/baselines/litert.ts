// LiteRT.js (@litertjs/core: TFLite + XNNPACK compiled to wasm) on its CPU path in Node. Its loader
// is written for browsers: it calls importScripts(url) and reads self.ModuleFactory, so Node gets a
// small importScripts that evaluates the emscripten script with CommonJS globals. Models run
// through the raw bindings (loadModel / compileModel / run on tensor buffers), the leanest call.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Engine } from './network.ts';

const require = createRequire(import.meta.url);
const wasmDir = path.join(path.dirname(require.resolve('@litertjs/core/package.json')), 'wasm');
const version = (JSON.parse(readFileSync(path.join(wasmDir, '..', 'package.json'), 'utf8')) as { version: string }).version;

/* eslint-disable @typescript-eslint/no-explicit-any -- the raw emscripten bindings are untyped */
type Raw = any;
interface Loaded { raw: Raw; env: Raw; threads: number; build: string }
let loaded: Loaded | undefined;

function installImportScripts(): void {
  const g = globalThis as any;
  g.self ??= globalThis;
  g.importScripts ??= (file: string) => {
    const src = readFileSync(file, 'utf8');
    // eslint-disable-next-line @typescript-eslint/no-implied-eval
    const factory = new Function('require', '__dirname', '__filename', `${src}\nreturn ModuleFactory;`);
    g.ModuleFactory = factory(require, path.dirname(file), file);
  };
}

/**
 * Loads LiteRT.js once per process: the relaxed-SIMD build for one thread, the threaded build
 * otherwise. Emscripten's pthread workers re-run the loader script as CommonJS, which the package
 * (type: module) forbids, so the threaded build runs from a copy in the temp directory.
 */
export async function startLiteRt(threads: number): Promise<Loaded> {
  if (loaded) {
    if (loaded.threads !== threads) throw new RangeError(`threads: LiteRT.js is loaded with ${loaded.threads} in this process, got ${threads}`);
    return loaded;
  }
  installImportScripts();
  const litert = await import('@litertjs/core');
  // Node 20 has no navigator: emscripten's pthread pool reads hardwareConcurrency from it.
  // (LiteRT's WebGPU probe still logs that Node has no WebGPU; the CPU path does not need it.)
  (globalThis as any).navigator ??= { hardwareConcurrency: os.cpus().length };
  let file = path.join(wasmDir, 'litert_wasm_internal.js');
  let build = 'relaxed-simd';
  if (threads > 1) {
    const dir = path.join(os.tmpdir(), `bitswitch-litert-${version}`);
    mkdirSync(dir, { recursive: true });
    for (const f of ['litert_wasm_threaded_internal.js', 'litert_wasm_threaded_internal.wasm']) {
      if (!existsSync(path.join(dir, f))) copyFileSync(path.join(wasmDir, f), path.join(dir, f));
    }
    writeFileSync(path.join(dir, 'package.json'), '{"type":"commonjs"}\n');
    file = path.join(dir, 'litert_wasm_threaded_internal.js');
    build = 'threaded';
  }
  const liteRt: Raw = await litert.loadLiteRt(file);
  loaded = { raw: liteRt.liteRtWasm, env: litert.getDefaultEnvironment(), threads, build };
  return loaded;
}

/** A compiled TFLite model (float input and output) on LiteRT.js's wasm (XNNPACK) CPU path. */
export async function liteRtEngine(name: string, model: Uint8Array, threads: number): Promise<Engine> {
  const { raw, env, build } = await startLiteRt(threads);
  const ptr: number = raw._malloc(model.length);
  raw.HEAPU8.set(model, ptr);
  const handle: Raw = raw.loadModel(env.liteRtEnvironment, ptr, model.length);
  const compiled: Raw = await raw.compileModel(env.liteRtEnvironment, handle, {
    environment: env, accelerator: 'wasm', cpuOptions: { numThreads: threads }, gpuOptions: {}, webNNOptions: {},
  });
  const type: Raw = handle.getInputTensorType(0, 0);
  const inBytes: number = type.bytes();
  const input: Raw = raw.LiteRtTensorBuffer.createManaged(env.liteRtEnvironment, raw.LiteRtTensorBufferType.HOST_MEMORY, type, inBytes);
  type.delete();
  const fully: boolean = compiled.isFullyAccelerated();
  return {
    name,
    info: `@litertjs/core ${version} ${build} build, numThreads ${threads}, ${fully ? 'fully delegated to XNNPACK' : 'NOT fully delegated'}`,
    async run(images, batch) {
      if (images.byteLength !== inBytes) throw new RangeError(`images: expected ${inBytes / 4} floats for the model's batch, got ${images.length} (batch ${batch})`);
      const p: number = input.lock(raw.LiteRtTensorBufferLockMode.WRITE);
      raw.HEAPU8.set(new Uint8Array(images.buffer, images.byteOffset, images.byteLength), p);
      input.unlock();
      let outs: Raw = compiled.run(0, [input]);
      if (outs && typeof outs.then === 'function') outs = await outs;
      const out = outs[0];
      const q: number = out.lock(raw.LiteRtTensorBufferLockMode.READ);
      const logits = new Float32Array(raw.HEAPU8.slice(q, q + out.packedSize()).buffer);
      out.unlock();
      for (const o of outs) o.delete();
      return logits;
    },
    dispose() { input.delete(); compiled.delete(); handle.delete(); raw._free(ptr); },
  };
}
