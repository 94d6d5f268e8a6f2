// Runs one uvu test file and records uvu's own counts, suite by suite, as JSON lines in a result file.
// Usage: node --import tsx test/uvu-child.ts FILE RESULT_FILE
// With UVU_DEFER set before uvu loads, `test.run()` only queues its suite (as under uvu's own CLI);
// this script then calls each queued runner, which returns [errors, passed, skipped, total].
import { appendFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

type SuiteRunner = () => Promise<[string | true, number, number, number]>;
const g = globalThis as unknown as { UVU_DEFER: number; UVU_QUEUE: (string | null | SuiteRunner)[][]; UVU_INDEX: number };

const [file, resultFile] = process.argv.slice(2);
if (!file || !resultFile) {
  console.error('uvu-child: expected arguments FILE RESULT_FILE');
  process.exit(2);
}
writeFileSync(resultFile, '');
g.UVU_DEFER = 1;
g.UVU_QUEUE = [[null]];
g.UVU_INDEX = 0;

await import(pathToFileURL(resolve(file)).href);

const [, ...runners] = g.UVU_QUEUE[0] as [null, ...SuiteRunner[]];
let failed = 0;
for (const run of runners) {
  const [errors, passed, skipped, total] = await run();
  const suiteFailed = total - passed;
  failed += suiteFailed;
  if (typeof errors === 'string') process.stdout.write('\n' + errors + '\n');
  // uvu's runner swallows an error thrown by a before/after hook and reports only the counts.
  else if (suiteFailed > 0) process.stdout.write(`\n  ${suiteFailed} test(s) did not pass: a before/after hook threw\n`);
  appendFileSync(resultFile, JSON.stringify({ passed, failed: suiteFailed, skipped }) + '\n');
}
appendFileSync(resultFile, JSON.stringify({ done: true }) + '\n');
process.exitCode = failed ? 1 : 0;
