// Times a full Algorithm 2 sweep on a ResNet-20-shaped search space (19 quantized layers,
// bits {8,6,4,2}, avg-bits 3..8 step 0.25, every pin); the target is under 1 s.
// Run: pnpm bench:sweep [repeats] (results: bench/results/sweep.json).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeModelFile } from '@bitswitch/format/node';
import { loadGlpk, searchSpaceFromModel, sweepSubNets, parseBudgetValues } from '@bitswitch/search';
import { runSearch } from '@bitswitch/search/run';
import { resnet20Convs, syntheticModel } from '@bitswitch/search/testing';
import { Report, positional } from './report.ts';

const report = new Report('sweep');
const repeats = Number(positional()[0] ?? 5);
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
report.log(`layers ${space.layers.length}, bits {${space.bits}}, budgets ${sweep.values.length}, ILPs solved ${last!.solves} (+${last!.reused} reused, ${last!.infeasiblePins} infeasible pins), distinct SubNets ${last!.subnets.length}`);
report.log(`GLPK load ${glpkMs.toFixed(1)} ms, perturbation table ${spaceMs.toFixed(1)} ms`);
report.log(`full sweep CPU time: median ${cpu[cpu.length >> 1].toFixed(1)} ms, min ${cpu[0].toFixed(1)} ms`);
report.log(`full sweep: median ${times[times.length >> 1].toFixed(1)} ms, min ${times[0].toFixed(1)} ms, max ${times[times.length - 1].toFixed(1)} ms over ${repeats} runs (${(times[times.length >> 1] / last!.solves).toFixed(3)} ms per ILP)`);

// End to end as `bitswitch search MODEL --budget avg-bits=3..8:0.25 --json FILE`: read, perturbation table, sweep, write.
const dir = mkdtempSync(join(tmpdir(), 'bench-sweep-'));
try {
  const file = join(dir, 'resnet20.bsw');
  writeModelFile(file, model);
  t0 = performance.now();
  await runSearch(file, { budget: ['avg-bits=3..8:0.25'], json: join(dir, 'subnets.json') }, () => {});
  report.log(`end to end (read model, perturbations, sweep, write sidecar JSON): ${(performance.now() - t0).toFixed(1)} ms`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
report.save();
