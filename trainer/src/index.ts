// @bitswitch/trainer: multi-precision training with Double Rounding and ALRS, HASB SuperNet
// training, Hessian sensitivities, and export to the format.
export * from './quant/quantizers.ts';
export * from './quant/scale-init.ts';
export * from './nn/models.ts';
export * from './nn/network.ts';
export * from './nn/supernet.ts';
export * from './data/datasets.ts';
export * from './math/alrs.ts';
export * from './math/schedule.ts';
export * from './math/rng.ts';
export * from './math/adam.ts';
export * from './math/roulette.ts';
export * from './loops/recipe.ts';
export * from './loops/step.ts';
export * from './loops/train.ts';
export * from './loops/evaluate.ts';
export * from './loops/supernet-recipe.ts';
export * from './loops/supernet.ts';
export * from './io/checkpoint.ts';
export * from './io/export.ts';
export * from './io/import.ts';
export * from './io/multi-precision.ts';
export * from './io/fp32.ts';
export * from './sensitivity/hessian.ts';
export * from './sensitivity/target.ts';
export * from './sensitivity/estimate.ts';
export { initBackend, passedOver, BACKEND_PREFS, type BackendPref, type BackendChoice } from './tfjs/backend.ts';
export { workerCount, WorkerDiedError } from './parallel/threads.ts';
