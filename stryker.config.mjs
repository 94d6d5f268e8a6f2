// Mutation testing, on demand (`pnpm test:mutation`; too slow for every CI run). StrykerJS mutates
// the files below one mutant at a time and runs the command; a mutant is killed when the command
// fails. The command is test/run.ts on the test files whose job it is to check these files, one
// file at a time. Report: results/mutation/ (README.md summarises the last run).
export default {
  testRunner: 'command',
  commandRunner: { command: 'env TEST_JOBS=1 node --import tsx test/run.ts format/test/quant.test.ts format/test/pack.test.ts test/eq4.test.ts search/test/roulette.test.ts' },
  mutate: ['format/src/quant.ts', 'format/src/pack.ts', 'search/src/roulette.ts'],
  // pnpm's per-package node_modules links do not survive Stryker's sandbox copy, so mutate in place
  // (Stryker restores every file afterwards; check `git status` if a run is interrupted).
  inPlace: true,
  concurrency: 1,
  coverageAnalysis: 'off',
  timeoutMS: 60000,
  reporters: ['clear-text', 'json', 'html'],
  jsonReporter: { fileName: 'results/mutation/mutation.json' },
  htmlReporter: { fileName: 'results/mutation/mutation.html' },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
