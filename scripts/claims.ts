// The report's answers to "which claims hold here", computed from the committed summaries: the
// headline from the published ResNet-20 cards (runtime accuracy against the goals), each ablation
// claim from the ResNet-8 arms run with the same seed (paired differences; a side is named only
// when every seed agrees, and a claim is decided only with two seeds or more).
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { savedSummary } from './carry.ts';

interface Stage { name: string }

/** What the report reads of a finished train stage's summary.json. */
export interface ArmRun { accuracy: Record<string, number>; seconds: number; cpuSeconds?: number; alrsFloorHits?: Record<string, number>; alrsSteps?: Record<string, number> }

/** Finished runs of ablation arm ARM (stages fashion-ARM-sSEED), by seed. */
export function armRuns(root: string, stages: readonly Stage[], arm: string): Map<number, ArmRun> {
  const out = new Map<number, ArmRun>();
  for (const s of stages) {
    const m = new RegExp(`^fashion-${arm}-s(\\d+)$`).exec(s.name);
    const run = m ? savedSummary<ArmRun>(root, s.name) : undefined;
    if (run) out.set(Number(m![1]), run);
  }
  return out;
}

/** a − b at one precision for every seed both arms have, in seed order. */
export function pairedDeltas(a: Map<number, ArmRun>, b: Map<number, ArmRun>, precision: string): number[] {
  return [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y)
    .map((s) => [a.get(s)!.accuracy[precision], b.get(s)!.accuracy[precision]])
    .filter(([x, y]) => x !== undefined && y !== undefined).map(([x, y]) => x! - y!);
}

/** A difference of accuracies in percentage points with its sign: +0.52, −0.10 (a minus sign, not a hyphen). */
export const signedPp = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(2)}`;

/** "+0.52 pp" for one seed, "+0.40 pp (+0.52, +0.28)" for more. */
export function deltaText(deltas: readonly number[]): string {
  if (deltas.length === 1) return `${signedPp(deltas[0]!)} pp`;
  const mean = deltas.reduce((s, d) => s + d, 0) / deltas.length;
  return `${signedPp(mean)} pp (${deltas.map(signedPp).join(', ')})`;
}

export type Verdict = 'not run yet' | 'one seed' | 'holds' | 'does not hold' | 'within the seed spread';

/** The claim "a is better than b" from paired deltas a − b. */
export function verdict(deltas: readonly number[]): Verdict {
  if (!deltas.length) return 'not run yet';
  if (deltas.length === 1) return 'one seed';
  if (deltas.every((d) => d > 0)) return 'holds';
  if (deltas.every((d) => d < 0)) return 'does not hold';
  return 'within the seed spread';
}

/** One ablation claim: arm `better` is claimed to beat arm `than` at `precisions`. */
interface Claim { title: string; better: string; than: string; precisions: string[]; paper: string; note?: (runs: Map<string, Map<number, ArmRun>>) => string }

const hitRate = (runs: Map<number, ArmRun>): string => {
  let hits = 0, steps = 0;
  for (const r of runs.values()) for (const b of Object.keys(r.alrsSteps ?? {})) { hits += r.alrsFloorHits?.[b] ?? 0; steps += r.alrsSteps![b]!; }
  if (!steps) return '';
  // a rate of 0 on every step leaves the scales where they started: say what the arm then measures
  if (hits === steps) return "eq. 6's rate was negative and floored to 0 on every scale step (100.0 %), so that arm never moved its scales from their initial values: the comparison is learned scales against frozen ones";
  return `eq. 6's rate was negative and floored to 0 on ${((100 * hits) / steps).toFixed(1)} % of the scale steps`;
};

