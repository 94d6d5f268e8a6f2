// A probe worker (hessian-pool.ts): the same target and batches as rank 0, probes on request.
import { serveRequests } from '../parallel/serve.ts';
import { hutchinsonSamples } from './hessian.ts';
import { sensitivityBatches } from './estimate.ts';
import type { ProbeReply, ProbeRequest, ProbeWorkerInit } from './hessian-pool.ts';
import { sensitivityTargetFromModel } from './target.ts';

await serveRequests<ProbeWorkerInit, ProbeRequest, ProbeReply>((init) => {
  const target = sensitivityTargetFromModel(init.model);
  const { batches, sizes } = sensitivityBatches(init.data, init.images, init.batch);
  // tol and maxIters only steer rank 0's stop; a probe does not read them
  const opts = { lossFn: target.loss, params: target.params, batches, batchSizes: sizes, tol: 1, maxIters: 2, seed: init.seed, probeData: init.probeData };
  return async (m) => ({ kind: 'probes', samples: await hutchinsonSamples(opts, m.from, m.count) });
});
