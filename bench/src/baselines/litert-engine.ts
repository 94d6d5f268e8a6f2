// A compiled TFLite model on LiteRT.js (@litertjs/core: TFLite + XNNPACK compiled to wasm), CPU
// path, through the raw bindings (loadModel / compileModel / run on tensor buffers), the leanest
// call. The same in Node and in the browser: only loading LiteRT.js differs (litert.ts for Node,
// bench/src/browser/page.ts for Chromium).
import type { Engine } from './network.ts';

/* eslint-disable @typescript-eslint/no-explicit-any -- the raw emscripten bindings are untyped */
type Raw = any;
/** LiteRT.js loaded for `threads` threads: its raw bindings and default environment. */
export interface LiteRtLoaded { raw: Raw; env: Raw; threads: number; build: string; version: string }

/** A compiled TFLite model (float input and output) on LiteRT.js's wasm (XNNPACK) CPU path. */
export async function liteRtEngineOn(loaded: LiteRtLoaded, name: string, model: Uint8Array): Promise<Engine> {
  const { raw, env, build, threads, version } = loaded;
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
