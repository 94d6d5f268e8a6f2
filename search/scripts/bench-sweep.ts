// Times a full Algorithm 2 sweep on a ResNet-20-shaped search space (19 quantized layers,
// bits {8,6,4,2}, avg-bits 3..8 step 0.25, every pin), the "< 1 s" target.
// Run: node --import tsx search/scripts/bench-sweep.ts [repeats]
import { cpus, loadavg } from 'node:os';
import { loadGlpk, searchSpaceFromModel, sweepSubNets, parseBudgetValues } from '../src/index.ts';
import { resnet20Convs, syntheticModel } from '../test/fixtures.ts';

const repeats = Number(process.argv[2] ?? 5);
const model = syntheticModel(resnet20Convs(), [8, 6, 4, 2]);
let t0 = performance.now();
await loadGlpk();
const glpkMs = performance.now() - t0;
t0 = performance.now();
const space = searchSpaceFromModel(model);
const spaceMs = performance.now() - t0;
const sweep = { kind: 'avg-bits' as const, values: parseBudgetValues('3..8:0.25') };
// Wall time, and the process's CPU time (user + sys), which other jobs on the machine inflate less.
const times: number[] = [];
const cpu: number[] = [];
let last;
for (let r = 0; r < repeats; r++) {
  const c0 = process.cpuUsage();
  t0 = performance.now();
  last = await sweepSubNets(space, { sweep });
  times.push(performance.now() - t0);
  const c = process.cpuUsage(c0);
  cpu.push((c.user + c.system) / 1000);
}
times.sort((a, b) => a - b);
cpu.sort((a, b) => a - b);
console.log(`machine: ${cpus()[0]?.model} x${cpus().length}, node ${process.version}, ${new Date().toISOString()}`);
console.log(`layers ${space.layers.length}, bits {${space.bits}}, budgets ${sweep.values.length}, ILPs solved ${last!.solves} (+${last!.reused} reused, ${last!.infeasiblePins} infeasible pins), distinct SubNets ${last!.subnets.length}`);
console.log(`GLPK load ${glpkMs.toFixed(1)} ms, perturbation table ${spaceMs.toFixed(1)} ms`);
console.log(`load average (1 min) ${loadavg()[0].toFixed(2)}`);
console.log(`full sweep CPU time: median ${cpu[cpu.length >> 1].toFixed(1)} ms, min ${cpu[0].toFixed(1)} ms`);
console.log(`full sweep: median ${times[times.length >> 1].toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms over ${repeats} runs (${(times[times.length >> 1] / last!.solves).toFixed(3)} ms per ILP)`);

// End to end as `bitswitch search MODEL --budget avg-bits=3..8:0.25 --json FILE`: read, perturbation table, sweep, write.
const { mkdtempSync, rmSync } = await import('node:fs');
const { tmpdir } = await import('node:os');
const { join } = await import('node:path');
const { writeModelFile } = await import('@bitswitch/format/node');
const { runSearch } = await import('../src/cli.ts');
const dir = mkdtempSync(join(tmpdir(), 'bench-sweep-'));
try {
  const file = join(dir, 'resnet20.bsw');
  writeModelFile(file, model);
  t0 = performance.now();
  await runSearch(file, { budget: ['avg-bits=3..8:0.25'], json: join(dir, 'subnets.json') }, () => {});
  console.log(`end to end (read model, perturbations, sweep, write sidecar JSON): ${(performance.now() - t0).toFixed(1)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
