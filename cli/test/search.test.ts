import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { tinyModel, type Model } from '@bitswitch/format';
import { readModelFile, writeModelFile } from '@bitswitch/format/node';
import { budgetMetric, costSpaceFromModel, paretoFrontier, type Evaluate } from '@bitswitch/search';
import { planSweep } from '@bitswitch/search/run';
import { register as registerSearch } from '../src/commands/search.ts';
import { register as registerPareto, type ParetoDeps } from '../src/commands/pareto.ts';

const register = (program: Command, deps: ParetoDeps) => { registerSearch(program, deps); registerPareto(program, deps); };

const dir = mkdtempSync(join(tmpdir(), 'bitswitch-search-'));
const lines: string[] = [];
const errors: string[] = [];

// Synthetic accuracy: falls with the mean of 1/b over layers, so more bits never hurt; a SubNet by name as its bits.
const calls: { model: Model; precision: number[] | string }[] = [];
const evaluate: Evaluate = async (model: Model, precision: number[] | string) => {
  calls.push({ model, precision });
  const bits = typeof precision === 'string' ? model.subnets!.find((s) => s.name === precision)!.bits : precision;
  return 1 - bits.reduce((s, b) => s + 1 / b, 0) / bits.length;
};

async function run(...args: string[]): Promise<number | undefined> {
  const program = new Command().exitOverride();
  register(program, { log: (l) => lines.push(l), evaluator: async () => evaluate });
  const errorFn = console.error;
  console.error = (...a: unknown[]) => errors.push(a.join(' '));
  process.exitCode = undefined;
  // a command's error reaches the caller (the bitswitch program prints it); recorded here as exit 1
  try {
    await program.parseAsync(['node', 'bitswitch', ...args]);
  } catch (e) {
    errors.push((e as Error).message);
    process.exitCode = 1;
  } finally {
    console.error = errorFn;
  }
  const code = process.exitCode;
  process.exitCode = undefined;
  return code as number | undefined;
}

function freshModel(name: string): string {
  const path = join(dir, name);
  const m = tinyModel();
  delete m.subnets;
  writeModelFile(path, m);
  return path;
}

test('search writes distinct SubNets into the model file, each within its budget', async () => {
  const path = freshModel('a.bsw');
  assert.is(await run('search', path, '--budget', 'avg-bits=2..8:0.5'), undefined);
  const model = readModelFile(path);
  const subnets = model.subnets!;
  assert.ok(subnets.length > 13, `${subnets.length} SubNets`);
  assert.is(new Set(subnets.map((s) => s.bits.join())).size, subnets.length);
  const space = costSpaceFromModel(model);
  for (const s of subnets) assert.ok(budgetMetric(space, 'avg-bits', s.bits) <= s.budget['avg-bits'] + 1e-12);
  assert.ok(lines.some((l) => /distinct SubNets from \d+ ILPs/.test(l)));
});

test('search --json writes a sidecar with metrics and leaves the model alone; latency and caps combine', async () => {
  const path = freshModel('b.bsw');
  const table = join(dir, 'latency.json');
  const layers = ['conv1', 'conv2', 'short', 'fc1'];
  writeFileSync(table, JSON.stringify(layers.flatMap((layer, i) => [8, 6, 4, 2].map((bits) => ({ layer, bits, ms: (i + 1) * bits * 0.01 })))));
  const json = join(dir, 'b.json');
  assert.is(await run('search', path, '--budget', 'avg-bits=3..8:1', '--budget', 'latency=0.45', '--latency', table, '--json', json), undefined);
  const sidecar = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(sidecar.layers, layers);
  assert.ok(sidecar.subnets.length > 0);
  for (const s of sidecar.subnets) {
    assert.ok(sidecar.metrics[s.name].latency <= 0.45 + 1e-12, `${s.name}: ${sidecar.metrics[s.name].latency} ms`);
    assert.is(s.budget.latency, 0.45);
  }
  assert.is(readModelFile(path).subnets, undefined);
});

