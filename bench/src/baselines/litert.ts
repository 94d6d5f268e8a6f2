// LiteRT.js (@litertjs/core: TFLite + XNNPACK compiled to wasm) on its CPU path in Node. Its loader
// is written for browsers: it calls importScripts(url) and reads self.ModuleFactory, so Node gets a
// small importScripts that evaluates the emscripten script with CommonJS globals. Models run on
// litert-engine.ts, which the browser bench shares.
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { Engine } from './network.ts';
import { liteRtEngineOn, type LiteRtLoaded } from './litert-engine.ts';

const require = createRequire(import.meta.url);
const wasmDir = path.join(path.dirname(require.resolve('@litertjs/core/package.json')), 'wasm');
const version = (JSON.parse(readFileSync(path.join(wasmDir, '..', 'package.json'), 'utf8')) as { version: string }).version;

/* eslint-disable @typescript-eslint/no-explicit-any -- the raw emscripten bindings are untyped */
let loaded: LiteRtLoaded | undefined;

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
export async function startLiteRt(threads: number): Promise<LiteRtLoaded> {
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
  const liteRt: any = await litert.loadLiteRt(file);
  loaded = { raw: liteRt.liteRtWasm, env: litert.getDefaultEnvironment(), threads, build, version };
  return loaded;
}

/** A compiled TFLite model (float input and output) on LiteRT.js's wasm (XNNPACK) CPU path. */
export async function liteRtEngine(name: string, model: Uint8Array, threads: number): Promise<Engine> {
  return liteRtEngineOn(await startLiteRt(threads), name, model);
}
