// Runs several uvu test files in one Node process and exits 1 at the first failing suite: the
// command StrykerJS runs once per mutant (one process start instead of one per file, and a killed
// mutant stops at its first failure). A file that queues no suite, or throws while loading, fails.
// Usage: node --import tsx test/mutation-exec.ts FILE...
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type SuiteRunner = () => Promise<[string | true, number, number, number]>;
const g = globalThis as unknown as { UVU_DEFER: number; UVU_QUEUE: (string | null | SuiteRunner)[][]; UVU_INDEX: number };

const files = process.argv.slice(2);
if (!files.length) {
  console.error('mutation-exec: expected at least one test file');
  process.exit(2);
}
g.UVU_DEFER = 1;
g.UVU_QUEUE = [];
for (const [i, file] of files.entries()) {
  g.UVU_INDEX = i;
  g.UVU_QUEUE[i] = [null];
  await import(pathToFileURL(resolve(file)).href);
  const [, ...runners] = g.UVU_QUEUE[i] as [null, ...SuiteRunner[]];
  if (!runners.length) {
    console.error(`mutation-exec: ${file} queued no test suite`);
    process.exit(1);
  }
  for (const run of runners) {
    const [errors, passed, , total] = await run();
    if (typeof errors === 'string' || passed < total) {
      process.stdout.write(`\n${file}: ${total - passed} test(s) failed\n${typeof errors === 'string' ? errors : ''}\n`);
      process.exit(1);
    }
  }
}