export const CLAIMS: Claim[] = [
  { title: 'ALRS helps the low bits', better: 'r8-alrs-code', than: 'r8-alrs-off', precisions: ['w2a2', 'w4a4'], paper: 'paper, ResNet-20 on CIFAR-10: w2 +0.52, w4 −0.08 pp' },
  {
    title: 'ALRS in the authors\' code form (λ·0.1^rank) works better than eq. 6 as written', better: 'r8-alrs-code', than: 'r8-alrs-paper', precisions: ['w2a2', 'w4a4'],
    paper: 'the paper gives no figure; METHOD.md asks which works better', note: (runs) => hitRate(runs.get('r8-alrs-paper') ?? new Map()),
  },
  { title: 'Double Rounding beats floor-based switching (Bit-Mixer)', better: 'r8-alrs-code', than: 'r8-floor', precisions: ['w2a2', 'w4a4', 'w6a6'], paper: 'paper, Figure 2: floor wastes the lowest level' },
  { title: 'Algorithm A.2 (a step per bit) beats A.1 (accumulate, one step)', better: 'r8-alrs-code', than: 'r8-a1', precisions: ['w2a2', 'w4a4', 'w8a8'], paper: 'the paper proposes A.2 over A.1' },
  {
    title: 'Separate scales per bit (the paper\'s "Ours*", FP32 storage) are more accurate than one stored 8-bit model', better: 'r8-separate-scales', than: 'r8-alrs-code', precisions: ['w2a2', 'w4a4'],
    paper: 'paper: "unshared scales per bit give higher accuracy"',
  },
  { title: 'self-distillation from the highest bit helps w2', better: 'r8-distill', than: 'r8-alrs-code', precisions: ['w2a2', 'w4a4', 'w6a6', 'w8a8'], paper: 'optional in the paper; no figure' },
];

function claimLine(c: Claim, runs: Map<string, Map<number, ArmRun>>): string {
  const a = runs.get(c.better) ?? new Map<number, ArmRun>();
  const b = runs.get(c.than) ?? new Map<number, ArmRun>();
  const per = c.precisions.map((p) => ({ p, d: pairedDeltas(a, b, p) }));
  const head = per[0]!;
  const v = verdict(head.d);
  const answer = v === 'not run yet' ? 'not run yet'
    : v === 'one seed' ? `not decided: one seed so far (${head.p} ${deltaText(head.d)})`
    : v === 'holds' ? `holds at ${head.p} (${deltaText(head.d)}; ${head.d.length} seeds)`
    : v === 'does not hold' ? `does not hold at ${head.p}: the other arm is better in every seed (${deltaText(head.d)})`
    : `not shown at ${head.p}: the seeds disagree (${deltaText(head.d)})`;
  const rest = per.slice(1).filter((x) => x.d.length).map((x) => `${x.p} ${deltaText(x.d)}`);
  const note = v !== 'not run yet' && c.note ? c.note(runs) : '';
  return `- **${c.title}**: ${answer}${rest.length ? `; ${rest.join(', ')}` : ''}${note ? `; ${note}` : ''} (${c.paper}).`;
}

/** The committed per-step measurement of joint against separate training (pnpm bench:train). */
export const STEP_COST_FILE = 'bench/results/train-joint-vs-separate.json';

interface StepCostRow { model: string; workers: number; jointMsPerStep: number; separateMsPerStep: number; jointVsSeparateWall: number; jointVsSeparateCpu: number; loadavg: number[] }

/** "ResNet-8 joint/separate 1.005 wall, 0.997 CPU; …" from STEP_COST_FILE, or '' without it. */
export function stepCost(root: string): string {
  const f = join(root, STEP_COST_FILE);
  if (!existsSync(f)) return '';
  const { date, rows } = JSON.parse(readFileSync(f, 'utf8')) as { date: string; rows: StepCostRow[] };
  const names: Record<string, string> = { resnet8: 'ResNet-8', resnet20: 'ResNet-20' };
  const per = rows.map((r) => `${names[r.model] ?? r.model} ${r.jointMsPerStep.toFixed(0)} / ${r.separateMsPerStep.toFixed(0)} ms = ${r.jointVsSeparateWall.toFixed(3)} (CPU time ${r.jointVsSeparateCpu.toFixed(3)}, ${r.workers} workers, load ${r.loadavg[0]})`);
  return `per batch of 128, one joint A.2 step against one step of each of the four separate networks, alternated in one process (${STEP_COST_FILE}, ${date.slice(0, 10)}): ${per.join('; ')}`;
}

