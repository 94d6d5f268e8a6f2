// The input descriptor end to end: what the trainer records (inputDescriptor) makes the runtime
// normalise raw pixels exactly as the trainer's batches do, and `bitswitch eval` reads the data set
// from it.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModel, writeModel } from '@bitswitch/format';
import { normalizeInput } from '@bitswitch/runtime';
import { NO_AUGMENT, Rng, inputDescriptor, loadDataset, makeBatch } from '@bitswitch/trainer';

const root = new URL('..', import.meta.url).pathname;

for (const name of ['mnist', 'fashion-mnist']) {
  test(`${name}: the runtime's normalisation of raw pixels equals the trainer's batches, bit for bit`, () => {
    const ds = loadDataset(name);
    const n = 64;
    const { x } = makeBatch(ds, ds.test, Int32Array.from({ length: n }, (_, i) => i), NO_AUGMENT, new Rng(0));
    const d = inputDescriptor(ds);
    assert.is(d.dataset, name);
    assert.is(d.labels!.length, ds.classes);
    const got = normalizeInput(d, ds.test.images.subarray(0, n * 784), n);
    assert.equal(Array.from(got), Array.from(x as Float32Array));
  });
}

test('eval takes the data set from INPT and warns in one line when --data differs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-input-'));
  try {
    const model = readModel(readFileSync(join(root, 'runtime/test/fixtures/mnist-small-cnn.bsw')));
    delete model.metadata!.dataset;
    model.input = inputDescriptor(loadDataset('mnist'));
    const file = join(dir, 'm.bsw');
    writeFileSync(file, writeModel(model));
    const run = (...args: string[]) => spawnSync(process.execPath, ['cli/bin/bitswitch.mjs', 'eval', file, '--bits', '8', '--limit', '10', '--backend', 'cpu', ...args], { cwd: root, encoding: 'utf8' });
    const plain = run();
    assert.is(plain.status, 0, plain.stderr);
    assert.match(plain.stdout, /on mnist \(10 test images/);
    const other = run('--data', 'fashion-mnist');
    assert.is(other.status, 0, other.stderr);
    assert.is(other.stderr, `bitswitch eval: warning: ${file} was trained on mnist, evaluating on --data fashion-mnist; expect chance-level accuracy\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
