// Backend selection by name: 'kernels' (the wasm kernels package, best build) or 'ts-scalar'.
import type { IntBackend } from './backend.ts';
import { createTsBackend } from './backend-ts.ts';
import { createKernelsBackend } from './backend-kernels.ts';

export const BACKEND_NAMES = ['kernels', 'kernels-simd', 'kernels-scalar', 'ts-scalar'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

/** `threads` applies to the kernels backends (the TypeScript one runs on one thread). */
export function createBackend(name: BackendName = 'kernels', options: { threads?: number } = {}): IntBackend {
  const threads = options.threads;
  switch (name) {
    case 'kernels': return createKernelsBackend({ threads });
    case 'kernels-simd': return createKernelsBackend({ build: 'simd', threads });
    case 'kernels-scalar': return createKernelsBackend({ build: 'scalar', threads });
    case 'ts-scalar': return createTsBackend();
    default: throw new RangeError(`backend: expected one of ${BACKEND_NAMES.join(', ')}, got '${String(name)}'`);
  }
}
