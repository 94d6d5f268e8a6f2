// Worker threads shared by the data-parallel trainer and the Hessian probe pool: how many, how
// they are started (TypeScript sources through tsx's loader) and one request at a time to each.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

/** Worker threads for training: --workers N, default every core. */
export function workerCount(flag: string | undefined): number {
  if (flag === undefined) return availableParallelism();
  const n = Number(flag);
  if (!Number.isInteger(n) || n < 1 || n > 256) throw new RangeError(`--workers: expected an integer in 1..256, got ${JSON.stringify(flag)}`);
  return n;
}

export class WorkerDiedError extends Error {
  constructor(message: string) { super(message); this.name = 'WorkerDiedError'; }
}

interface Pending<R> { resolve: (r: R) => void; reject: (e: Error) => void }

/** One worker thread and its single outstanding request; replies of kind 'error' reject it. */
export class Rank<Q, R extends { kind: string }> {
  pending?: Pending<R>;
  dead?: string;
  constructor(readonly rank: number, readonly worker: Worker) {
    const thread = worker.threadId; // -1 once the thread has exited
    worker.on('message', (m: R & { message?: string }) => {
      const p = this.pending;
      this.pending = undefined;
      if (!p) return;
      if (m.kind === 'error') p.reject(new WorkerDiedError(`worker ${rank} (thread ${thread}) failed: ${m.message}`));
      else p.resolve(m);
    });
    const die = (why: string) => {
      this.dead ??= `worker ${rank} (thread ${thread}) ${why}`;
      const p = this.pending;
      this.pending = undefined;
      p?.reject(new WorkerDiedError(this.dead));
    };
    worker.on('error', (e) => die(`crashed: ${e.message}`));
    worker.on('exit', (code) => die(`exited with code ${code}`));
  }

  /** Sends `msg` (null: only waits, e.g. for 'ready') and resolves with the next reply. */
  request(msg: Q | null): Promise<R> {
    if (this.dead) return Promise.reject(new WorkerDiedError(this.dead));
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      if (msg) this.worker.postMessage(msg);
    });
  }
}

/** Waits for every rank's first reply ('ready'); when one fails, runs `close` and rethrows. */
export async function whenReady<Q, R extends { kind: string }>(ranks: readonly Rank<Q, R>[], close: () => Promise<void>): Promise<void> {
  try {
    await Promise.all(ranks.map((r) => r.request(null)));
  } catch (e) {
    await close();
    throw e;
  }
}

/** A worker thread running `url`; TypeScript sources go through tsx's loader, registered in the thread. */
export function spawnWorker(url: URL, init: unknown): Worker {
  if (!url.pathname.endsWith('.ts')) return new Worker(url, { workerData: init });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData: init });
}

/**
 * The module `name` in the folder of the module at `base` (pass `import.meta.url`), as TypeScript
 * source or as compiled JavaScript, whichever `base` is.
 */
export function moduleUrl(name: string, base: string): URL {
  return new URL(`./${name}${base.endsWith('.ts') ? '.ts' : '.js'}`, base);
}
