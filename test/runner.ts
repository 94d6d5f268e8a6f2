// Runs uvu test files, each in its own Node process, and counts what uvu itself reports.
// A file fails as a whole (one failure) when it crashes, exceeds its time limit, or runs no test;
// skipped tests are counted apart and never subtracted from anything.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const CHILD = fileURLToPath(new URL('./uvu-child.ts', import.meta.url));
const RELAXED_SIMD = new URL('../scripts/relaxed-simd.mjs', import.meta.url).href;

export type FileStatus = 'ok' | 'failed' | 'crashed' | 'timed out' | 'empty';

export interface FileResult {
  file: string;
  status: FileStatus;
  /** Tests that passed / failed, as uvu counted them; a crashed, timed-out or empty file adds one failure. */
  passed: number;
  failed: number;
  skipped: number;
  /** Why the file failed as a whole (crash, time limit, no tests); absent otherwise. */
  reason?: string;
  output: string;
  ms: number;
}

/** Seconds from BITSWITCH_TEST_TIMEOUT (default 600); one line naming the variable on bad input. */
export function timeoutFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.BITSWITCH_TEST_TIMEOUT;
  if (raw === undefined || raw === '') return 600;
  const s = Number(raw);
  if (!Number.isFinite(s) || s <= 0) throw new Error(`BITSWITCH_TEST_TIMEOUT: expected a number of seconds > 0, got '${raw}'`);
  return s;
}

/** The package condition under which the workspace packages resolve to their TypeScript sources (README, "Use it as a library"). */
export const SOURCE_CONDITION = '--conditions=bitswitch-source';

/**
 * NODE_OPTIONS for a test process: the caller's plus SOURCE_CONDITION, so the file and every Node
 * process it starts (the bin, workers, tsx children) test the sources, built or not.
 */
export function sourceNodeOptions(env: NodeJS.ProcessEnv = process.env): string {
  const current = env.NODE_OPTIONS ?? '';
  return current.split(/\s+/).includes(SOURCE_CONDITION) ? current : `${current} ${SOURCE_CONDITION}`.trim();
}

interface SuiteLine { passed?: number; failed?: number; skipped?: number; done?: boolean }

/** Runs one file under uvu-child.ts with a wall-clock limit; the whole process group is killed when it runs over. */
export function runFile(file: string, timeoutSeconds: number): Promise<FileResult> {
  const t0 = Date.now();
  const dir = mkdtempSync(join(tmpdir(), 'bsw-test-'));
  const resultFile = join(dir, 'result.jsonl');
  return new Promise((resolve) => {
    // relaxed-simd.mjs turns on Node 20's relaxed-SIMD flag, which Node >= 22 rejects on the command line
    const child = spawn(process.execPath, ['--import', RELAXED_SIMD, '--import', 'tsx', CHILD, file, resultFile], {
      cwd: repoRoot, env: { ...process.env, FORCE_COLOR: '0', NODE_OPTIONS: sourceNodeOptions() }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try { process.kill(-child.pid!, 'SIGKILL'); } catch { child.kill('SIGKILL'); }
    }, timeoutSeconds * 1000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      let lines: SuiteLine[] = [];
      try {
        lines = readFileSync(resultFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as SuiteLine);
      } catch { /* no result file: the child died before uvu-child.ts started */ }
      rmSync(dir, { recursive: true, force: true });
      const sum = (k: 'passed' | 'failed' | 'skipped') => lines.reduce((s, l) => s + (l[k] ?? 0), 0);
      const r: FileResult = { file, status: 'ok', passed: sum('passed'), failed: sum('failed'), skipped: sum('skipped'), output, ms: Date.now() - t0 };
      const done = lines.some((l) => l.done);
      const exit = signal ? `signal ${signal}` : `exit code ${code}`;
      if (timedOut) {
        r.status = 'timed out';
        r.reason = `killed after the per-file limit of ${timeoutSeconds} s (BITSWITCH_TEST_TIMEOUT)`;
      } else if (!done) {
        r.status = 'crashed';
        r.reason = `ended (${exit}) before all its tests ran`;
      } else if (code !== 0 && r.failed === 0) {
        r.status = 'crashed';
        r.reason = `its tests passed but the process ended with ${exit}`;
      } else if (r.passed + r.failed === 0) {
        r.status = 'empty';
        r.reason = r.skipped ? `ran no test (${r.skipped} skipped)` : 'ran no test';
      } else if (r.failed > 0) {
        r.status = 'failed';
      }
      if (r.reason) r.failed += 1;
      resolve(r);
    });
  });
}

/** Runs files `jobs` at a time; onResult sees each as it finishes. Results come back in the order of `files`. */
export async function runFiles(files: string[], opts: { timeoutSeconds: number; jobs: number; onResult?: (r: FileResult) => void }): Promise<FileResult[]> {
  const results: FileResult[] = new Array(files.length);
  let next = 0;
  await Promise.all(Array.from({ length: Math.max(1, opts.jobs) }, async () => {
    while (next < files.length) {
      const i = next++;
      results[i] = await runFile(files[i], opts.timeoutSeconds);
      opts.onResult?.(results[i]);
    }
  }));
  return results;
}

/** The closing line: `N passed, M failed`, plus `, K skipped` when any were skipped. */
export function summaryLine(results: FileResult[]): string {
  const sum = (k: 'passed' | 'failed' | 'skipped') => results.reduce((s, r) => s + r[k], 0);
  const skipped = sum('skipped');
  return `${sum('passed')} passed, ${sum('failed')} failed` + (skipped ? `, ${skipped} skipped` : '');
}