test('search errors: infeasible budget states the range; bad specs name the flag', async () => {
  const path = freshModel('c.bsw');
  errors.length = 0;
  assert.is(await run('search', path, '--budget', 'avg-bits=1..1.5:0.5'), 1);
  assert.match(errors.join('\n'), 'budget avg-bits <= 1.5 is infeasible: the feasible range of avg-bits is 2..8 bits');
  assert.is(readModelFile(path).subnets, undefined, 'nothing written when no value is feasible');
  // a sweep reaching below the feasible range skips those values, says so, and searches the rest
  lines.length = 0;
  assert.is(await run('search', path, '--budget', 'avg-bits=1..3:1', '--json', join(dir, 'skip.json')), undefined);
  assert.ok(lines.some((l) => l.startsWith('note: skipped avg-bits 1: budget avg-bits <= 1 is infeasible')), lines.join('\n'));
  const sidecar = JSON.parse(readFileSync(join(dir, 'skip.json'), 'utf8')) as { subnets: { budget: Record<string, number> }[] };
  assert.ok(sidecar.subnets.length > 0 && sidecar.subnets.every((x) => x.budget['avg-bits'] >= 2), 'SubNets at 2 and 3 bits only');
  assert.is(await run('search', path, '--budget', 'speed=3'), 1);
  assert.match(errors.join('\n'), '--budget: expected KIND=VALUES');
  assert.is(await run('search', path, '--budget', 'latency=3'), 1);
  assert.match(errors.join('\n'), 'no latency table given');
  assert.is(await run('search', join(dir, 'missing.bsw'), '--budget', 'avg-bits=4'), 1);
  assert.match(errors.join('\n'), 'missing.bsw: ENOENT');
  assert.is(readModelFile(path).subnets, undefined, 'nothing written on error');
  assert.throws(() => planSweep(['avg-bits=2..4', 'bitops=1..2']), /at most one range/);
  assert.throws(() => planSweep(['avg-bits=2', 'avg-bits=3']), /avg-bits given twice/);
  assert.equal(planSweep(['bitops=1e6', 'avg-bits=2..3']), { sweep: { kind: 'avg-bits', values: [2, 3] }, fixed: [{ kind: 'bitops', max: 1e6 }] });
});

test('pareto evaluates every SubNet, writes the SVG/HTML plot and the frontier; --write stores accuracies', async () => {
  const path = freshModel('d.bsw');
  const base = freshModel('d-uniform.bsw');
  await run('search', path, '--budget', 'avg-bits=2..8:1');
  const svg = join(dir, 'd.svg');
  const json = join(dir, 'd.json');
  assert.is(await run('pareto', path, '--data', 'unused', '--baseline', base, '--out', svg, '--json', json, '--write'), undefined);
  const text = readFileSync(svg, 'utf8');
  assert.ok(text.startsWith('<svg') && text.includes('HASB') && text.includes('uniform sampling'));
  const out = JSON.parse(readFileSync(json, 'utf8'));
  assert.equal(out.series.map((s: { label: string }) => s.label), ['HASB', 'uniform sampling']);
  const subnets = readModelFile(path).subnets!;
  assert.is(out.series[0].points.length, subnets.length); // uniform precisions are among the searched ones here
  assert.equal(out.series[0].frontier, paretoFrontier(out.series[0].points));
  for (const s of subnets) assert.is(s.accuracy, await evaluate(null as unknown as Model, s.bits));
  // the file's own SubNets run by name (their BatchNorm statistics apply); the baseline has none, so it runs their bits
  const [own, baseline] = [calls.filter((c) => c.model?.subnets?.length), calls.filter((c) => c.model && !c.model.subnets?.length)];
  assert.ok(own.length >= subnets.length && own.every((c) => typeof c.precision === 'string'), JSON.stringify(own.map((c) => c.precision)));
  assert.ok(baseline.length >= subnets.length && baseline.every((c) => Array.isArray(c.precision)));
  for (const p of out.series[0].points) assert.equal(p.bits, subnets.find((s) => s.name === p.name)!.bits);
  const html = join(dir, 'd.html');
  assert.is(await run('pareto', path, '--data', 'unused', '--out', html, '--x', 'bitops'), undefined);
  assert.ok(readFileSync(html, 'utf8').startsWith('<!doctype html>'));
  const only = join(dir, 'only.json');
  assert.is(await run('pareto', path, '--data', 'unused', '--out', svg, '--json', only, '--sweep-only'), undefined);
  const names = JSON.parse(readFileSync(only, 'utf8')).series[0].points.map((p: { name: string }) => p.name);
  assert.ok(names.length > 0 && names.length < subnets.length && names.every((n: string) => !n.includes('/')), names.join());
});

test('pareto with the runtime evaluator names a --data set it does not know', async () => {
  const path = freshModel('e.bsw');
  const program = new Command().exitOverride();
  register(program, { log: () => {} });
  const err = await program.parseAsync(['node', 'bitswitch', 'pareto', path, '--data', 'x']).then(() => undefined, (e: Error) => e);
  assert.match(err?.message ?? 'no error', 'data: expected one of mnist, fashion-mnist, got "x"');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
