export * from './sensitivity.ts';
export * from './ilp.ts';
export * from './budget.ts';
export * from './space.ts';
export * from './sweep.ts';
export * from './pareto.ts';
export * from './evaluate.ts';
