// Hash of the sources the wasm builds come from, so a test can tell a stale src/generated/wasm.ts.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** sha256 over asconfig.json and kernels/assembly/*.ts (sorted by name), newlines normalized. */
export function sourceHash(rootDir: string): string {
  const dir = join(rootDir, 'kernels', 'assembly');
  const files = [join(rootDir, 'asconfig.json'), ...readdirSync(dir).filter((f) => f.endsWith('.ts')).sort().map((f) => join(dir, f))];
  const h = createHash('sha256');
  for (const f of files) h.update(f.slice(rootDir.length)).update('\0').update(readFileSync(f, 'utf8').replace(/\r\n/g, '\n')).update('\0');
  return h.digest('hex');
}
