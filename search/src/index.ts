export * from './roulette.ts';
