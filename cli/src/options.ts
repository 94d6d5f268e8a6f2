// What the commands share: number flags and the part of commander's Command that registering a
// command uses. Nothing here loads TensorFlow.js (see backend.ts).

/** The subset of commander's Command a command's register() uses (a real Command satisfies it). */
export interface CommandLike {
  command(name: string): CommandLike;
  description(text: string): CommandLike;
  argument(name: string, description?: string): CommandLike;
  option(flags: string, description?: string, defaultValue?: unknown): CommandLike;
  requiredOption(flags: string, description?: string, defaultValue?: unknown): CommandLike;
  action(fn: (...args: any[]) => unknown): CommandLike;
}

/** The number a flag holds; names the flag otherwise. */
export function parseNumber(v: string, flag: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new RangeError(`${flag}: expected a number, got ${JSON.stringify(v)}`);
  return n;
}

/** Repeatable option: every value in order. */
export const collect = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];
