// Backend selection by name: 'kernels' (the wasm kernels package, best build) or 'ts-scalar'.
import type { IntBackend } from './backend.ts';
import { createTsBackend } from './backend-ts.ts';
import { createKernelsBackend } from './backend-kernels.ts';

export const BACKEND_NAMES = ['kernels', 'kernels-simd', 'kernels-scalar', 'ts-scalar'] as const;
export type BackendName = (typeof BACKEND_NAMES)[number];

export function createBackend(name: BackendName = 'kernels'): IntBackend {
  switch (name) {
    case 'kernels': return createKernelsBackend();
    case 'kernels-simd': return createKernelsBackend({ build: 'simd' });
    case 'kernels-scalar': return createKernelsBackend({ build: 'scalar' });
    case 'ts-scalar': return createTsBackend();
    default: throw new RangeError(`backend: expected one of ${BACKEND_NAMES.join(', ')}, got '${String(name)}'`);
  }
}
