// pnpm test:mutation [--survivors] [group...]: runs StrykerJS once per group of
// test/mutation-targets.json (all groups when none is named), at lowered priority, then writes
// results/mutation/README.md from every group's report found on disk.
// --survivors re-tests only the lines that hold a surviving mutant of the group's last full report
// and updates those mutants in it (tests were added since; the mutated source must be unchanged).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const { groups, reportPath } = (await import(`${root}stryker.config.mjs`)) as { groups: Record<string, unknown>; reportPath(g: string): string };

interface Mutant { mutatorName: string; replacement?: string; status: string; location: { start: { line: number; column: number }; end: { line: number; column: number } } }
type Report = { files: Record<string, { source: string; mutants: Mutant[] }> };

const args = process.argv.slice(2);
const survivorsOnly = args.includes('--survivors');
const asked = args.filter((a) => a !== '--survivors');
for (const g of asked) {
  if (!groups[g]) {
    console.error(`test:mutation: unknown group '${g}' — expected one of ${Object.keys(groups).join(', ')} (test/mutation-targets.json)`);
    process.exit(1);
  }
}

const key = (m: Mutant) => JSON.stringify([m.mutatorName, m.replacement, m.location]);
const alive = (m: Mutant) => m.status === 'Survived' || m.status === 'NoCoverage';

function stryker(group: string, env: Record<string, string>): boolean {
  const r = spawnSync('nice', ['-n', '5', `${root}node_modules/.bin/stryker`, 'run', 'stryker.config.mjs'], {
    cwd: root, stdio: 'inherit', env: { ...process.env, MUTATION_GROUP: group, ...env },
  });
  if (r.status !== 0) console.error(`test:mutation: Stryker failed on group ${group} (exit ${r.status ?? r.signal})`);
  return r.status === 0;
}

/** Re-runs the lines holding survivors; returns false when there is no full report to update. */
function recheck(group: string): boolean {
  const full = `${root}${reportPath(group)}`;
  if (!existsSync(full)) {
    console.error(`test:mutation --survivors: group ${group} has no report yet (${reportPath(group)}) — run it in full first`);
    return false;
  }
  const report = JSON.parse(readFileSync(full, 'utf8')) as Report;
  const ranges: string[] = [];
  for (const [abs, f] of Object.entries(report.files)) {
    if (readFileSync(abs, 'utf8') !== f.source) {
      console.error(`test:mutation --survivors: ${relative(root, abs)} changed since its report — run group ${group} in full`);
      return false;
    }
    const spans = new Set(f.mutants.filter(alive).map((m) => `${m.location.start.line}-${m.location.end.line}`));
    for (const span of spans) ranges.push(`${relative(root, abs)}:${span}`);
  }
  if (!ranges.length) {
    console.log(`group ${group}: no survivors to re-test`);
    return true;
  }
  const partial = `${full}.survivors`;
  rmSync(partial, { force: true });
  if (!stryker(group, { MUTATION_RANGES: JSON.stringify(ranges), MUTATION_REPORT: `${reportPath(group)}.survivors` })) return false;
  const again = new Map<string, Mutant>();
  for (const f of Object.values((JSON.parse(readFileSync(partial, 'utf8')) as Report).files)) for (const m of f.mutants) again.set(key(m), m);
  let updated = 0;
  for (const f of Object.values(report.files)) {
    f.mutants = f.mutants.map((m) => {
      const n = again.get(key(m));
      if (!n || !alive(m)) return m;
      updated++;
      return { ...n, id: (m as unknown as { id: string }).id } as Mutant;
    });
  }
  writeFileSync(full, JSON.stringify(report));
  rmSync(partial, { force: true });
  console.log(`group ${group}: ${updated} surviving mutant(s) re-tested`);
  return true;
}

let failed = 0;
for (const group of asked.length ? asked : Object.keys(groups)) {
  console.log(`\n== mutation group ${group}${survivorsOnly ? ' (survivors only)' : ''}`);
  if (!(survivorsOnly ? recheck(group) : stryker(group, {}))) failed++;
}
const s = spawnSync(process.execPath, ['--import', 'tsx', `${root}test/mutation-summary.ts`], { cwd: root, stdio: 'inherit' });
process.exit(failed || s.status ? 1 : 0);
