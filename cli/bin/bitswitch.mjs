#!/usr/bin/env node
// The bitswitch command. Sources are TypeScript, run through tsx's loader.
import v8 from 'node:v8';
import { register } from 'tsx/esm/api';

// Node 20 keeps relaxed SIMD behind a flag; the kernels' best build needs it (browsers have it on).
v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
register();
await import('../src/main.ts');
