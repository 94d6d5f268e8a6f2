// Hash of the sources the wasm builds come from, so a test can tell a stale src/generated/wasm.ts.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

/** The .ts and .json files under dir, any depth. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sources(join(dir, e.name)) : /\.(ts|json)$/.test(e.name) ? [join(dir, e.name)] : []);
}

/** sha256 over asconfig.json and kernels/assembly/**\/*.ts and *.json (sorted by path), newlines normalized. */
export function sourceHash(rootDir: string): string {
  const rel = (f: string) => relative(rootDir, f).split(sep).join('/');
  const files = [join(rootDir, 'asconfig.json'), ...sources(join(rootDir, 'kernels', 'assembly')).sort((a, b) => (rel(a) < rel(b) ? -1 : 1))];
  const h = createHash('sha256');
  for (const f of files) h.update(rel(f)).update('\0').update(readFileSync(f, 'utf8').replace(/\r\n/g, '\n')).update('\0');
  return h.digest('hex');
}
