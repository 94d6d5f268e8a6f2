// The integer backends every runtime test runs against (one row per backend; each kernels build
// the engine validates gets its own row, so no fallback goes untested).
import { availableBuilds } from '@bitswitch/kernels';
import type { IntBackend } from '../src/backend.ts';
import { createTsBackend } from '../src/backend-ts.ts';
import { createKernelsBackend } from '../src/backend-kernels.ts';

export const BACKENDS: { name: string; create(): IntBackend }[] = [
  { name: 'ts-scalar', create: createTsBackend },
  ...availableBuilds().map((build) => ({ name: `kernels-${build}`, create: () => createKernelsBackend({ build }) })),
];
