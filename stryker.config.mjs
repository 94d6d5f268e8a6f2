// Mutation testing, on demand (`pnpm test:mutation [group...]`; too slow for every CI run).
// StrykerJS mutates a group's files one mutant at a time and runs the group's test files; a mutant
// is killed when they fail. Groups (files to mutate, tests that check them) are listed once, in
// test/mutation-targets.json; test/mutation-run.ts runs Stryker once per group with MUTATION_GROUP
// set, and test/mutation-summary.ts merges the groups' reports into results/mutation/README.md
// (score per file, survivors with the reasons in test/mutation-equivalent.json).
// Run one group at a time: files are mutated in place and a mutant is switched on by one environment
// variable (__STRYKER_ACTIVE_MUTANT__), so a second run's instrumented file would be switched on by
// the first run's mutant ids in every test process that imports it.
import { readFileSync } from 'node:fs';

export const groups = JSON.parse(readFileSync(new URL('./test/mutation-targets.json', import.meta.url), 'utf8')).groups;

/** Stryker's JSON report of one group. */
export const reportPath = (group) => `results/mutation/${group}.json`;

/** The command each mutant of a group runs: the group's test files in one Node process, stopping at the first failure. */
export const groupCommand = (group) =>
  `node --import ./scripts/relaxed-simd.mjs --import tsx test/mutation-exec.ts ${groups[group].tests.join(' ')}`;

const group = process.env.MUTATION_GROUP;
if (group !== undefined && !groups[group]) {
  throw new Error(`MUTATION_GROUP: expected one of ${Object.keys(groups).join(', ')}, got '${group}' — see test/mutation-targets.json`);
}

// The uvu runner (test/mutation-uvu-runner.mjs) keeps one process for all mutants; a group whose
// suites cannot run twice in one process sets "runner": "command" (a process per mutant).
const inProcess = group !== undefined && groups[group].runner !== 'command';

export default group === undefined ? {} : {
  ...(inProcess ? {
    testRunner: 'uvu',
    plugins: ['./test/mutation-uvu-runner.mjs'],
    uvu: { files: groups[group].tests },
    testRunnerNodeArgs: ['--import', './scripts/relaxed-simd.mjs', '--import', 'tsx'],
    coverageAnalysis: 'all',
  } : {
    testRunner: 'command',
    commandRunner: { command: groupCommand(group) },
  }),
  // MUTATION_RANGES (set by `test:mutation --survivors`): only these "file:line-line" ranges
  mutate: process.env.MUTATION_RANGES ? JSON.parse(process.env.MUTATION_RANGES) : groups[group].mutate,
  // pnpm's per-package node_modules links do not survive Stryker's sandbox copy, so mutate in place
  // (Stryker restores every file afterwards; check `git status` if a run is interrupted).
  inPlace: true,
  // in place, this would add `// @ts-nocheck` to every source file of the workspace during the run
  disableTypeChecks: false,
  concurrency: 1,
  ...(inProcess ? {} : { coverageAnalysis: 'off' }),
  // a mutant that runs 1.5 × the dry run's time + 5 s counts as timed out (an endless loop: detected)
  timeoutMS: 5000,
  reporters: ['clear-text', 'json'],
  jsonReporter: { fileName: process.env.MUTATION_REPORT ?? reportPath(group) },
  clearTextReporter: { allowColor: false, logTests: false },
  warnings: { unknownOptions: false },
  tempDirName: `.stryker-tmp/${group}`,
  cleanTempDir: true,
};
