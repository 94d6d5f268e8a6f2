// Node-only helpers (fs). The core of @bitswitch/format stays free of Node APIs.
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, unlinkSync, writeSync, existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readModel, type ReadOptions } from './reader.ts';
import { writeModel } from './writer.ts';
import type { Model } from './model.ts';

export function readModelFile(path: string, options?: ReadOptions): Model {
  return readModel(new Uint8Array(readFileSync(path)), options);
}

/** Writes bytes atomically: temp file in the same folder, fsync, rename. Never leaves a half-written file. */
export function writeFileAtomic(path: string, bytes: Uint8Array | string): void {
  const tmp = join(dirname(path), `.${Date.now()}-${process.pid}-${Math.random().toString(36).slice(2)}.tmp`);
  const fd = openSync(tmp, 'w');
  try {
    const data = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  try { // make the rename itself durable
    const dfd = openSync(dirname(path), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch { /* some filesystems refuse fsync on directories */ }
}

/** Validates (writeModel throws FormatError on a bad Model) before anything touches the disk. */
export function writeModelFile(path: string, model: Model): void {
  writeFileAtomic(path, writeModel(model));
}

/** Repository root (the folder holding pnpm-workspace.yaml). */
export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The in-repo copy of the shared reference vectors (format/test/vectors; see its README). */
export const bundledVectorsDir = resolve(repoRoot, 'format/test/vectors');

/** The reference vectors every test reads: $BITSWITCH_VECTORS when set, else the in-repo copy. */
export function vectorsDir(): string {
  const env = process.env.BITSWITCH_VECTORS;
  const dir = env ? resolve(env) : bundledVectorsDir;
  if (!existsSync(dir)) throw new Error(env ? `BITSWITCH_VECTORS: expected a folder of reference vectors, got ${env} (not found)` : `reference vectors not found at ${dir}`);
  return dir;
}

/** One vector file, parsed: `{ seed, cases }` as written by the reference generator. */
export function readVectors<T = any>(file: string): { seed: number; cases: T } {
  const path = join(vectorsDir(), file);
  if (!existsSync(path)) throw new Error(`${path}: reference vector file not found`);
  return JSON.parse(readFileSync(path, 'utf8'));
}

/** Every `*.json` in the vectors folder whose name starts with `prefix` (e.g. 'double_rounding'). */
export function vectorFiles(prefix: string): { file: string; data: any }[] {
  const dir = vectorsDir();
  return readdirSync(dir).filter((f) => f.startsWith(prefix) && f.endsWith('.json')).sort()
    .map((f) => ({ file: f, data: JSON.parse(readFileSync(join(dir, f), 'utf8')) }));
}
