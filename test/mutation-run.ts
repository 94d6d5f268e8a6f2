// pnpm test:mutation [group...]: runs StrykerJS once per group of test/mutation-targets.json (all
// groups when none is named), at lowered priority, then writes results/mutation/README.md from
// every group's report found on disk.
import { spawnSync } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const { groups } = (await import(`${root}stryker.config.mjs`)) as { groups: Record<string, unknown> };

const asked = process.argv.slice(2);
for (const g of asked) {
  if (!groups[g]) {
    console.error(`test:mutation: unknown group '${g}' — expected one of ${Object.keys(groups).join(', ')} (test/mutation-targets.json)`);
    process.exit(1);
  }
}
let failed = 0;
for (const group of asked.length ? asked : Object.keys(groups)) {
  console.log(`\n== mutation group ${group}`);
  const r = spawnSync('nice', ['-n', '5', `${root}node_modules/.bin/stryker`, 'run', 'stryker.config.mjs'], {
    cwd: root, stdio: 'inherit', env: { ...process.env, MUTATION_GROUP: group },
  });
  if (r.status !== 0) {
    console.error(`test:mutation: Stryker failed on group ${group} (exit ${r.status ?? r.signal})`);
    failed++;
  }
}
const s = spawnSync(process.execPath, ['--import', 'tsx', `${root}test/mutation-summary.ts`], { cwd: root, stdio: 'inherit' });
process.exit(failed || s.status ? 1 : 0);
