// A data-parallel rank ≥ 1 (see parallel.ts): builds replicas of the networks on its own tfjs
// backend, then answers gradient requests on its shards of the shared batch.
import { serveRequests } from './serve.ts';
import { Network } from '../nn/network.ts';
import { ShardComputer, rankShards, shardRange } from './shards.ts';
import type { WorkerInit, WorkerReply, WorkerRequest } from './parallel.ts';
import { Rng } from '../math/rng.ts';
import { SuperNetwork } from '../nn/supernet.ts';

await serveRequests<WorkerInit, WorkerRequest, WorkerReply>((init) => {
  // weights arrive through shared memory before the first request; the seed only shapes them
  const nets = init.specs.map((spec, i) => new (init.supernet[i] ? SuperNetwork : Network)(spec, init.quants[i], new Rng(0)));
  const computer = ShardComputer.forNets(nets, init.shape, init.classes);
  const weights = init.weights.map((b) => new Float32Array(b));
  const grads = init.grads.map((b) => new Float32Array(b));
  const x = new Float32Array(init.x);
  const y = new Int32Array(init.y);
  const loaded = new Map<number, number>();
  return async (m): Promise<WorkerReply | undefined> => {
    if (m.kind === 'drop-teachers') { computer.dropTeachers(); return undefined; }
    const net = m.kind === 'grads' ? m.req.net : m.net;
    if (loaded.get(net) !== m.weightsVersion) {
      computer.readWeights(net, weights[net]);
      loaded.set(net, m.weightsVersion);
    }
    if (m.kind === 'predict') {
      computer.loadStats(net, m.stats);
      const [s, e] = shardRange(init.rank, init.ranks, m.count);
      return { kind: 'predict', classes: await computer.predict(net, m.bits, x, s, e) };
    }
    const part = await computer.compute(m.req, x, y, m.count, rankShards(init.rank, init.ranks, m.totalShards), m.totalShards, grads[m.req.net]);
    return { kind: 'grads', ...part };
  };
});
