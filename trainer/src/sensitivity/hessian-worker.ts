// A probe worker (hessian-pool.ts): the same target and batches as rank 0, probes on request.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendPref } from '../tfjs/backend.ts';
import { hutchinsonSamples } from './hessian.ts';
import { sensitivityBatches } from './estimate.ts';
import type { ProbeReply, ProbeRequest, ProbeWorkerInit } from './hessian-pool.ts';
import { sensitivityTargetFromModel } from './target.ts';

const init = workerData as ProbeWorkerInit;
const port = parentPort!;
const reply = (m: ProbeReply) => port.postMessage(m);

try {
  tf.env().set('PROD', true);
  await initBackend(init.backend as BackendPref);
  const target = sensitivityTargetFromModel(init.model);
  const { batches, sizes } = sensitivityBatches(init.data, init.images, init.batch);
  // tol and maxIters only steer rank 0's stop; a probe does not read them
  const opts = { lossFn: target.loss, params: target.params, batches, batchSizes: sizes, tol: 1, maxIters: 2, seed: init.seed, probeData: init.probeData };
  // one request at a time, in arrival order, though each awaits its readbacks
  let queue = Promise.resolve();
  port.on('message', (m: ProbeRequest) => {
    queue = queue.then(async () => {
      try {
        reply({ kind: 'probes', samples: await hutchinsonSamples(opts, m.from, m.count) });
      } catch (e) {
        reply({ kind: 'error', message: (e as Error).message });
      }
    });
  });
  reply({ kind: 'ready' });
} catch (e) {
  reply({ kind: 'error', message: `could not start: ${(e as Error).message}` });
}
