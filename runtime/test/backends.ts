// The integer backends every runtime test runs against (one row per backend).
import type { IntBackend } from '../src/backend.ts';
import { createTsBackend } from '../src/backend-ts.ts';

export const BACKENDS: { name: string; create(): IntBackend | Promise<IntBackend> }[] = [
  { name: 'ts-scalar', create: createTsBackend },
];
