// Loading a kernels build: the best one this engine validates (or the one asked for), on a private
// memory, or on a shared memory with worker threads for the GEMMs.
import { availableBuilds, buildBytes, checkBuild, sharedBuildBytes, type BuildName } from './builds.ts';
import type { Exports } from './exports.ts';
import { Kernels } from './kernels.ts';
import { threadsUnavailable } from './pool.ts';
import type { LoadOptions } from './types.ts';
import { checkInt } from './validate.ts';

function pickBuild(opts: LoadOptions): BuildName {
  if (opts.build !== undefined) {
    const b = checkBuild(opts.build);
    if (!WebAssembly.validate(buildBytes(b))) {
      throw new RangeError(`build: ${b} does not validate on this engine (available: ${availableBuilds().join(', ')})`);
    }
    return b;
  }
  const best = availableBuilds()[0];
  if (!best) throw new Error('kernels: no build validates on this engine');
  return best;
}

/** Pages of the shared memory: 16 at the start (as the single-thread builds), at most 1 GiB. */
const SHARED_PAGES = { initial: 16, maximum: 16384 };

/** The threads a load will run, and why fewer when they are. */
function threadPlan(opts: LoadOptions): { threads: number; note?: string } {
  const threads = checkInt('threads', opts.threads ?? 1, 1, 256);
  if (threads === 1) return { threads };
  const why = threadsUnavailable();
  return why ? { threads: 1, note: `1 thread instead of ${threads}: ${why}` } : { threads };
}

/** What a load needs: the build, its thread plan, its bytes (the shared twin for threads) and imports. */
function prepare(opts: LoadOptions): { build: BuildName; plan: { threads: number; note?: string }; shared: boolean; bytes: Uint8Array<ArrayBuffer>; imports: WebAssembly.Imports } {
  const build = pickBuild(opts);
  const plan = threadPlan(opts);
  const shared = plan.threads > 1;
  const imports: WebAssembly.Imports = shared ? { env: { memory: new WebAssembly.Memory({ ...SHARED_PAGES, shared: true }) } } : {};
  return { build, plan, shared, bytes: shared ? sharedBuildBytes(build) : buildBytes(build), imports };
}

function instantiate(p: ReturnType<typeof prepare>, module: WebAssembly.Module, instance: WebAssembly.Instance): Kernels {
  return new Kernels(p.build, instance.exports as unknown as Exports, p.shared ? { module, ...p.plan } : { module, threads: 1, note: p.plan.note });
}

/** Instantiates a build asynchronously (browsers' main thread need this). */
export async function loadKernels(opts: LoadOptions = {}): Promise<Kernels> {
  const p = prepare(opts);
  const module = await WebAssembly.compile(p.bytes);
  return instantiate(p, module, await WebAssembly.instantiate(module, p.imports));
}

/** Instantiates a build synchronously (Node, workers). */
export function createKernels(opts: LoadOptions = {}): Kernels {
  const p = prepare(opts);
  const module = new WebAssembly.Module(p.bytes);
  return instantiate(p, module, new WebAssembly.Instance(module, p.imports));
}
