// @bitswitch/trainer: multi-precision training with Double Rounding and ALRS, export to the format.
export * from './quantizers.ts';
export * from './alrs.ts';
export * from './models.ts';
export * from './network.ts';
export * from './data.ts';
export * from './rng.ts';
export * from './recipe.ts';
export * from './adam.ts';
export * from './checkpoint.ts';
export * from './train.ts';
export * from './export.ts';
export * from './reference-eval.ts';
export { useBackend } from './device.ts';
export { register, runDemo, trainCommand, evalCommand } from './cli.ts';
