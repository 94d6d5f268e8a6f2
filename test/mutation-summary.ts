// Writes results/mutation/README.md from Stryker's JSON report: the command, the score per file and
// every surviving mutant, each with the reason recorded in test/mutation-equivalent.json (keyed
// "file:line:mutator:replacement") or marked UNEXPLAINED.
import { readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { cpus, loadavg } from 'node:os';

const root = new URL('..', import.meta.url).pathname;
interface Mutant { mutatorName: string; replacement?: string; status: string; location: { start: { line: number } } }
const report = JSON.parse(readFileSync(`${root}results/mutation/mutation.json`, 'utf8')) as { files: Record<string, { source: string; mutants: Mutant[] }> };
const reasons = JSON.parse(readFileSync(`${root}test/mutation-equivalent.json`, 'utf8')) as Record<string, string>;
const config = (await import(`${root}stryker.config.mjs`)).default as { commandRunner: { command: string }; mutate: string[] };

const lines: string[] = [];
const rows: string[] = [];
const survivors: string[] = [];
let unexplained = 0;
for (const [abs, f] of Object.entries(report.files)) {
  const file = relative(root, abs);
  const count = (s: string[]) => f.mutants.filter((m) => s.includes(m.status)).length;
  const killed = count(['Killed', 'Timeout']);
  const total = f.mutants.filter((m) => m.status !== 'Ignored' && m.status !== 'CompileError').length;
  rows.push(`| \`${file}\` | ${total} | ${killed} | ${count(['Survived', 'NoCoverage'])} | ${((100 * killed) / total).toFixed(1)} % |`);
  const src = f.source.split('\n');
  for (const m of f.mutants.filter((x) => x.status === 'Survived' || x.status === 'NoCoverage')) {
    const line = m.location.start.line;
    const key = `${file}:${line}:${m.mutatorName}:${m.replacement ?? ''}`;
    const reason = reasons[key];
    if (!reason) unexplained++;
    survivors.push(`| \`${file}:${line}\` | ${m.mutatorName} | \`${(m.replacement ?? '').replace(/\|/g, '\\|').replace(/\n/g, ' ')}\` | \`${src[line - 1].trim().replace(/\|/g, '\\|')}\` | ${reason ?? '**UNEXPLAINED**'} |`);
  }
}
lines.push('# Mutation testing report', '');
lines.push(`Command: \`pnpm test:mutation\` (StrykerJS, \`stryker.config.mjs\`); report written ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC on ${cpus().length} CPUs (load ${loadavg().map((x) => x.toFixed(1)).join('/')}).`);
lines.push(`Mutated: ${config.mutate.map((f) => `\`${f}\``).join(', ')}. Each mutant runs: \`${config.commandRunner.command}\`.`, '');
lines.push('| file | mutants | killed (incl. time-outs) | survived | score |', '|------|--------:|--------:|--------:|------:|', ...rows, '');
lines.push(`## Surviving mutants (${survivors.length}, ${unexplained} unexplained)`, '');
if (survivors.length) lines.push('| where | mutator | replacement | original line | why it survives |', '|---|---|---|---|---|', ...survivors);
writeFileSync(`${root}results/mutation/README.md`, lines.join('\n') + '\n');
console.log(`results/mutation/README.md: ${survivors.length} survivors, ${unexplained} unexplained`);
