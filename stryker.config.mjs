// Mutation testing, on demand (`pnpm test:mutation`; too slow for every CI run). StrykerJS mutates
// the files below one mutant at a time and runs the command; a mutant is killed when the command
// fails. The command runs the test files whose job it is to check these files, each in its own
// Node process as test/run.ts would, chained directly to save the runner's own start per mutant.
// Report: results/mutation/README.md (score per file, survivors with the reasons in
// test/mutation-equivalent.json), written by test/mutation-summary.ts after the run.
export default {
  testRunner: 'command',
  commandRunner: {
    command: ['format/test/quant.test.ts', 'format/test/pack.test.ts', 'trainer/test/roulette.test.ts']
      .map((f) => `node --import tsx ${f}`).join(' && '),
  },
  mutate: ['format/src/quant.ts', 'format/src/pack.ts', 'trainer/src/math/roulette.ts'],
  // pnpm's per-package node_modules links do not survive Stryker's sandbox copy, so mutate in place
  // (Stryker restores every file afterwards; check `git status` if a run is interrupted).
  inPlace: true,
  // in place, this would add `// @ts-nocheck` to every source file of the workspace during the run
  disableTypeChecks: false,
  concurrency: 1,
  coverageAnalysis: 'off',
  timeoutMS: 10000,
  reporters: ['clear-text', 'json'],
  jsonReporter: { fileName: 'results/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false },
  tempDirName: '.stryker-tmp',
  cleanTempDir: true,
};
