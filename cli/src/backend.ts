// The TensorFlow.js backend of the trainer's commands (--backend), and what `auto` passed over.
import * as tf from '@tensorflow/tfjs';
import { initBackend, passedOver, BACKEND_PREFS, type BackendChoice, type BackendPref } from '@bitswitch/trainer';

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
