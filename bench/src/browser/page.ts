// The browser bench page (bundled by run.ts): runs bench/src/infer-run.ts at the thread count its
// URL names and leaves the result (or the error, one line) in window.benchResult for the driver.
// The peers' wasm files come from the same server: onnxruntime-web from /ort/ (its loader .mjs
// starts the pthread workers from there), tfjs-backend-wasm from /tfjs/, LiteRT.js from /litert/.
import * as ort from 'onnxruntime-web';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import * as litert from '@litertjs/core';
import type { BackendName } from '@bitswitch/runtime';
import { runInfer, type InferResult, type PeerKey } from '../infer-run.ts';

/** What the page tells the driver about itself. */
export interface PageInfo {
  browser: string; userAgent: string; hardwareConcurrency: number; crossOriginIsolated: boolean;
  /** When the page started and finished measuring (ISO). */
  startedAt: string; finishedAt?: string;
}
export type PageOutcome = { ok: true; page: PageInfo; result: InferResult } | { ok: false; page: PageInfo; error: string; userError: boolean };

const q = new URLSearchParams(location.search);
const at = (path: string) => new URL(path, location.href).href;
const page: PageInfo = {
  browser: navigator.userAgent.match(/(Headless)?Chrome\/[\d.]+/)?.[0] ?? navigator.userAgent,
  userAgent: navigator.userAgent, hardwareConcurrency: navigator.hardwareConcurrency, crossOriginIsolated: globalThis.crossOriginIsolated === true,
  startedAt: new Date().toISOString(),
};
const log = (line: string) => { document.getElementById('log')!.textContent += `${line}\n`; };
const done = (outcome: PageOutcome) => { page.finishedAt = new Date().toISOString(); (window as unknown as { benchResult: PageOutcome }).benchResult = outcome; };

ort.env.wasm.wasmPaths = at('/ort/');
setWasmPaths(at('/tfjs/'));
const litertVersion = q.get('litert') ?? 'unknown';

try {
  const threads = Number(q.get('threads'));
  log(`threads ${threads}, crossOriginIsolated ${page.crossOriginIsolated}, hardwareConcurrency ${page.hardwareConcurrency}`);
  const result = await runInfer({
    threads, rounds: Number(q.get('rounds')), scale: Number(q.get('scale')), backend: q.get('backend') as BackendName,
    peers: q.has('peers') ? (q.get('peers')!.split(',').filter(Boolean) as PeerKey[]) : undefined, keepOutputs: q.get('outputs') === '1',
  }, {
    // The same builds the Node bench loads: relaxed SIMD on one thread, the threaded build otherwise.
    async startLiteRt(n) {
      const build = n > 1 ? 'threaded' : 'relaxed-simd';
      const lr = await litert.loadLiteRt(at(`/litert/litert_wasm${n > 1 ? '_threaded' : ''}_internal.js`));
      return { raw: (lr as unknown as { liteRtWasm: unknown }).liteRtWasm, env: litert.getDefaultEnvironment(), threads: n, build, version: litertVersion };
    },
  });
  log('done');
  done({ ok: true, page, result });
} catch (e) {
  const error = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  log(`error: ${error}`);
  done({ ok: false, page, error, userError: e instanceof Error && e.name === 'BenchError' });
}
