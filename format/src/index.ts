export * from './quant.ts';
export * from './pack.ts';
export * from './model.ts';
