// Provenance of reproduce stages: every time `pnpm reproduce` runs a stage's command (a segment:
// the first run or a --resume), one line goes to the stage's runs.jsonl with the commit, command,
// machine, Node version, backend, workers, wall time and exit code; results/REPORT.md sums them.
import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

export interface Segment {
  started: string;
  seconds: number;
  exit: number;
  /** HEAD when the segment started; "+changes" when tracked files outside results/, runs/ and models/ differed from it. */
  commit: string;
  command: string;
  machine: string;
  node: string;
  backend: string | null;
  workers: number | null;
}

/** The commit a segment runs, or "unknown" outside a git checkout. */
export function currentCommit(root: string): string {
  try {
    const head = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const changed = execFileSync('git', ['status', '--porcelain', '--untracked-files=no', '--', '.', ':!results', ':!runs', ':!models'], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return changed ? `${head}+changes` : head;
  } catch {
    return 'unknown';
  }
}

export function machine(): string {
  const c = cpus();
  return `${c.length}× ${c[0]?.model.trim() ?? 'unknown CPU'}, ${Math.round(totalmem() / 2 ** 30)} GiB`;
}

/** Backend and worker count from a command's output ("backend wasm; …", "…, 2 workers, …"). */
export function parseRunInfo(output: string): { backend: string | null; workers: number | null } {
  const backend = /\bbackend (\w[\w-]*)/.exec(output)?.[1] ?? null;
  const workers = /\b(\d+) workers?\b/.exec(output)?.[1];
  return { backend, workers: workers === undefined ? null : Number(workers) };
}

export function appendSegment(dir: string, s: Segment): void {
  appendFileSync(join(dir, 'runs.jsonl'), `${JSON.stringify(s)}\n`);
}

export function readSegments(file: string): Segment[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Segment);
}

const hours = (s: number) => `${(s / 3600).toFixed(1)} h`;
const distinct = (xs: string[]) => [...new Set(xs)].join(', ');

/** The report's table: one row per stage with segments (stages run before segments were logged are left out). */
export function segmentsTable(stages: { name: string }[], segmentsOf: (stage: string) => Segment[]): string[] {
  const rows = stages.flatMap((s) => {
    const segs = segmentsOf(s.name);
    if (!segs.length) return [];
    const wall = segs.reduce((a, x) => a + x.seconds, 0);
    const how = distinct(segs.map((x) => `${x.backend ?? '?'} × ${x.workers ?? '?'}`));
    return [`| ${s.name} | ${segs.length} | ${distinct(segs.map((x) => x.commit))} | ${distinct(segs.map((x) => `${x.machine}, Node ${x.node}`))} | ${how} | ${hours(wall)} | \`${segs[segs.length - 1]!.command}\` |`];
  });
  if (!rows.length) return ['No stage has run since segments are logged.'];
  return ['| stage | segments | commits | machine | backend × workers | wall time | command (last segment) |', '|---|---|---|---|---|---|---|', ...rows];
}
