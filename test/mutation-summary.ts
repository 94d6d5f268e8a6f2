// Writes results/mutation/README.md from the Stryker JSON report of every group in
// test/mutation-targets.json: the command, the score per file and every surviving mutant, each with
// the reason recorded in test/mutation-equivalent.json (keyed "file:line:mutator:replacement") or
// marked UNEXPLAINED. A group whose report is missing is listed as not run.
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { cpus, loadavg } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
interface Mutant { mutatorName: string; replacement?: string; status: string; location: { start: { line: number } } }
type Report = { files: Record<string, { source: string; mutants: Mutant[] }> };
const reasons = JSON.parse(readFileSync(`${root}test/mutation-equivalent.json`, 'utf8')) as Record<string, string>;
const config = (await import(`${root}stryker.config.mjs`)) as {
  groups: Record<string, { mutate: string[]; tests: string[]; runner?: string }>; reportPath(g: string): string; groupCommand(g: string): string;
};

/** A table cell of code: pipes escaped, one line, and a double-backtick span when the code holds a backtick. */
const code = (text: string) => {
  const t = text.replace(/\|/g, '\\|').replace(/\s*\n\s*/g, ' ');
  return t.includes('`') ? `\`\` ${t} \`\`` : `\`${t}\``;
};

const rows: string[] = [];
const survivors: string[] = [];
const commands: string[] = [];
const missing: string[] = [];
const used = new Set<string>();
let unexplained = 0;
let [allTotal, allKilled] = [0, 0];
for (const group of Object.keys(config.groups)) {
  const path = `${root}${config.reportPath(group)}`;
  if (!existsSync(path)) {
    missing.push(group);
    continue;
  }
  const when = statSync(path).mtime.toISOString().slice(0, 16).replace('T', ' ');
  const g = config.groups[group];
  const runs = g.runner === 'command' ? `\`${config.groupCommand(group)}\` (a process per mutant)` : `${g.tests.map((f) => `\`${f}\``).join(', ')} (uvu runner, one process)`;
  commands.push(`| ${group} | ${g.mutate.map((f) => `\`${f}\``).join(', ')} | ${runs} | ${when} |`);
  const report = JSON.parse(readFileSync(path, 'utf8')) as Report;
  for (const [abs, f] of Object.entries(report.files)) {
    const file = relative(root, abs);
    const count = (s: string[]) => f.mutants.filter((m) => s.includes(m.status)).length;
    const killed = count(['Killed', 'Timeout']);
    const total = f.mutants.filter((m) => m.status !== 'Ignored' && m.status !== 'CompileError').length;
    allTotal += total;
    allKilled += killed;
    rows.push(`| \`${file}\` | ${total} | ${killed} | ${count(['Survived', 'NoCoverage'])} | ${((100 * killed) / total).toFixed(1)} % |`);
    const src = f.source.split('\n');
    for (const m of f.mutants.filter((x) => x.status === 'Survived' || x.status === 'NoCoverage')) {
      const line = m.location.start.line;
      const key = `${file}:${line}:${m.mutatorName}:${m.replacement ?? ''}`;
      const reason = reasons[key];
      if (reason) used.add(key);
      else unexplained++;
      survivors.push(`| \`${file}:${line}\` | ${m.mutatorName} | ${code(m.replacement ?? '')} | ${code(src[line - 1].trim())} | ${reason ?? '**UNEXPLAINED**'} |`);
    }
  }
}
const lines: string[] = ['# Mutation testing report', ''];
lines.push(`Command: \`pnpm test:mutation\` (all groups) or \`pnpm test:mutation GROUP...\` (StrykerJS, \`stryker.config.mjs\`, groups in \`test/mutation-targets.json\`; `
  + `\`--survivors\` re-tests only the surviving mutants of a group's last report after tests were added); `
  + `summary written ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} CPUs (load ${loadavg().map((x) => x.toFixed(1)).join('/')}).`, '');
lines.push('A mutant is killed when a test fails with it switched on, or when its run exceeds 1.5 × the unmutated run + 5 s (an endless loop); '
  + 'it survives when every test still passes. Each survivor below is either equivalent (no input tells it apart from the source), or unreachable '
  + 'defensive code, with the reason recorded in `test/mutation-equivalent.json`. Groups run one at a time (files are mutated in place).', '');
lines.push('Each group mutates its files one mutant at a time and runs only its own test files, in order, stopping at the first failing suite:', '');
lines.push('| group | mutated | each mutant runs | report written (UTC) |', '|---|---|---|---|', ...commands, '');
if (missing.length) lines.push(`Not run (no report on disk): ${missing.join(', ')}.`, '');
lines.push('| file | mutants | killed (incl. time-outs) | survived | score |', '|------|--------:|--------:|--------:|------:|', ...rows);
lines.push(`| all | ${allTotal} | ${allKilled} | ${allTotal - allKilled} | ${allTotal ? ((100 * allKilled) / allTotal).toFixed(1) : '0.0'} % |`, '');
lines.push(`## Surviving mutants (${survivors.length}, ${unexplained} unexplained)`, '');
if (survivors.length) lines.push('| where | mutator | replacement | original line | why it survives |', '|---|---|---|---|---|', ...survivors);
writeFileSync(`${root}results/mutation/README.md`, lines.join('\n') + '\n');
const stale = Object.keys(reasons).filter((k) => !used.has(k) && !missing.some((g) => config.groups[g].mutate.some((f) => k.startsWith(`${f}:`))));
console.log(`results/mutation/README.md: ${survivors.length} survivors, ${unexplained} unexplained`);
if (stale.length) console.log(`test/mutation-equivalent.json: ${stale.length} reason(s) match no surviving mutant:\n  ${stale.join('\n  ')}`);
