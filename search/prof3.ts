import { loadGlpk, searchSpaceFromModel, searchProblem, toLp, solveIlp } from './src/index.ts';
import { resnet20Convs, syntheticModel } from './test/fixtures.ts';
const glpk = await loadGlpk();
const space = searchSpaceFromModel(syntheticModel(resnet20Convs(), [8, 6, 4, 2]));
const variants: Record<string, (p: any, base: number) => any> = {
  plain: (p) => toLp(glpk, p),
  scaled: (p) => { const m = Math.max(...p.objective.flat().map(Math.abs)); return toLp(glpk, { ...p, objective: p.objective.map((r: number[]) => r.map((v) => v / m)) }); },
  cut: (p, base) => { const lp = toLp(glpk, p); lp.subjectTo.push({ name: 'cut', vars: lp.objective.vars, bnds: { type: glpk.GLP_LO, lb: base * (1 - 1e-9), ub: 0 } }); return lp; },
};
for (const budget of [3, 3.25, 4.5, 5.5]) {
  const baseP = searchProblem(space, 'perturbation', [{ kind: 'avg-bits', max: budget }]);
  const base = solveIlp(glpk, baseP).objective;
  const row: string[] = [];
  for (const [name, mk] of Object.entries(variants)) {
    const lps = [];
    for (let l = 0; l < 19; l++) for (let j = 0; j < 4; j++) lps.push(mk(searchProblem(space, 'perturbation', [{ kind: 'avg-bits', max: budget }], new Map([[l, j]])), base));
    const t0 = performance.now();
    let max = 0;
    for (const lp of lps) { const t = performance.now(); glpk.solve(lp, { msglev: 0, presol: true }); max = Math.max(max, performance.now() - t); }
    row.push(`${name}: ${((performance.now() - t0)).toFixed(0)} ms total, max ${max.toFixed(1)}`);
  }
  console.log(budget, row.join(' | '));
}
