// The browser bench's HTTP server at 127.0.0.1: the page, its bundle and the peers' wasm files, every
// response cross-origin isolated (COOP same-origin + COEP require-corp, so SharedArrayBuffer and
// threads work; CORP same-origin so the page may load its own files under COEP). Only the listed
// files are served, each with its MIME type (wasm must be application/wasm to compile streaming).
import { readFileSync, readdirSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { extname, join } from 'node:path';

export const ISOLATION_HEADERS = {
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-embedder-policy': 'require-corp',
  'cross-origin-resource-policy': 'same-origin',
};
const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8',
  '.wasm': 'application/wasm', '.json': 'application/json',
};

/** What the server holds: a path → bytes map, and folders whose matching files appear under a prefix. */
export interface Site {
  files: Record<string, Uint8Array | string>;
  /** URL prefix (e.g. '/ort/') → folder and the file names it may serve. */
  folders: Record<string, { dir: string; match: RegExp }>;
}

/** The type of a served path by its extension; undefined for one the server does not serve. */
export function mimeType(path: string): string | undefined {
  return TYPES[extname(path)];
}

/** Starts the server on a free port; resolves with it and its address. */
export async function serveSite(site: Site): Promise<{ server: Server; url: string }> {
  const routes = new Map<string, { type: string; body: Uint8Array | string } | { type: string; file: string }>();
  for (const [path, body] of Object.entries(site.files)) routes.set(path, { type: mimeType(path)!, body });
  for (const [prefix, { dir, match }] of Object.entries(site.folders)) {
    for (const name of readdirSync(dir).filter((n) => match.test(n) && mimeType(n))) routes.set(prefix + name, { type: mimeType(name)!, file: join(dir, name) });
  }
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const route = routes.get(path === '/' ? '/index.html' : path);
    const headers = { ...ISOLATION_HEADERS, 'cache-control': 'no-store' };
    if (!route || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { ...headers, 'content-type': 'text/plain; charset=utf-8' }).end(`not found: ${path}\n`);
      return;
    }
    res.writeHead(200, { ...headers, 'content-type': route.type });
    res.end(req.method === 'HEAD' ? undefined : 'body' in route ? route.body : readFileSync(route.file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` };
}
