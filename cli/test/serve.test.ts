// `bitswitch serve`: spawns the bin, checks the address line, the isolation headers on every
// response, the files it serves (page, model bytes, sample images from the data package) and the
// one-line errors for a missing or damaged file and bad flags.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readModel, tinyModelV12, writeModel } from '@bitswitch/format';
import { CLASS_NAMES, inputDescriptor, loadDataset } from '@bitswitch/trainer';

const root = new URL('../..', import.meta.url).pathname;
const bin = join(root, 'cli/bin/bitswitch.mjs');
const dir = mkdtempSync(join(tmpdir(), 'bitswitch-serve-'));
const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });

function serve(...args: string[]): Promise<{ child: ChildProcess; url: string; line: string }> {
  const child = spawn(process.execPath, [bin, 'serve', '--port', '0', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = out.match(/^serving the demo at (http:\/\/127\.0\.0\.1:\d+\/) — .*\n/);
      if (m) resolve({ child, url: m[1], line: m[0] });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${out}`)));
  });
}

test('serve FILE: page, model and fashion-mnist sample images (the data set the file records), all cross-origin isolated', async () => {
  const model = readModel(readFileSync(join(root, 'runtime/test/fixtures/mnist-small-cnn.bsw')));
  const ds = loadDataset('fashion-mnist');
  model.input = inputDescriptor(ds); // only the recorded data set matters here
  const file = join(dir, 'fashion.bsw');
  const bytes = writeModel(model);
  writeFileSync(file, bytes);
  const { child, url, line } = await serve(file, '--images', '30');
  try {
    assert.is(line, `serving the demo at ${url} — model ${file}, 30 fashion-mnist test images; Ctrl-C stops\n`);
    for (const path of ['', 'demo.js', 'model.bsw', 'images.json', 'images.bin', 'missing']) {
      const res = await fetch(url + path);
      assert.is(res.status, path === 'missing' ? 404 : 200, path);
      assert.is(res.headers.get('cross-origin-opener-policy'), 'same-origin', path);
      assert.is(res.headers.get('cross-origin-embedder-policy'), 'require-corp', path);
    }
    assert.match(await (await fetch(url)).text(), /<script type="module" src="\.\/demo\.js"><\/script>/);
    const served = await fetch(`${url}model.bsw`);
    assert.is(served.headers.get('x-model-name'), 'fashion.bsw');
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(bytes)), 'model bytes as in the file');
    const meta = await (await fetch(`${url}images.json`)).json() as Record<string, unknown>;
    const pixels = new Uint8Array(await (await fetch(`${url}images.bin`)).arrayBuffer());
    // 3 per class from the test split, in split order
    const want: number[] = [];
    const taken = new Array(10).fill(0);
    for (let i = 0; i < ds.test.count && want.length < 30; i++) if (taken[ds.test.labels[i]]++ < 3) want.push(i);
    assert.equal(meta, { count: 30, shape: [28, 28, 1], labels: want.map((i) => ds.test.labels[i]), mean: [0.286], std: [0.353], dataset: 'fashion-mnist', classNames: CLASS_NAMES['fashion-mnist'] });
    assert.is(pixels.length, 30 * 784);
    want.forEach((src, j) => assert.ok(Buffer.from(pixels.subarray(j * 784, (j + 1) * 784)).equals(Buffer.from(ds.test.images.subarray(src * 784, (src + 1) * 784))), `image ${j}`));
  } finally {
    child.kill();
  }
});

test('serve with no FILE serves the demo package\'s default model (a copy of models/mnist-cnn-w8642.bsw) and mnist images', async () => {
  const { child, url, line } = await serve('--images', '10');
  try {
    assert.match(line, /— model .*examples\/browser\/dist\/default\.bsw, 10 mnist test images; Ctrl-C stops/);
    const served = new Uint8Array(await (await fetch(`${url}model.bsw`)).arrayBuffer());
    assert.equal(served, new Uint8Array(readFileSync(join(root, 'models/mnist-cnn-w8642.bsw'))));
    const model = readModel(served);
    assert.is(model.input?.dataset, 'mnist');
  } finally {
    child.kill();
  }
});

test('serve: a missing file, a damaged file and bad flags are one-line errors (exit 1)', () => {
  const cut = join(dir, 'cut.bsw');
  const good = writeModel(tinyModelV12(1));
  writeFileSync(cut, good.subarray(0, good.length - 16));
  const cases: [string[], string][] = [
    [['serve', join(dir, 'none.bsw')], `bitswitch serve: ${join(dir, 'none.bsw')}: no such file — expected a .bsw model file\n`],
    [['serve', cut], `bitswitch serve: ${cut}: damaged or not a bitswitch model: file length (byte 16): the file is truncated: it has ${good.length - 16} bytes but its header says ${good.length} — copy or download it again\n`],
    [['serve', dir], `bitswitch serve: ${dir}: is a folder — expected a .bsw model file\n`],
    [['serve', '--port', '70000'], 'bitswitch serve: --port: expected a whole number in 0..65535, got "70000"\n'],
    [['serve', '--data', 'cifar'], 'bitswitch serve: --data: expected one of mnist, fashion-mnist, got "cifar"\n'],
  ];
  for (const [args, stderr] of cases) {
    const r = run(...args);
    assert.is(r.status, 1, args.join(' '));
    assert.is(r.stderr, stderr);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
