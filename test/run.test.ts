// The test runner's self-test: each fixture file misbehaves in one way, and the runner must count
// it from uvu's own results — failures, crashes, time-outs and empty files as failed, skips apart.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot, runFile, summaryLine, timeoutFromEnv, type FileResult } from './runner.ts';

const fixture = (name: string) => join(repoRoot, 'test/fixtures/runner', `${name}.fixture.ts`);
const counts = (r: FileResult) => ({ status: r.status, passed: r.passed, failed: r.failed, skipped: r.skipped });

const CASES: [string, ReturnType<typeof counts>][] = [
  ['pass', { status: 'ok', passed: 2, failed: 0, skipped: 0 }],
  ['fail', { status: 'failed', passed: 1, failed: 1, skipped: 0 }],
  ['skip', { status: 'ok', passed: 1, failed: 0, skipped: 1 }],
  ['empty', { status: 'empty', passed: 0, failed: 1, skipped: 0 }],
  ['only-skips', { status: 'empty', passed: 0, failed: 1, skipped: 1 }],
  ['crash', { status: 'crashed', passed: 0, failed: 1, skipped: 0 }],
  ['exit', { status: 'crashed', passed: 0, failed: 1, skipped: 0 }],
  ['late-crash', { status: 'crashed', passed: 1, failed: 1, skipped: 0 }],
  ['hook', { status: 'failed', passed: 0, failed: 2, skipped: 0 }],
];

for (const [name, want] of CASES) {
  test(`${name}.fixture.ts is counted ${JSON.stringify(want)}`, async () => {
    const r = await runFile(fixture(name), 60);
    assert.equal(counts(r), want, r.output);
    assert.is(r.reason !== undefined, ['empty', 'crashed', 'timed out'].includes(want.status), `reason: ${r.reason}`);
  });
}

test('a file that runs past its limit is killed and counted as one failure', async () => {
  const t0 = Date.now();
  const r = await runFile(fixture('hang'), 2);
  assert.equal(counts(r), { status: 'timed out', passed: 0, failed: 1, skipped: 0 });
  assert.match(r.reason!, /per-file limit of 2 s/);
  assert.ok(Date.now() - t0 < 30_000, `took ${Date.now() - t0} ms`);
});

test('a skip never cancels a failure, and skips are reported apart', async () => {
  const rs = [await runFile(fixture('fail'), 60), await runFile(fixture('skip'), 60)];
  assert.is(summaryLine(rs), '2 passed, 1 failed, 1 skipped');
  assert.is(summaryLine([rs[1]]), '1 passed, 0 failed, 1 skipped');
  assert.is(summaryLine([await runFile(fixture('pass'), 60)]), '2 passed, 0 failed');
});

test('BITSWITCH_TEST_TIMEOUT: default 600 s, bad values named in one line', () => {
  assert.is(timeoutFromEnv({}), 600);
  assert.is(timeoutFromEnv({ BITSWITCH_TEST_TIMEOUT: '2.5' }), 2.5);
  for (const bad of ['0', '-1', 'soon']) {
    assert.throws(() => timeoutFromEnv({ BITSWITCH_TEST_TIMEOUT: bad }), (e: Error) => e.message === `BITSWITCH_TEST_TIMEOUT: expected a number of seconds > 0, got '${bad}'`);
  }
});

const cli = (args: string[], env: Record<string, string> = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', join(repoRoot, 'test/run.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', env: { ...process.env, TEST_JOBS: '2', ...env } });

test('the command ends with the summary alone on its last line, and its exit code says whether anything failed', () => {
  const ok = cli([fixture('pass'), fixture('skip')]);
  assert.is(ok.status, 0, ok.stdout + ok.stderr);
  assert.is(ok.stdout.trimEnd().split('\n').at(-1), '3 passed, 0 failed, 1 skipped');

  // a limit that only the hanging file reaches: on a loaded machine tsx alone can take seconds to
  // start a file, and a crash seen as a time-out would be miscounted
  const bad = cli(['fail', 'skip', 'empty', 'crash', 'hang'].map(fixture), { BITSWITCH_TEST_TIMEOUT: '15' });
  assert.is(bad.status, 1, bad.stdout + bad.stderr);
  const lines = bad.stdout.trimEnd().split('\n');
  assert.is(lines.at(-1), '2 passed, 4 failed, 1 skipped');
  for (const f of ['fail (failed)', 'empty (empty)', 'crash (crashed)', 'hang (timed out)']) {
    assert.ok(lines.some((l) => l.trim() === `test/fixtures/runner/${f.replace(' ', '.fixture.ts ')}`), `no failed-files line for ${f}`);
  }

  const badEnv = cli([fixture('pass')], { BITSWITCH_TEST_TIMEOUT: 'x' });
  assert.is(badEnv.status, 1);
  assert.is(badEnv.stderr.trim(), "test/run.ts: BITSWITCH_TEST_TIMEOUT: expected a number of seconds > 0, got 'x'");
});

test.run();
