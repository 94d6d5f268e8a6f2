// A SubNet statistics worker (bn-pool.ts): the same backend, model and images as the caller;
// measures one SubNet per request.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendPref } from '../tfjs/backend.ts';
import { loadDataset } from '../data/datasets.ts';
import { networkFromModel } from '../io/import.ts';
import { reestimationImages, subnetBnStatistics } from './bn-reestimate.ts';
import type { SubnetBnInit, SubnetBnReply, SubnetBnRequest } from './bn-pool.ts';

const init = workerData as SubnetBnInit;
const port = parentPort!;
const reply = (m: SubnetBnReply) => port.postMessage(m);

try {
  tf.env().set('PROD', true);
  await initBackend(init.backend as BackendPref);
  const ds = loadDataset(init.data);
  const indices = reestimationImages(ds.train, init.images, init.batch, init.seed);
  const net = networkFromModel(init.model);
  // one request at a time, in arrival order
  let queue = Promise.resolve();
  port.on('message', (m: SubnetBnRequest) => {
    queue = queue.then(async () => {
      try {
        reply({ kind: 'stats', stats: await subnetBnStatistics(net, ds, ds.train, m.bits, indices, init.batch) });
      } catch (e) {
        reply({ kind: 'error', message: (e as Error).message });
      }
    });
  });
  reply({ kind: 'ready' });
} catch (e) {
  reply({ kind: 'error', message: `could not start: ${(e as Error).message}` });
}
