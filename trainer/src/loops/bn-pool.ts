// SubNet BatchNorm statistics on every core. A SubNet's statistics depend only on the model, its
// bits and the images (bn-reestimate.ts), so each thread measures whole SubNets, taking the next
// one as it finishes; every thread runs the same backend, so the result is the same for any
// worker count.
import type { Model } from '@bitswitch/format';
import { loadDataset, type Dataset } from '../data/datasets.ts';
import { networkFromModel } from '../io/import.ts';
import { Rank, moduleUrl, spawnWorker, whenReady } from '../parallel/threads.ts';
import { reestimationImages, subnetBnStatistics } from './bn-reestimate.ts';

/** What a worker needs to measure as the caller does: backend name, model, data set and image choice. */
export interface SubnetBnInit { backend: string; model: Model; data: string; images: number; batch: number; seed: number }
export type SubnetBnRequest = { kind: 'subnet'; bits: number[] };
export type SubnetBnReply = { kind: 'ready' } | { kind: 'stats'; stats: Record<string, Float32Array> } | { kind: 'error'; message: string };

export interface SubnetBnPoolOptions {
  /** Threads measuring at once, the caller's included. */
  workers: number;
  /** init.data, when the caller has it loaded already. */
  dataset?: Dataset;
  /** Runs as SubNet i finishes, in any order; thread 0 is the caller's, 1.. the workers. */
  done?: (i: number, thread: number) => void;
}

/**
 * subnetBnStatistics of each bit list in `subnets`, on `o.workers` threads (the caller's one of
 * them; its backend `init.backend` must be active).
 */
export async function subnetBnStatisticsParallel(
  init: SubnetBnInit, subnets: readonly (readonly number[])[], o: SubnetBnPoolOptions,
): Promise<Record<string, Float32Array>[]> {
  const { workers, done = () => {} } = o;
  const ds = o.dataset ?? loadDataset(init.data);
  const indices = reestimationImages(ds.train, init.images, init.batch, init.seed);
  const net = networkFromModel(init.model);
  const url = moduleUrl('bn-worker', import.meta.url);
  const ranks = Array.from({ length: Math.max(0, Math.min(workers, subnets.length) - 1) }, (_, k) => new Rank<SubnetBnRequest, SubnetBnReply>(k + 1, spawnWorker(url, init)));
  const close = async () => { await Promise.all(ranks.map((r) => r.worker.terminate())); };
  const out: Record<string, Float32Array>[] = new Array(subnets.length);
  let next = 0;
  // after a failure no thread takes another SubNet; all are awaited before the network is freed
  let failed = false;
  const take = () => (failed ? subnets.length : next++);
  const measure = async (thread: number, one: (bits: readonly number[]) => Promise<Record<string, Float32Array>>) => {
    try {
      for (let i = take(); i < subnets.length; i = take()) {
        out[i] = await one(subnets[i]!);
        done(i, thread);
      }
    } catch (e) {
      failed = true;
      throw e;
    }
  };
  try {
    await whenReady(ranks, close);
    const settled = await Promise.allSettled([
      measure(0, (bits) => subnetBnStatistics(net, ds, ds.train, bits, indices, init.batch)),
      ...ranks.map((r) => measure(r.rank, async (bits) => {
        const m = await r.request({ kind: 'subnet', bits: [...bits] });
        if (m.kind !== 'stats') throw new Error(`worker ${r.rank}: expected statistics, got '${m.kind}'`);
        return m.stats;
      })),
    ]);
    const error = settled.find((x): x is PromiseRejectedResult => x.status === 'rejected');
    if (error) throw error.reason;
  } finally {
    net.dispose();
    await close();
  }
  return out;
}
