// Carrying reproduce stages through a commit (scripts/carry.ts): what --save keeps in
// results/checkpoints/ and what --restore brings back on a fresh clone, in a scratch folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planProblems, restoreStages, saveStage, stageDone, stageProducts, type Carry, type Stage } from '../scripts/carry.ts';

const STAGES: Stage[] = [
  { name: 'fp32', args: ['pretrain', '--out', 'RUN'] },
  { name: 'joint', after: ['fp32'], args: ['train', '--init', 'runs/reproduce/fp32/model-fp32.json', '--out', 'RUN'] },
  { name: 'sens', after: ['joint'], args: ['sensitivity', 'runs/reproduce/joint/model.bsw', '--out', 'RUN/multi.bsw'], done: 'multi.bsw' },
];

function scratch(): Carry & { root: string } {
  const root = mkdtempSync(join(tmpdir(), 'bitswitch-carry-'));
  return { root, stages: STAGES, runs: join(root, 'runs/reproduce'), saved: join(root, 'results/checkpoints') };
}

function put(path: string, text: string, mtime?: number): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  if (mtime !== undefined) utimesSync(path, mtime, mtime);
}

const read = (path: string) => readFileSync(path, 'utf8');

test('products: the files later stages read, and the done marker', () => {
  const c = scratch();
  assert.equal(stageProducts(c, STAGES[0]!), ['model-fp32.json']); // summary.json is a small file, kept anyway
  assert.equal(stageProducts(c, STAGES[1]!), ['model.bsw']);
  assert.equal(stageProducts(c, STAGES[2]!), ['multi.bsw']);
  rmSync(c.root, { recursive: true });
});

test('save, then a fresh clone: the finished stage comes back done with its outputs, the running one with its checkpoint', () => {
  const c = scratch();
  const fp32 = join(c.runs, 'fp32'), joint = join(c.runs, 'joint');
  put(join(fp32, 'summary.json'), '{"done":1}');
  put(join(fp32, 'metrics.jsonl'), '{"epoch":0}\n');
  put(join(fp32, 'model-fp32.json'), '{"weights":[1,2,3]}');
  put(join(fp32, 'checkpoint.json'), '{"stale":1}'); // a finished stage's checkpoint is not carried
  put(join(fp32, 'big-log.txt'), 'not read by any stage');
  put(join(joint, 'checkpoint.json'), '{"epoch":3}');
  put(join(joint, 'metrics.jsonl'), '{"epoch":0}\n{"epoch":1}\n');
  put(join(joint, 'recipe.json'), '{"bits":[8,6,4,2]}');
  put(join(c.saved, 'fp32.json.gz'), 'an older checkpoint of the stage, from before it finished');
  for (const s of STAGES) saveStage(c, s);

  assert.not.ok(existsSync(join(c.saved, 'fp32.json.gz')), 'the finished stage\'s checkpoint is dropped');
  assert.ok(existsSync(join(c.saved, 'products/fp32/model-fp32.json.gz')));
  assert.not.ok(existsSync(join(c.saved, 'products/fp32/big-log.txt.gz')));
  assert.ok(existsSync(join(c.saved, 'joint.json.gz')));
  assert.is(read(join(c.saved, 'joint.metrics.jsonl')), '{"epoch":0}\n{"epoch":1}\n');

  rmSync(c.runs, { recursive: true }); // the fresh clone has only what was committed
  const lines = restoreStages(c);
  assert.equal(lines.sort(), ['restored fp32 (finished) from results/checkpoints/', 'restored joint from results/checkpoints/joint.json.gz']);
  assert.ok(stageDone(c, STAGES[0]!));
  assert.is(read(join(fp32, 'model-fp32.json')), '{"weights":[1,2,3]}');
  assert.is(read(join(fp32, 'metrics.jsonl')), '{"epoch":0}\n');
  // dated at the epoch: older than a card the commit published from them, so nothing is published again
  for (const f of ['summary.json', 'metrics.jsonl', 'model-fp32.json']) assert.is(statSync(join(fp32, f)).mtimeMs, 0, f);
  assert.not.ok(existsSync(join(fp32, 'checkpoint.json')));
  assert.not.ok(stageDone(c, STAGES[1]!));
  assert.is(read(join(joint, 'checkpoint.json')), '{"epoch":3}');
  assert.is(read(join(joint, 'recipe.json')), '{"bits":[8,6,4,2]}');
  assert.not.ok(existsSync(join(c.runs, 'sens')), 'a pending stage stays absent');
  assert.equal(restoreStages(c), [], 'a second restore has nothing to do');
  rmSync(c.root, { recursive: true });
});

