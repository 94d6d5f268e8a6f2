// pnpm fuzz:format [--iterations N] [--seed S]: mutates and truncates valid files and checks that
// every input either parses or raises FormatError (no other exception, no hang, no blow-up).
import { fuzzFormat } from './fuzz-lib.ts';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const iterations = arg('iterations', 100_000);
const seed = arg('seed', 20261127);
const t0 = performance.now();
const r = fuzzFormat(iterations, seed, (n) => { if (n % 20480 === 0) process.stderr.write(`  ${n}/${iterations}\n`); });
const secs = (performance.now() - t0) / 1000;
console.log(`fuzz:format seed ${seed}: ${r.inputs} inputs in ${secs.toFixed(1)} s`);
console.log(`  parsed:        ${r.parsed}`);
console.log(`  FormatError:   ${r.formatErrors}`);
console.log(`  other errors:  ${r.otherErrors.length}`);
console.log(`  slowest input: ${r.slowest.ms.toFixed(2)} ms (#${r.slowest.input})`);
console.log(`  max heap growth sampled: ${r.maxHeapGrowthMB.toFixed(1)} MB`);
const top = [...r.errorFields.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12);
console.log('  most frequent FormatError fields: ' + top.map(([f, c]) => `${f} ${c}`).join(', '));
for (const e of r.otherErrors.slice(0, 10)) console.log(`  ! input ${e.input}: ${e.error}`);
process.exit(r.otherErrors.length ? 1 : 0);