/** Joint training against separately trained per-bit models: accuracy (joint − separate) at every bit and the training-time saving. */
function jointLine(runs: Map<string, Map<number, ArmRun>>, perStep: string): string {
  const joint = runs.get('r8-alrs-code') ?? new Map<number, ArmRun>();
  const sep = runs.get('r8-separate-training') ?? new Map<number, ArmRun>();
  const seeds = [...joint.keys()].filter((s) => sep.has(s));
  const title = '- **Joint training is close to separately trained models at lower cost**';
  const paper = 'paper: ~12–27 % less training time';
  const cost = perStep ? `; ${perStep}` : '';
  if (!seeds.length) return `${title}: accuracy not run yet${cost} (${paper}).`;
  const acc = ['w8a8', 'w6a6', 'w4a4', 'w2a2'].map((p) => ({ p, d: pairedDeltas(joint, sep, p) })).filter((x) => x.d.length)
    .map((x) => `${x.p} ${deltaText(x.d)}`).join(', ');
  // CPU time (every thread) where both runs recorded it, and a summary figure only from that: wall
  // time on the shared machine also counts other jobs
  const bySeed = seeds.map((s) => {
    const j = joint.get(s)!, p = sep.get(s)!;
    const both = j.cpuSeconds !== undefined && p.cpuSeconds !== undefined;
    return { seed: s, saving: 1 - (both ? j.cpuSeconds! / p.cpuSeconds! : j.seconds / p.seconds), basis: both ? 'CPU time' : 'wall time' };
  });
  const cpu = bySeed.filter((c) => c.basis === 'CPU time');
  const word = (x: number) => (x >= 0 ? `${(100 * x).toFixed(0)} % less` : `${(-100 * x).toFixed(0)} % more`);
  const each = bySeed.map((c) => `seed ${c.seed}: ${word(c.saving)} ${c.basis}`).join('; ');
  const time = cpu.length
    ? `joint training took ${word(cpu.reduce((a, c) => a + c.saving, 0) / cpu.length)} CPU time than the four separate runs together (${each}; whole runs, each on the machine and under the load its session had)`
    : `run times in wall time only so far (${each}), which on the shared machine also count other jobs: not a measure of cost`;
  return `${title}: joint − separate ${acc}; ${time}; ${seeds.length === 1 ? 'one seed so far' : `${seeds.length} seeds`}${cost} (${paper}; run times: CPU time of every thread where both runs recorded it, else wall time on a shared 2-core machine).`;
}

/** The ablation claims, one line each. */
export function ablationClaims(root: string, stages: readonly Stage[]): string[] {
  const arms = new Set(CLAIMS.flatMap((c) => [c.better, c.than]).concat('r8-separate-training'));
  const runs = new Map([...arms].map((a) => [a, armRuns(root, stages, a)] as const));
  return [...CLAIMS.map((c) => claimLine(c, runs)), jointLine(runs, stepCost(root))];
}

/** The headline claim from the runtime's accuracy of a published joint model against FP32 and the loss goals (pp). */
export function headlineClaim(label: string, fp32: number | undefined, runtime: Record<string, number> | undefined, goals: Record<string, number>): string {
  if (fp32 === undefined || !runtime) return `${label}: not finished yet`;
  const parts = Object.entries(runtime).map(([k, a]) => ({ k, loss: 100 * (fp32 - a), goal: goals[k] }));
  const met = parts.filter((p) => p.goal !== undefined && p.loss <= p.goal);
  const missed = parts.filter((p) => p.goal !== undefined && p.loss > p.goal);
  const fmt = (p: { k: string; loss: number; goal?: number }) => `${p.k} ${p.loss >= 0 ? '−' : '+'}${Math.abs(p.loss).toFixed(2)} pp`;
  const verdictText = missed.length === 0 ? 'holds' : met.length === 0 ? 'does not hold' : `holds at ${met.map((p) => p.k).join(', ')}, not at ${missed.map((p) => p.k).join(', ')}`;
  const byGoal = new Map<number, string[]>();
  for (const p of parts) if (p.goal !== undefined) byGoal.set(p.goal, [...(byGoal.get(p.goal) ?? []), p.k]);
  const goalText = [...byGoal].map(([g, ks]) => `${ks.join('/')} within ${g} pp`).join(', ');
  return `${label}: ${verdictText} (against FP32: ${parts.map(fmt).join(', ')}; goals: ${goalText})`;
}
