// Runs every *.test.ts under the workspace packages, each file in its own Node process (uvu runs
// per process), and ends with one line `N passed, M failed[, K skipped]` counted by uvu itself.
// Arguments: substrings that select test files by path, or paths of files to run as they are.
// BITSWITCH_TEST_TIMEOUT: per-file limit in seconds (default 600). TEST_JOBS: parallel files (≤ 4).
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { cpus } from 'node:os';
import { repoRoot, runFiles, summaryLine, timeoutFromEnv, type FileResult } from './runner.ts';

const PACKAGES = ['format', 'kernels', 'trainer', 'runtime', 'search', 'cli', 'onnx', 'test'];

function findTests(dir: string, out: string[]): string[] {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (entry.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

let timeoutSeconds: number;
let jobs: number;
try {
  timeoutSeconds = timeoutFromEnv();
  const rawJobs = process.env.TEST_JOBS;
  jobs = rawJobs === undefined || rawJobs === '' ? cpus().length : Number(rawJobs);
  if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`TEST_JOBS: expected a whole number ≥ 1, got '${rawJobs}'`);
  jobs = Math.min(jobs, 4);
} catch (e) {
  console.error(`test/run.ts: ${(e as Error).message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
const explicit = args.filter((a) => a.endsWith('.ts') && existsSync(resolve(a)) && statSync(resolve(a)).isFile()).map((a) => resolve(a));
const filters = args.filter((a) => !explicit.includes(resolve(a)));
let files = filters.length || !explicit.length ? PACKAGES.flatMap((p) => findTests(join(repoRoot, p), [])).sort() : [];
if (filters.length) files = files.filter((f) => filters.some((s) => relative(repoRoot, f).includes(s)));
files = [...new Set([...files, ...explicit])];
if (files.length === 0) {
  console.log(`no test files found${filters.length ? ` matching ${filters.join(', ')}` : ''}: a run that runs nothing fails`);
  process.exit(1);
}

const line = (r: FileResult) => {
  const tag = r.status === 'ok' ? 'ok  ' : 'FAIL';
  const counts = `${r.passed} passed, ${r.failed} failed` + (r.skipped ? `, ${r.skipped} skipped` : '');
  return `${tag} ${relative(repoRoot, r.file)}  (${counts}, ${(r.ms / 1000).toFixed(1)}s)` + (r.reason ? ` — ${r.status}: ${r.reason}` : '');
};
const results = await runFiles(files, {
  timeoutSeconds, jobs,
  onResult: (r) => {
    console.log(line(r));
    if (r.status !== 'ok') console.log(r.output.split('\n').map((l) => '    ' + l).join('\n'));
  },
});
const bad = results.filter((r) => r.status !== 'ok');
if (bad.length) console.log(`\nfailed files:\n${bad.map((r) => `  ${relative(repoRoot, r.file)} (${r.status})`).join('\n')}`);
console.log(`\n${summaryLine(results)}`);
process.exit(bad.length ? 1 : 0);
