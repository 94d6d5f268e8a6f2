// A SubNet statistics worker (bn-pool.ts): the same backend, model and images as the caller;
// measures one SubNet per request.
import { serveRequests } from '../parallel/serve.ts';
import { loadDataset } from '../data/datasets.ts';
import { networkFromModel } from '../io/import.ts';
import { reestimationImages, subnetBnStatistics } from './bn-reestimate.ts';
import type { SubnetBnInit, SubnetBnReply, SubnetBnRequest } from './bn-pool.ts';

await serveRequests<SubnetBnInit, SubnetBnRequest, SubnetBnReply>((init) => {
  const ds = loadDataset(init.data);
  const indices = reestimationImages(ds.train, init.images, init.batch, init.seed);
  const net = networkFromModel(init.model);
  return async (m) => ({ kind: 'stats', stats: await subnetBnStatistics(net, ds, ds.train, m.bits, indices, init.batch) });
});
