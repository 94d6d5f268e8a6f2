// A StrykerJS test runner for uvu files that stays in one Node process: the group's test files are
// imported once (with UVU_DEFER set, `test.run()` only queues a suite), and each mutant re-runs the
// queued suites with the mutant switched on through Stryker's global (mutation switching). Mutants
// that act while a module loads ("static") get a fresh process from Stryker, since imported ES
// modules cannot be reloaded. Suites must be re-runnable: the dry run runs them twice and fails
// when the second round does not pass (state left behind by one round would kill every mutant).
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

class UvuRunner {
  static inject = ['options'];

  constructor(options) {
    this.files = options.uvu?.files ?? [];
    this.suites = undefined;
  }

  capabilities() {
    return { reloadEnvironment: false };
  }

  async load() {
    if (this.suites) return;
    if (!this.files.length) throw new Error('uvu runner: expected test files in options.uvu.files');
    const g = globalThis;
    g.UVU_DEFER = 1;
    g.UVU_QUEUE = [];
    const suites = [];
    for (const [i, file] of this.files.entries()) {
      g.UVU_INDEX = i;
      g.UVU_QUEUE[i] = [null];
      await import(pathToFileURL(resolve(file)).href);
      const [, ...runners] = g.UVU_QUEUE[i];
      if (!runners.length) throw new Error(`uvu runner: ${file} queued no test suite`);
      suites.push(...runners.map((run) => ({ file, run })));
    }
    this.suites = suites;
  }

  /** Runs every suite in order; the failure text of the first failing one, or undefined. */
  async runAll() {
    for (const { file, run } of this.suites) {
      const [errors, passed, , total] = await run();
      if (typeof errors === 'string' || passed < total) return `${file}: ${total - passed} test(s) failed\n${typeof errors === 'string' ? errors : ''}`;
    }
    return undefined;
  }

  async dryRun() {
    // coverage: mutants reached while modules load are "static" (they need a fresh process), the
    // rest are switched at run time; mutants never reached are reported without running them
    const ns = (globalThis.__stryker__ ??= {});
    ns.mutantCoverage = { static: {}, perTest: {} };
    try {
      await this.load();
      const t0 = Date.now();
      ns.currentTestId = 'all';
      let failure = await this.runAll();
      if (!failure && (await this.runAll())) failure = 'the suites pass once but fail when run again in the same process (use the command runner for this group)';
      ns.currentTestId = undefined;
      const result = { id: 'all', name: this.files.join(' '), timeSpentMs: (Date.now() - t0) / 2 };
      return {
        status: 'complete', mutantCoverage: ns.mutantCoverage,
        tests: [failure ? { ...result, status: 1, failureMessage: failure } : { ...result, status: 0 }],
      };
    } catch (e) {
      return { status: 'error', errorMessage: String(e?.stack ?? e) };
    }
  }

  async mutantRun({ activeMutant, mutantActivation }) {
    const ns = (globalThis.__stryker__ ??= {});
    let failure;
    try {
      if (mutantActivation === 'static') ns.activeMutant = activeMutant.id;
      await this.load();
      ns.activeMutant = activeMutant.id;
      failure = await this.runAll();
    } catch (e) {
      failure = String(e?.stack ?? e);
    } finally {
      ns.activeMutant = undefined;
    }
    return failure ? { status: 'killed', killedBy: ['all'], failureMessage: failure, nrOfTests: 1 } : { status: 'survived', nrOfTests: 1 };
  }
}

export const strykerPlugins = [{ kind: 'TestRunner', name: 'uvu', injectableClass: UvuRunner }];
