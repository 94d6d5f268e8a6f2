// Reads the reference vectors through the format package's `vectorsDir()`: $BITSWITCH_VECTORS, else the in-repo copy.
import { join } from 'node:path';
import { readVectors, vectorsDir } from '@bitswitch/format/node';

/** All cases of a vector file; `cases` may be one object or an array of them. */
export function readCases<T>(file: string): { seed: number; cases: T[] } {
  const json = readVectors(file);
  if (json.cases === undefined) throw new Error(`${join(vectorsDir(), file)}: expected a "cases" field`);
  return { seed: Number(json.seed ?? 0), cases: Array.isArray(json.cases) ? json.cases : [json.cases] };
}
