// Runs every *.test.ts under the workspace packages, each file in its own Node process
// (uvu runs per process), and ends with one "N passed, M failed" line with the real counts.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { cpus } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
const PACKAGES = ['format', 'kernels', 'trainer', 'runtime', 'search', 'cli', 'test'];

function findTests(dir: string, out: string[]): string[] {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue;
    const p = join(dir, entry);
    if (statSync(p).isDirectory()) findTests(p, out);
    else if (entry.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filter = process.argv.slice(2);
let files = PACKAGES.flatMap((p) => findTests(join(root, p), [])).sort();
if (filter.length) files = files.filter((f) => filter.some((s) => relative(root, f).includes(s)));

interface Result { file: string; passed: number; failed: number; skipped: number; code: number; output: string; ms: number }

function runOne(file: string): Promise<Result> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--experimental-wasm-relaxed-simd', '--import', 'tsx', file], {
      cwd: root, env: { ...process.env, FORCE_COLOR: '0' }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    child.on('close', (code) => {
      const num = (label: string) => {
        const m = [...output.matchAll(new RegExp(`${label}:\\s+(\\d+)`, 'g'))];
        return m.reduce((s, x) => s + Number(x[1]), 0);
      };
      const total = num('Total');
      const passed = num('Passed');
      const skipped = num('Skipped');
      let failed = total - passed - skipped;
      // A crash before uvu printed its summary is a failure of the whole file.
      if (code !== 0 && failed === 0) failed = 1;
      resolve({ file, passed, failed, skipped, code: code ?? 1, output, ms: Date.now() - t0 });
    });
  });
}

const jobs = Math.max(1, Math.min(Number(process.env.TEST_JOBS ?? cpus().length), 4));
const results: Result[] = [];
let next = 0;
await Promise.all(Array.from({ length: jobs }, async () => {
  while (next < files.length) {
    const f = files[next++];
    const r = await runOne(f);
    results.push(r);
    const tag = r.failed ? 'FAIL' : 'ok  ';
    console.log(`${tag} ${relative(root, f)}  (${r.passed} passed, ${r.failed} failed, ${(r.ms / 1000).toFixed(1)}s)`);
    if (r.failed) console.log(r.output.split('\n').map((l) => '    ' + l).join('\n'));
  }
}));
const passed = results.reduce((s, r) => s + r.passed, 0);
const failed = results.reduce((s, r) => s + r.failed, 0);
const skipped = results.reduce((s, r) => s + r.skipped, 0);
if (files.length === 0) { console.log('no test files found'); process.exit(1); }
console.log(`\n${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ''));
process.exit(failed ? 1 : 0);
