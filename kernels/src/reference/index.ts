// Plain scalar TypeScript references of every kernel. The testers compare each build to these
// with exact equality; nothing here is tuned for speed.
export * from './quantize.ts';
export * from './gemm.ts';
export * from './epilogue.ts';
export * from './pack.ts';
export * from './im2col.ts';
export * from './conv.ts';
