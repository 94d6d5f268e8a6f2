// The worker side of threads.ts's protocol: start the backend the caller chose, build the worker's
// state, reply 'ready' (or 'error' with why it could not start), then answer requests one at a
// time, in arrival order, though each awaits its readbacks; a failed request replies 'error'.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendPref } from '../tfjs/backend.ts';

type Control = { kind: 'ready' } | { kind: 'error'; message: string };

/**
 * Runs a worker thread: `setup(workerData)` after the backend `init.backend` is up returns the
 * request handler; a handler result of undefined sends no reply.
 */
export async function serveRequests<I extends { backend: string }, Q, R extends { kind: string }>(
  setup: (init: I) => Promise<(m: Q) => Promise<R | undefined>> | ((m: Q) => Promise<R | undefined>),
): Promise<void> {
  const init = workerData as I;
  const port = parentPort!;
  const reply = (m: R | Control) => port.postMessage(m);
  try {
    tf.env().set('PROD', true);
    await initBackend(init.backend as BackendPref);
    const handle = await setup(init);
    let queue = Promise.resolve();
    port.on('message', (m: Q) => {
      queue = queue.then(async () => {
        try {
          const r = await handle(m);
          if (r !== undefined) reply(r);
        } catch (e) {
          reply({ kind: 'error', message: (e as Error).message });
        }
      });
    });
    reply({ kind: 'ready' });
  } catch (e) {
    reply({ kind: 'error', message: `could not start: ${(e as Error).message}` });
  }
}
