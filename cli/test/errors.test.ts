// The bitswitch command guides its user: one error line `bitswitch <command>: <what> — <how to fix>`,
// exit 1 for bad input, 2 for a bug (stack under --debug), 130 after Ctrl-C. Each case spawns the bin.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tinyModel, writeModel } from '@bitswitch/format';
import { errorReport } from '../src/errors.ts';

const root = new URL('../..', import.meta.url).pathname;
const bin = 'cli/bin/bitswitch.mjs';
const golden = 'format/test/golden/tiny-v1.bsw';
const mnistModel = 'runtime/test/fixtures/mnist-small-cnn.bsw';
const dir = mkdtempSync(join(tmpdir(), 'bitswitch-errors-'));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });
/** One line on stderr, no stack trace. */
const oneLine = (stderr: string) => assert.ok(/^[^\n]+\n$/.test(stderr) && !/\n\s+at /.test(stderr), `expected one line, got ${JSON.stringify(stderr)}`);

test('--version prints cli/package.json\'s version', () => {
  const v = run('--version');
  assert.is(v.status, 0);
  assert.is(v.stdout.trim(), JSON.parse(readFileSync(join(root, 'cli/package.json'), 'utf8')).version);
});

test('train --help shows the recipe defaults a bare `train` would use', () => {
  const r = spawnSync(process.execPath, [bin, 'train', '--help'], { cwd: root, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  // commander wraps help at the terminal's width (80 columns without one): compare unwrapped
  const help = r.stdout.replace(/\s+/g, ' ');
  assert.match(help, /--bits <list> +bit list, descending, e\.g\. 8,6,4,2 \(default: 8,6,4,2, or the --recipe file's\)/);
  assert.match(help, /--pretrain-epochs <n> +float32 pre-training epochs before the quantized ones \(default: 2, or the --recipe file's\); 0 with --init/);
  assert.match(help, /--backend <name> +auto \| tensorflow \| webgpu \| wasm \| cpu \(default: "auto"\)/);
});

test('commander\'s own errors use the same style and point at --help', () => {
  const r = run('inspect', golden, '--bogus');
  assert.is(r.status, 1);
  assert.is(r.stderr, "bitswitch inspect: unknown option '--bogus' — see bitswitch inspect --help\n");
});

test('an unexpected failure: exit 2, a short message, the stack only with --debug', () => {
  const bug = new TypeError('x is undefined');
  const short = errorReport(bug, 'bitswitch eval', false);
  assert.is(short.code, 2);
  assert.is(short.text, 'bitswitch eval: unexpected failure: x is undefined (run again with --debug for the stack trace)');
  const long = errorReport(bug, 'bitswitch eval', true);
  assert.is(long.code, 2);
  assert.ok(long.text.startsWith('bitswitch eval: unexpected failure: x is undefined\nTypeError: x is undefined\n    at '), long.text);
  assert.equal(errorReport(new RangeError('--bits: expected 2..8'), 'bitswitch train', true), { text: 'bitswitch train: --bits: expected 2..8', code: 1 });
});

test('a truncated model file says it is truncated, with both sizes', () => {
  const bytes = readFileSync(join(root, golden));
  const cut = join(dir, 'cut.bsw');
  writeFileSync(cut, bytes.subarray(0, 3000));
  const r = run('inspect', cut);
  assert.is(r.status, 1);
  oneLine(r.stderr);
  assert.is(r.stderr, `bitswitch inspect: ${cut}: file length (byte 16): the file is truncated: it has 3000 bytes but its header says ${bytes.length} — copy or download it again\n`);
});

test('search on a model without a sensitivity section names the sensitivity command', () => {
  const m = tinyModel();
  delete m.sensitivity;
  const file = join(dir, 'fresh.bsw');
  writeFileSync(file, writeModel(m));
  const r = run('search', file, '--budget', 'avg-bits=2..8');
  assert.is(r.status, 1);
  oneLine(r.stderr);
  assert.is(r.stderr, `bitswitch search: ${file}: has no sensitivity section (per-layer Hessian traces) — run \`bitswitch sensitivity ${file} --data DATASET --out MODEL.bsw\` first and search MODEL.bsw\n`);
});

test('eval: a folder, --limit 0 and bits the model lacks are one-line errors', () => {
  const folder = run('eval', 'cli');
  assert.is(folder.status, 1);
  assert.is(folder.stderr, 'bitswitch eval: cli: is a folder — expected a .bsw model file\n');
  const limit = run('eval', mnistModel, '--limit', '0', '--bits', '8,3');
  assert.is(limit.status, 1);
  assert.is(limit.stderr, 'bitswitch eval: --limit: expected an integer ≥ 1, got "0"\n');
});

test('eval --bits evaluates only those bits and warns when --data is not the model\'s data set', () => {
  const r = run('eval', mnistModel, '--data', 'fashion-mnist', '--bits', '8,2', '--limit', '20', '--backend', 'cpu');
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stderr, `bitswitch eval: warning: ${mnistModel} was trained on mnist, evaluating on --data fashion-mnist; expect chance-level accuracy\n`);
  assert.equal(r.stdout.match(/^ {2}w\da\d/gm), ['  w8a8', '  w2a2']);
});

test('train: --out naming a file, and a bad --bits named as typed (not options.bits)', () => {
  const file = join(dir, 'a-file');
  writeFileSync(file, '');
  const out = run('train', '--out', file);
  assert.is(out.status, 1);
  assert.is(out.stderr, `bitswitch train: --out: ${file} is a file — expected a folder for the run (new, or one to --resume)\n`);
  const bits = run('train', '--out', join(dir, 'never'), '--bits', '8,9');
  assert.is(bits.status, 1);
  assert.is(bits.stderr, 'bitswitch train: --bits: expected distinct integers in 2..8 in descending order, got [8,9]\n');
  assert.not.ok(existsSync(join(dir, 'never')));
});

test('Ctrl-C during train: stops at a step, keeps a checkpoint, prints the resume hint, exit 130; --resume refuses new --bits', async () => {
  const out = join(dir, 'run');
  const p = spawn(process.execPath, [bin, 'train', '--out', out, '--model', 'small-cnn', '--data', 'mnist', '--bits', '8,4', '--epochs', '50',
    '--pretrain-epochs', '0', '--train-limit', '40', '--test-limit', '20', '--batch-size', '10', '--checkpoint-every', '100', '--log-steps',
    '--workers', '1', '--backend', 'cpu'], { cwd: root });
  let stdout = '';
  let stderr = '';
  p.stdout.on('data', (d) => {
    stdout += d;
    if (/step epoch=0 step=1 /.test(stdout) && !p.killed) p.kill('SIGINT');
  });
  p.stderr.on('data', (d) => { stderr += d; });
  const code = await new Promise<number | null>((resolve) => p.on('close', resolve));
  assert.is(code, 130, stderr);
  assert.match(stderr, `interrupted; continue with: bitswitch train --out ${out} --resume\n`);
  assert.ok(existsSync(join(out, 'checkpoint.json')), 'a checkpoint to resume from');
  const resumed = run('train', '--out', out, '--resume', '--bits', '8,3', '--backend', 'cpu');
  assert.is(resumed.status, 1);
  assert.is(resumed.stderr, 'bitswitch train: --bits: a resumed run keeps its recipe (bits 8,4); drop --bits or start a new --out\n');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
