// Checkpoints: one JSON file, float arrays as base64 of their little-endian bytes, written
// atomically (temp file in the same folder, fsync, rename, fsync the folder) so a crash at any
// point leaves either the previous checkpoint or the new one, never a torn file.
import { existsSync, readFileSync } from 'node:fs';
import { writeFileAtomic } from '@bitswitch/format/node';

export const CHECKPOINT_FILE = 'checkpoint.json';

const F32 = '__f32__';

function encode(value: unknown): unknown {
  if (value instanceof Float32Array) return { [F32]: Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64') };
  if (Array.isArray(value)) return value.map(encode);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, encode(v)]));
  return value;
}

function decode(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(decode);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o[F32] === 'string') {
      const b = Buffer.from(o[F32] as string, 'base64');
      const out = new Float32Array(b.length / 4);
      new Uint8Array(out.buffer).set(b);
      return out;
    }
    return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, decode(v)]));
  }
  return value;
}

/** Float arrays inside any JSON value as base64 objects (the checkpoint encoding), and back. */
export const encodeFloats = encode;
export const decodeFloats = <T = Record<string, Float32Array>>(value: unknown): T => decode(value) as T;

/** Atomic write (temp file, fsync, rename): the format package's, shared by every writer. */
export { writeFileAtomic };

export function saveCheckpoint(path: string, state: unknown): void {
  writeFileAtomic(path, JSON.stringify(encode(state)));
}

export function loadCheckpoint<T>(path: string): T {
  if (!existsSync(path)) throw new RangeError(`${path}: no checkpoint there`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RangeError(`${path}: expected a JSON checkpoint (${(e as Error).message})`);
  }
  return decode(parsed) as T;
}
