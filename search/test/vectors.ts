// Locates the shared reference vectors: BITSWITCH_VECTORS, else ../shared/vectors from the repo root.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(fileURLToPath(new URL('../..', import.meta.url)));

export function vectorsDir(): string {
  return process.env.BITSWITCH_VECTORS ? resolve(process.env.BITSWITCH_VECTORS) : join(repoRoot, '..', 'shared', 'vectors');
}

/** All cases of a vector file; `cases` may be one object or an array of them. */
export function readCases<T>(file: string): { seed: number; cases: T[] } {
  const path = join(vectorsDir(), file);
  const json = JSON.parse(readFileSync(path, 'utf8'));
  if (json.cases === undefined) throw new Error(`${path}: expected a "cases" field`);
  return { seed: Number(json.seed ?? 0), cases: Array.isArray(json.cases) ? json.cases : [json.cases] };
}
