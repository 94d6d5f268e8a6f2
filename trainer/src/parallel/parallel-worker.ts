// A data-parallel rank ≥ 1 (see parallel.ts): builds replicas of the networks on its own tfjs
// backend, then answers gradient requests on its shards of the shared batch.
import * as tf from '@tensorflow/tfjs';
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend, type BackendPref } from '../tfjs/backend.ts';
import { Network } from '../nn/network.ts';
import { ShardComputer, rankShards, shardRange } from './shards.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './parallel.ts';
import { Rng } from '../math/rng.ts';
import { SuperNetwork } from '../nn/supernet.ts';

const init = workerData as WorkerInit;
const port = parentPort!;
const reply = (m: WorkerReply) => port.postMessage(m);

try {
  tf.env().set('PROD', true);
  await initBackend(init.backend as BackendPref);
  // weights arrive through shared memory before the first request; the seed only shapes them
  const nets = init.specs.map((spec, i) => new (init.supernet[i] ? SuperNetwork : Network)(spec, init.quants[i], new Rng(0)));
  const computer = ShardComputer.forNets(nets, init.shape, init.classes);
  const weights = init.weights.map((b) => new Float32Array(b));
  const grads = init.grads.map((b) => new Float32Array(b));
  const x = new Float32Array(init.x);
  const y = new Int32Array(init.y);
  const loaded = new Map<number, number>();
  // requests are handled one at a time, in arrival order, though each awaits its readbacks
  const handle = async (m: WorkerRequest): Promise<void> => {
    try {
      if (m.kind === 'drop-teachers') { computer.dropTeachers(); return; }
      const net = m.kind === 'grads' ? m.req.net : m.net;
      if (loaded.get(net) !== m.weightsVersion) {
        computer.readWeights(net, weights[net]);
        loaded.set(net, m.weightsVersion);
      }
      if (m.kind === 'predict') {
        computer.loadStats(net, m.stats);
        const [s, e] = shardRange(init.rank, init.ranks, m.count);
        reply({ kind: 'predict', classes: await computer.predict(net, m.bits, x, s, e) });
        return;
      }
      const part = await computer.compute(m.req, x, y, m.count, rankShards(init.rank, init.ranks, m.totalShards), m.totalShards, grads[m.req.net]);
      reply({ kind: 'grads', ...part });
    } catch (e) {
      reply({ kind: 'error', message: (e as Error).message });
    }
  };
  let queue = Promise.resolve();
  port.on('message', (m: WorkerRequest) => { queue = queue.then(() => handle(m)); });
  reply({ kind: 'ready' });
} catch (e) {
  reply({ kind: 'error', message: `could not start: ${(e as Error).message}` });
}
