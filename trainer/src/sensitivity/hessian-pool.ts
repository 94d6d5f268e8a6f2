// Hutchinson probes on every core. Probe i depends only on the options and i (hessian.ts), so
// worker threads compute probes of the same run in any order; rank 0 adds the samples in probe
// order and stops at exactly the probe a single thread would stop at, so the estimate is the
// same for any worker count.
import type { Model } from '@bitswitch/format';
import { hutchinsonSamples, traceInRounds, type HutchinsonOptions, type HutchinsonResult } from './hessian.ts';
import { Rank, moduleUrl, spawnWorker, whenReady } from '../parallel/threads.ts';

/** What a probe worker needs to rebuild the same target and batches as rank 0. */
export interface ProbeWorkerInit {
  backend: string;
  model: Model;
  data: string;
  images: number;
  batch: number;
  seed: number;
  probeData: HutchinsonOptions<unknown>['probeData'];
}

export type ProbeRequest = { kind: 'probes'; from: number; count: number };
export type ProbeReply = { kind: 'ready' } | { kind: 'probes'; samples: Float64Array[] } | { kind: 'error'; message: string };

/** Worker threads that compute Hutchinson probes of one model (rank 0, the caller, computes too). */
export class ProbePool {
  private constructor(private readonly ranks: Rank<ProbeRequest, ProbeReply>[]) {}

  /** Starts `workers − 1` threads (each loads the backend, the model and the batches). */
  static async start(workers: number, init: ProbeWorkerInit): Promise<ProbePool> {
    const url = moduleUrl('hessian-worker', import.meta.url);
    const pool = new ProbePool(Array.from({ length: workers - 1 }, (_, k) => new Rank<ProbeRequest, ProbeReply>(k + 1, spawnWorker(url, init))));
    await whenReady(pool.ranks, () => pool.close());
    return pool;
  }

  get size(): number { return this.ranks.length + 1; }

  /** Probes from … from + count·size − 1: rank k takes from + k·count … (k + 1)·count − 1. */
  async probes<B>(opts: HutchinsonOptions<B>, from: number, count: number): Promise<Float64Array[]> {
    const replies = this.ranks.map((r, k) => r.request({ kind: 'probes', from: from + (k + 1) * count, count }));
    const own = await hutchinsonSamples(opts, from, count);
    const rest = await Promise.all(replies);
    return [...own, ...rest.flatMap((r) => (r.kind === 'probes' ? r.samples : []))];
  }

  async close(): Promise<void> {
    await Promise.all(this.ranks.map((r) => r.worker.terminate()));
  }
}

/**
 * hutchinsonTrace with the probes computed in rounds across `pool` (each rank a share of up to
 * one cycle); traceInRounds adds them in probe order with the same stop, so the result is
 * hutchinsonTrace's.
 */
export function hutchinsonTraceOnPool<B>(opts: HutchinsonOptions<B>, pool: ProbePool): Promise<HutchinsonResult> {
  return traceInRounds(opts, (from, left, cycle) => pool.probes(opts, from, Math.max(1, Math.ceil(Math.min(cycle, left) / pool.size))));
}
