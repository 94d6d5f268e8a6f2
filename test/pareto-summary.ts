// Summary of a `pareto --json` result for scripts/pareto-fashion.sh: the best accuracy of each
// series within each avg-bits budget (the frontier read at that budget), HASB − uniform, the
// SuperNets' uniform-precision accuracies and sensitivity; also renders the SVG from the JSON.
// Usage: node --import tsx test/pareto-summary.ts PARETO.json WORK_DIR [OUT.svg]
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readModel } from '@bitswitch/format';
import { paretoSpec, renderSvg, type ParetoPoint } from '@bitswitch/search/pareto';

interface Series { label: string; points: ParetoPoint[]; frontier: ParetoPoint[] }

/** Best accuracy among points whose cost is at most `budget` (null if none fits). */
export function bestWithin(points: readonly ParetoPoint[], budget: number): { accuracy: number; name: string; cost: number } | null {
  let best: ParetoPoint | null = null;
  for (const p of points) if (p.cost <= budget + 1e-9 && (!best || p.accuracy > best.accuracy)) best = p;
  return best ? { accuracy: best.accuracy, name: best.name ?? '', cost: best.cost } : null;
}

const [jsonPath, work, svgPath] = process.argv.slice(2);
const result = JSON.parse(readFileSync(jsonPath, 'utf8')) as { x: string; series: Series[] };
const [hasb, uniform] = result.series;
const costs = [...new Set(result.series.flatMap((s) => s.points.map((p) => p.cost)))].sort((a, b) => a - b);
const perBudget = costs.map((c) => {
  const h = bestWithin(hasb.points, c)!;
  const u = bestWithin(uniform.points, c)!;
  return { budget: Number(c.toFixed(4)), hasb: h.accuracy, hasbSubnet: h.name, uniform: u.accuracy, uniformSubnet: u.name, delta: Number((h.accuracy - u.accuracy).toFixed(4)) };
});
const sameSubnets = hasb.points.map((p) => ({ name: p.name, cost: Number(p.cost.toFixed(4)), hasb: p.accuracy, uniform: uniform.points.find((q) => q.name === p.name)?.accuracy }));
const meta = (f: string) => readModel(readFileSync(join(work, f))).metadata as Record<string, unknown>;
const multi = readModel(readFileSync(join(work, 'multi.bsw')));
const summary = {
  generated: 'by scripts/pareto-fashion.sh (test/pareto-summary.ts); do not edit',
  date: new Date().toISOString(),
  x: result.x,
  perBudget,
  atOrAboveEverywhere: perBudget.every((r) => r.delta >= 0),
  meanDelta: Number((perBudget.reduce((s, r) => s + r.delta, 0) / perBudget.length).toFixed(4)),
  sameSubnetWins: { hasb: sameSubnets.filter((s) => s.uniform !== undefined && s.hasb > s.uniform).length, uniform: sameSubnets.filter((s) => s.uniform !== undefined && s.hasb < s.uniform).length, ties: sameSubnets.filter((s) => s.hasb === s.uniform).length },
  subnets: sameSubnets,
  sensitivity: multi.sensitivity?.map((s) => ({ layer: s.layer, hessianTrace: s.hessianTrace, params: s.params, perParam: s.hessianTrace / s.params })),
  base: multi.metadata,
  supernets: Object.fromEntries(['hasb', 'uniform'].map((s) => { const m = meta(`${s}.bsw`); return [s, { accuracy: m.accuracy, history: m.history, recipe: m.supernet }]; })),
};
console.log(JSON.stringify(summary, null, 1));
if (svgPath) {
  const svg = await renderSvg(paretoSpec(result.series, { xTitle: 'average bit-width (per layer)', title: 'Fashion-MNIST small CNN: HASB vs uniform-sampling SuperNet' }));
  writeFileSync(svgPath, svg);
}
