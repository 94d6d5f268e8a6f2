// --resume with the flags a run was started with: the --recipe file's fields count as the run used
// them (a flag given again replaces the file's value, --init means no pre-training), so repeating
// the start command with --resume is accepted, and only a real change is refused, named by its flag.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkResumeFlags, recipeFromOptions } from '../src/recipe-options.ts';

const dir = mkdtempSync(join(tmpdir(), 'bitswitch-resume-flags-'));
const file = join(dir, 'recipe.json');
writeFileSync(file, JSON.stringify({ model: 'small-cnn', data: 'mnist', bits: [8, 4], alrs: 'code', pretrainEpochs: 3, epochs: 2, seed: 1 }));

const refusal = (fn: () => void): string => {
  try { fn(); } catch (e) { return (e as Error).message; }
  return '';
};

test('the start command again with --resume is accepted, overriding flags and --init included', () => {
  const start = { recipe: file, alrs: 'paper', algorithm: 'a1', seed: '1', init: 'fp32.json' };
  const recipe = recipeFromOptions(start);
  assert.is(recipe.alrs, 'paper');
  assert.is(recipe.pretrainEpochs, 0);
  assert.is(refusal(() => checkResumeFlags({ ...start, resume: true }, recipe)), '');
  // without the overriding flags the file's values differ from the run's
  assert.is(refusal(() => checkResumeFlags({ recipe: file, algorithm: 'a1', init: 'fp32.json' }, recipe)), '--recipe: a resumed run keeps its recipe (alrs paper); drop --recipe or start a new --out');
});

test('a changed flag or file field is refused, named by the flag', () => {
  const recipe = recipeFromOptions({ recipe: file, alrs: 'paper' });
  assert.is(recipe.pretrainEpochs, 3);
  assert.is(refusal(() => checkResumeFlags({ recipe: file, alrs: 'off' }, recipe)), '--alrs: a resumed run keeps its recipe (alrs paper); drop --alrs or start a new --out');
  assert.is(refusal(() => checkResumeFlags({ recipe: file, alrs: 'paper', epochs: '5' }, recipe)), '--epochs: a resumed run keeps its recipe (epochs 2); drop --epochs or start a new --out');
  // the run pre-trained for 3 epochs: --init now would mean none
  assert.is(refusal(() => checkResumeFlags({ recipe: file, alrs: 'paper', init: 'fp32.json' }, recipe)), '--init: a resumed run keeps its recipe (pretrainEpochs 3); drop --init or start a new --out');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