test('restore keeps a local checkpoint at least as new as the saved one; save keeps a saved copy newer than the local file', () => {
  const c = scratch();
  const joint = join(c.runs, 'joint');
  put(join(joint, 'checkpoint.json'), '{"epoch":5}', 2_000_000);
  saveStage(c, STAGES[1]!);
  utimesSync(join(c.saved, 'joint.json.gz'), 1_000_000, 1_000_000);
  put(join(joint, 'checkpoint.json'), '{"epoch":6}', 2_000_000);
  assert.equal(restoreStages(c), []);
  assert.is(read(join(joint, 'checkpoint.json')), '{"epoch":6}', 'the newer local checkpoint stays');
  saveStage(c, STAGES[1]!); // the local one is newer: saved again
  rmSync(c.runs, { recursive: true });
  restoreStages(c);
  assert.is(read(join(joint, 'checkpoint.json')), '{"epoch":6}');
  rmSync(c.root, { recursive: true });
});

test('a stage with its own done file is restored from its products; one without any trace stays pending', () => {
  const c = scratch();
  const sens = join(c.runs, 'sens');
  put(join(sens, 'multi.bsw'), 'BSW1...');
  put(join(sens, 'summary.json'), '{"sensitivity":true}');
  saveStage(c, STAGES[2]!);
  assert.ok(existsSync(join(c.saved, 'products/sens/multi.bsw.gz')));
  rmSync(c.runs, { recursive: true });
  const lines = restoreStages(c);
  assert.equal(lines, ['restored sens (finished) from results/checkpoints/']);
  assert.ok(stageDone(c, STAGES[2]!));
  assert.is(read(join(sens, 'summary.json')), '{"sensitivity":true}');
  assert.not.ok(existsSync(join(c.runs, 'fp32')));
  rmSync(c.root, { recursive: true });
});

test('a stage finished in the commit replaces what an unfinished local run of it left', () => {
  const c = scratch();
  const fp32 = join(c.runs, 'fp32');
  put(join(fp32, 'summary.json'), '{"done":1}');
  put(join(fp32, 'metrics.jsonl'), '{"epoch":0}\n{"epoch":1}\n');
  put(join(fp32, 'model-fp32.json'), '{"final":true}');
  saveStage(c, STAGES[0]!);
  rmSync(c.runs, { recursive: true });
  put(join(fp32, 'checkpoint.json'), '{"epoch":0}');
  put(join(fp32, 'metrics.jsonl'), '{"epoch":0}\n');
  put(join(fp32, 'model-fp32.json'), '{"partial":true}');
  assert.equal(restoreStages(c), ['restored fp32 (finished) from results/checkpoints/']);
  assert.ok(stageDone(c, STAGES[0]!));
  assert.is(read(join(fp32, 'metrics.jsonl')), '{"epoch":0}\n{"epoch":1}\n');
  assert.is(read(join(fp32, 'model-fp32.json')), '{"final":true}');
  rmSync(c.root, { recursive: true });
});

const repo = fileURLToPath(new URL('..', import.meta.url));
const recipeOf = (f: string) => JSON.parse(readFileSync(join(repo, f), 'utf8')) as Record<string, unknown>;

test('plan check: publish only where the command writes a .bsw, after only names stages of the plan', () => {
  const train = (name: string, ...flags: string[]): Stage => ({ name, args: ['train', '--recipe', 'trainer/recipes/fashion-resnet8-joint.json', ...flags, '--out', 'RUN'], publish: name });
  assert.equal(planProblems([train('dr'), train('dr-explicit', '--quantizer', 'double-rounding'), train('a1', '--algorithm', 'a1')], recipeOf), []);
  assert.equal(planProblems([train('fl', '--quantizer', 'floor')], recipeOf), ['stage fl: publish: expected --quantizer double-rounding (the only one a .bsw stores), got "floor"; drop publish']);
  // separate training exports one Double Rounding file per bit, whatever --quantizer says
  assert.equal(planProblems([train('sep', '--algorithm', 'separate'), train('sep-floor', '--algorithm', 'separate', '--quantizer', 'floor')], recipeOf), []);
  assert.match(planProblems([{ name: 'p', args: ['pretrain', '--out', 'RUN'], publish: 'p' }], recipeOf)[0]!, /^stage p: publish: expected a train or pareto stage/);
  assert.equal(planProblems([{ name: 'x', after: ['nope'], args: ['search'] }], recipeOf), ['stage x: after: expected a stage of this plan, got "nope"']);
  // the quantizer can come from the recipe file too
  assert.match(planProblems([train('r')], () => ({ quantizer: 'dorefa' }))[0]!, /got "dorefa"/);
});

test('the committed plans pass the plan check', () => {
  const plans = ['results/plan.json', ...readdirSync(join(repo, 'test/fixtures')).filter((f) => /^reproduce-.*plan\.json$/.test(f)).map((f) => `test/fixtures/${f}`)];
  assert.ok(plans.length >= 3, plans.join(', '));
  for (const p of plans) {
    const plan = JSON.parse(readFileSync(join(repo, p), 'utf8')) as { stages: Stage[] };
    assert.equal(planProblems(plan.stages, recipeOf), [], p);
  }
});

test.run();
