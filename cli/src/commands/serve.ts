// `bitswitch serve [FILE]`: the browser demo (examples/browser) on a local HTTP server at 127.0.0.1,
// cross-origin isolated (COOP same-origin + COEP require-corp) so the runtime may use threads.
// It serves the built page, the model file (FILE, else the demo package's default.bsw)
// and sample images taken from the data package at start-up (nothing is downloaded).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import type { Command } from 'commander';
import { readModel, type Model } from '@bitswitch/format';

export interface ServeOptions { port?: string; data?: string; images?: string }

/** The model served when no FILE is given. */
/** The model served when none is given: the demo package's dist/default.bsw (a copy of a committed model). */
export const DEFAULT_MODEL = join(dirname(createRequire(import.meta.url).resolve('@bitswitch/demo/package.json')), 'dist', 'default.bsw');
const DATA_SETS = ['mnist', 'fashion-mnist'];

/** Headers that make the page cross-origin isolated: shared wasm memory, hence threads, need them. */
export const ISOLATION_HEADERS = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp' };

function whole(text: string, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new RangeError(`${flag}: expected a whole number in ${min}..${max}, got ${JSON.stringify(text)}`);
  return n;
}

/** The built page: examples/browser/dist of the @bitswitch/demo package. */
function demoFiles(): { html: Buffer; js: Buffer } {
  const dir = join(dirname(createRequire(import.meta.url).resolve('@bitswitch/demo/package.json')), 'dist');
  const js = join(dir, 'demo.js');
  if (!existsSync(js)) throw new RangeError(`the demo page is not built (${js} is missing) — run pnpm build`);
  return { html: readFileSync(join(dir, 'index.html')), js: readFileSync(js) };
}

function readModelFile(file: string): { bytes: Buffer; model: Model } {
  if (!existsSync(file)) throw new RangeError(`${file}: no such file — expected a .bsw model file`);
  if (statSync(file).isDirectory()) throw new RangeError(`${file}: is a folder — expected a .bsw model file`);
  const bytes = readFileSync(file);
  try {
    return { bytes, model: readModel(bytes) };
  } catch (e) {
    if ((e as Error).name === 'FormatError') throw new RangeError(`${file}: damaged or not a bitswitch model: ${(e as Error).message}`);
    throw e;
  }
}

/** The first `count` test images (a balanced subset: count/10 per class) of a data set, as the page reads them. */
export async function sampleImages(data: string, count: number): Promise<{ json: string; bin: Uint8Array }> {
  const { loadDataset, stratifiedSubset, CLASS_NAMES } = await import('@bitswitch/trainer');
  const ds = loadDataset(data);
  const pixels = ds.height * ds.width * ds.channels;
  const split = stratifiedSubset(ds.test, Math.ceil(count / ds.classes), ds.classes, pixels);
  const n = Math.min(count, split.count);
  const meta = {
    count: n, shape: [ds.height, ds.width, ds.channels], labels: Array.from(split.labels.subarray(0, n)),
    mean: ds.mean, std: ds.std, dataset: ds.name, classNames: CLASS_NAMES[ds.name as keyof typeof CLASS_NAMES],
  };
  return { json: JSON.stringify(meta), bin: split.images.slice(0, n * pixels) };
}

/** Starts the server; resolves once it listens. `log` gets the address line. */
export async function serveCommand(file: string | undefined, o: ServeOptions, log: (line: string) => void = console.log): Promise<Server> {
  const port = whole(o.port ?? '8080', '--port', 0, 65535);
  const count = whole(o.images ?? '256', '--images', 1, 10000);
  if (o.data !== undefined && !DATA_SETS.includes(o.data)) throw new RangeError(`--data: expected one of ${DATA_SETS.join(', ')}, got ${JSON.stringify(o.data)}`);
  const page = demoFiles();
  const served = file !== undefined ? readModelFile(file) : existsSync(DEFAULT_MODEL) ? readModelFile(DEFAULT_MODEL) : undefined;
  const name = file ?? (served ? DEFAULT_MODEL : undefined);
  const recorded = served?.model.input?.dataset ?? served?.model.metadata?.dataset;
  const data = o.data ?? (typeof recorded === 'string' && DATA_SETS.includes(recorded) ? recorded : 'mnist');
  const images = await sampleImages(data, count);

  const routes = new Map<string, [string, Uint8Array | string]>([
    ['/', ['text/html; charset=utf-8', page.html]],
    ['/index.html', ['text/html; charset=utf-8', page.html]],
    ['/demo.js', ['text/javascript; charset=utf-8', page.js]],
    ['/images.json', ['application/json', images.json]],
    ['/images.bin', ['application/octet-stream', images.bin]],
  ]);
  if (served) routes.set('/model.bsw', ['application/octet-stream', served.bytes]);
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const route = routes.get(path);
    const headers = { ...ISOLATION_HEADERS, 'cache-control': 'no-store' };
    if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': route[0], ...(path === '/model.bsw' && name ? { 'x-model-name': basename(name) } : {}) });
    res.end(req.method === 'HEAD' ? undefined : route[1]);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE'
      ? new RangeError(`--port: ${port} is in use — pass another port, or --port 0 for a free one`)
      : e));
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
  const what = served ? `model ${name}` : 'no model (drop a .bsw file on the page)';
  log(`serving the demo at ${url} — ${what}, ${JSON.parse(images.json).count} ${data} test images; Ctrl-C stops`);
  return server;
}

export function register(program: Command): void {
  program.command('serve')
    .description('open the browser demo: serve it at 127.0.0.1 (cross-origin isolated, so threads run) with a model file and sample images')
    .argument('[file]', `a .bsw model file (default: the demo's own model, ${DEFAULT_MODEL})`)
    .option('--port <n>', 'port to listen on; 0 picks a free one', '8080')
    .option('--data <name>', 'sample images: mnist | fashion-mnist (default: the data set the model records, else mnist)')
    .option('--images <n>', 'how many test images the page classifies', '256')
    .action(async (file: string | undefined, o: ServeOptions) => { await serveCommand(file, o); });
}
