// What the commands share: number flags, the model file a command reads, and the part of
// commander's Command that registering a command uses. Nothing here loads TensorFlow.js (see backend.ts).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { FormatError, readModel, type Model } from '@bitswitch/format';

/** The subset of commander's Command a command's register() uses (a real Command satisfies it). */
export interface CommandLike {
  command(name: string): CommandLike;
  description(text: string): CommandLike;
  argument(name: string, description?: string): CommandLike;
  option(flags: string, description?: string, defaultValue?: unknown): CommandLike;
  requiredOption(flags: string, description?: string, defaultValue?: unknown): CommandLike;
  action(fn: (...args: any[]) => unknown): CommandLike;
}

/** The model file a command is given: a missing file, a folder or a damaged file is one line naming it. */
export function readModelArg(file: string): Model {
  if (!existsSync(file)) throw new RangeError(`${file}: no such file — expected a .bsw model file`);
  if (statSync(file).isDirectory()) {
    const hint = existsSync(join(file, 'model.bsw')) ? ` (e.g. ${join(file, 'model.bsw')})` : '';
    throw new RangeError(`${file}: is a folder — expected a .bsw model file${hint}`);
  }
  try {
    return readModel(readFileSync(file));
  } catch (e) {
    if (e instanceof FormatError) throw new RangeError(`${file}: ${e.message}`);
    throw e;
  }
}

/** The number a flag holds; names the flag otherwise. */
export function parseNumber(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new RangeError(`${flag}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

/** Repeatable option: every value in order. */
export const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
