// `pnpm bench:infer --browser`: bundles page.ts with the peers (esbuild, in memory), serves it
// cross-origin isolated (server.ts), and opens it once per thread count in headless Debian
// Chromium (playwright-core), a fresh page each time since every peer fixes its thread count when
// it loads. Returns each page's result, the same object the Node bench measures.
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';
import { BenchError, type InferOptions, type InferResult } from '../infer-run.ts';
import { serveSite } from './server.ts';
import type { PageInfo, PageOutcome } from './page.ts';

export const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const packageDir = (name: string) => dirname(require.resolve(`${name}/package.json`));
const HTML = '<!doctype html>\n<meta charset="utf-8">\n<title>bitswitch bench:infer</title>\n<pre id="log"></pre>\n<script type="module" src="/bench.js"></script>\n';

/** page.ts and everything it imports as one ES module. */
export async function bundlePage(): Promise<string> {
  const out = await build({
    entryPoints: [join(here, 'page.ts')],
    bundle: true, write: false, format: 'esm', platform: 'browser', target: 'es2022',
    // workspace packages from their TypeScript sources; onnxruntime-web's build that loads its
    // wasm and worker script from env.wasm.wasmPaths rather than from inside the bundle
    conditions: ['bitswitch-source', 'onnxruntime-web-use-extern-wasm'],
    logLevel: 'error',
  });
  return out.outputFiles[0].text;
}

export interface BrowserRun { page: PageInfo; result: InferResult }

/** Runs the bench at every thread count in `threadList`, one page each. */
export async function runInBrowser(threadList: number[], o: Omit<InferOptions, 'threads'>, log: (line: string) => void = (l) => console.error(l)): Promise<BrowserRun[]> {
  if (!existsSync(CHROMIUM)) throw new BenchError(`--browser: ${CHROMIUM} is missing — install Debian's chromium (apt-get install -y chromium)`);
  // onnxruntime-web exports its wasm files but not its package.json
  const ortDir = dirname(require.resolve('onnxruntime-web/ort-wasm-simd-threaded.wasm'));
  const litertDir = join(packageDir('@litertjs/core'), 'wasm');
  const litertVersion = (JSON.parse(readFileSync(join(packageDir('@litertjs/core'), 'package.json'), 'utf8')) as { version: string }).version;
  const { server, url } = await serveSite({
    files: { '/index.html': HTML, '/bench.js': await bundlePage() },
    folders: {
      '/ort/': { dir: ortDir, match: /^ort-wasm-simd-threaded(\.jsep)?\.(mjs|wasm)$/ },
      '/tfjs/': { dir: join(packageDir('@tensorflow/tfjs-backend-wasm'), 'dist'), match: /\.wasm$/ },
      '/litert/': { dir: litertDir, match: /^litert_wasm_(threaded_)?internal\.(js|wasm)$/ },
    },
  });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
  const runs: BrowserRun[] = [];
  try {
    for (const threads of threadList) {
      const context = await browser.newContext();
      const page = await context.newPage();
      const lines: string[] = [];
      page.on('console', (m) => { if (m.type() === 'error') lines.push(m.text().split('\n')[0]); });
      page.on('pageerror', (e) => lines.push(`page error: ${e.message.split('\n')[0]}`));
      const query = new URLSearchParams({
        threads: String(threads), rounds: String(o.rounds), scale: String(o.scale), backend: o.backend, litert: litertVersion,
        ...(o.peers ? { peers: o.peers.join(',') } : {}), ...(o.keepOutputs ? { outputs: '1' } : {}),
      });
      log(`chromium: bench page at ${threads} thread(s)…`);
      await page.goto(`${url}?${query}`);
      const limit = 300_000 + o.rounds * o.scale * 30_000;
      try {
        await page.waitForFunction(() => (window as unknown as { benchResult?: unknown }).benchResult !== undefined, null, { timeout: limit, polling: 500 });
      } catch {
        throw new Error(`--browser: the page at ${threads} thread(s) gave no result within ${limit / 1000} s${lines.length ? `; it said: ${lines.slice(-3).join(' | ')}` : ''}`);
      }
      const outcome = await page.evaluate(() => (window as unknown as { benchResult: PageOutcome }).benchResult);
      await context.close();
      if (!outcome.ok) {
        const why = `in Chromium at ${threads} thread(s): ${outcome.error}`;
        throw outcome.userError ? new BenchError(why) : new Error(`${why}${lines.length ? `\n${lines.join('\n')}` : ''}`);
      }
      runs.push({ page: outcome.page, result: outcome.result });
    }
  } finally {
    await browser.close();
    server.close();
  }
  return runs;
}
