// What the commands share: number flags, the tfjs backend report, and the part of commander's
// Command that registering a command uses.
import * as tf from '@tensorflow/tfjs';
import { initBackend, passedOver, BACKEND_PREFS, type BackendChoice, type BackendPref } from '@bitswitch/trainer';

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

/** Starts the --backend tfjs backend (production mode: no "install tfjs-node" banner in the output). */
export async function startBackend(flag = 'auto'): Promise<BackendChoice> {
  tf.env().set('PROD', true);
  if (!(BACKEND_PREFS as readonly string[]).includes(flag)) throw new RangeError(`--backend: expected one of ${BACKEND_PREFS.join(', ')}, got ${JSON.stringify(flag)}`);
  return initBackend(flag as BackendPref);
}

/** Says which backends `auto` passed over and why (nothing when the first candidate was kept). */
export function reportFallThrough(choice: BackendChoice, log: (line: string) => void = console.log): void {
  const skipped = passedOver(choice);
  if (skipped) log(`backend ${choice.name}; passed over: ${skipped}`);
}
