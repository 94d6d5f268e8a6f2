// Drives the demo through `bitswitch serve` in headless Debian Chromium: the served page loads a
// model file (the trained MNIST fixture with its input descriptor and two SubNets) and MNIST test
// images from the data package, switches precision through the slider and a SubNet, and every
// prediction is checked against the Node runtime fed the same raw pixels. The page must be
// cross-origin isolated (serve's COOP + COEP), so the runtime runs on every core there. Then a
// damaged file and a model for other images are dropped on the page and must be explained in words.
// Fails (never skips) when Chromium is missing.
// Saves a screenshot to $BITSWITCH_SCREENSHOT (e.g. runtime/screenshot.png) when set, else to the OS temp folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { quantizedLayers, readModel, tinyModel, writeModel } from '@bitswitch/format';
import { argmax, createRuntime, type PrecisionSpec } from '@bitswitch/runtime';
import { inputDescriptor, loadMnist } from '@bitswitch/trainer';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const COUNT = 256;
const root = new URL('../../', import.meta.url).pathname;

/** Starts `bitswitch serve FILE --port 0` and resolves with its address once it prints it. */
function serve(file: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [join(root, 'cli/bin/bitswitch.mjs'), 'serve', file, '--port', '0', '--images', String(COUNT), '--data', 'mnist'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const fail = (why: string) => { child.kill(); reject(new Error(`bitswitch serve: ${why}\n${out}`)); };
    const timer = setTimeout(() => fail('no address printed within 60 s'), 60_000);
    const onData = (b: Buffer) => {
      out += b.toString();
      const m = out.match(/serving the demo at (http:\/\/127\.0\.0\.1:\d+\/)/);
      if (m) { clearTimeout(timer); resolve({ child, url: m[1] }); }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => { clearTimeout(timer); fail(`exited with ${code}`); });
  });
}

interface PageResult {
  model: string; precision: string; bits: number[]; predictions: number[]; logits: number[]; accuracy: number; latencyMs: number; activeBytes: number; rawInput: boolean;
  threads: number; pool?: { calls: number; blocks: number; callerBlocks: number }; hardwareConcurrency: number; crossOriginIsolated: boolean;
}

async function resultAfter(page: Page, action: () => Promise<void>, label: string): Promise<PageResult> {
  await action();
  await page.waitForFunction((l) => document.getElementById('status')?.textContent === `done: ${l}`, label, { timeout: 60_000 });
  return page.evaluate(() => (window as unknown as { demoResult: PageResult }).demoResult);
}

/** Picks a file through the page's file input (what dropping does) and waits for the error box. */
async function errorFor(page: Page, name: string, bytes: Uint8Array): Promise<string> {
  await page.setInputFiles('#file', { name, mimeType: 'application/octet-stream', buffer: Buffer.from(bytes) });
  await page.waitForFunction(() => !document.getElementById('error')!.hidden, null, { timeout: 30_000 });
  return (await page.textContent('#error'))!;
}

test('bitswitch serve: the demo in Chromium matches the Node runtime at every precision, and explains bad files', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (.ci/browser-deps.sh runs apt-get install -y chromium)`);
  // The trained MNIST fixture (the one the parity test uses) with its input descriptor and two hand-picked SubNets.
  const model = readModel(readFileSync(join(root, 'runtime/test/fixtures/mnist-small-cnn.bsw')));
  model.input = inputDescriptor(loadMnist());
  const layers = quantizedLayers(model).length;
  model.subnets = [
    { name: 'demo-high-first', bits: Array.from({ length: layers }, (_, i) => (i === 0 ? 8 : 4)), budget: {} },
    { name: 'demo-2bit-first', bits: Array.from({ length: layers }, (_, i) => (i === 0 ? 2 : 6)), budget: {} },
  ];
  const bytes = writeModel(model);
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-demo-'));
  const file = join(dir, 'served.bsw');
  writeFileSync(file, bytes);
  const { child, url } = await serve(file);
  const profile = join(dir, 'chromium');
  let context: BrowserContext | undefined;
  try {
    // the images the page gets, fetched the same way: the Node runtime classifies these raw pixels
    const res = await fetch(`${url}images.json`);
    assert.is(res.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.is(res.headers.get('cross-origin-embedder-policy'), 'require-corp');
    const meta = (await res.json()) as { count: number; labels: number[]; dataset: string };
    const pixels = new Uint8Array(await (await fetch(`${url}images.bin`)).arrayBuffer());
    assert.is(meta.count, COUNT);
    assert.is(meta.dataset, 'mnist');

    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setViewportSize({ width: 1000, height: 900 });
    await page.goto(url);
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('done'), null, { timeout: 60_000 });
    assert.is(await page.evaluate(() => globalThis.crossOriginIsolated), true, 'page cross-origin isolated');
    assert.match((await page.textContent('#model-info'))!, /^served\.bsw: 14 layers, 3 quantized/);
    assert.match((await page.textContent('#input-info'))!, /input from the file: mnist: NHWC 28x28x1 uint8 0\.\.255, mean \[0\.1307\], std \[0\.3081\], 10 labels/);
    assert.equal(await page.locator('#subnets li code').allTextContents(), model.subnets.map((s) => s.bits.join(' ')));

    const node = await createRuntime(bytes);
    const subnet = model.subnets[0].name;
    const steps: [PrecisionSpec, string, () => Promise<void>][] = [
      [8, 'w8a8', () => page.click('#classify')],
      ...[1, 2, 3].map((i): [PrecisionSpec, string, () => Promise<void>] => [model.bits[i], `w${model.bits[i]}a${model.bits[i]}`, () => page.locator('#bits').fill(String(i))]),
      [subnet, subnet, () => page.click(`#subnets button[data-subnet="${subnet}"]`)],
    ];
    for (const [spec, label, action] of steps) {
      const got = await resultAfter(page, action, label);
      node.setPrecision(spec);
      const logits = node.run(pixels, COUNT); // raw pixels: the Node runtime normalises them from INPT too
      assert.is(got.precision, label);
      assert.ok(got.rawInput, 'the page fed raw pixels');
      assert.equal(got.bits, node.precision.bits);
      assert.equal(got.predictions, Array.from(argmax(logits, COUNT)), `${label}: predictions differ from Node`);
      const diff = got.logits.reduce((d, v, i) => Math.max(d, Math.abs(v - logits[i])), 0);
      assert.ok(diff <= 1e-5, `${label}: max logit difference ${diff}`);
      // layers at ≤ 2 bits are packed with the family each engine measured fastest (panels of other sizes)
      if (got.bits.every((b) => b > 2)) assert.is(got.activeBytes, node.memory().activeBytes, `${label}: packed bytes`);
      else assert.ok(got.activeBytes > 0, `${label}: packed bytes`);
      assert.ok(got.crossOriginIsolated, 'page cross-origin isolated');
      assert.is(got.threads, got.hardwareConcurrency, `threads = navigator.hardwareConcurrency (${got.hardwareConcurrency})`);
      // createRuntime waited for the workers, so they took row blocks from the first run on
      if (got.threads > 1) assert.ok(got.pool && got.pool.calls > 0 && got.pool.blocks > got.pool.callerBlocks, `threaded GEMMs ran on the workers too: ${JSON.stringify(got.pool)}`);
      const nodeAccuracy = Array.from(argmax(logits, COUNT)).filter((p, i) => p === meta.labels[i]).length / COUNT;
      if (label === 'w8a8') assert.ok(nodeAccuracy > 0.7, `w8a8 accuracy ${nodeAccuracy}: the input normalisation is wrong`);
      assert.ok((await page.textContent('#accuracy'))!.startsWith(`${(100 * nodeAccuracy).toFixed(1)} %`), `${label}: accuracy shown`);
      assert.ok((await page.textContent('#bytes'))!.startsWith(got.activeBytes.toLocaleString('en-US')), `${label}: bytes shown`);
      console.log(`  chromium ${label}: ${COUNT} predictions = Node (${new Set(got.predictions).size} distinct classes), max |Δlogit| ${diff}, accuracy ${(100 * got.accuracy).toFixed(1)} %, ${got.latencyMs.toFixed(2)} ms/image, ${got.activeBytes} B, ${got.threads} threads (${got.pool ? `${got.pool.blocks - got.pool.callerBlocks} of ${got.pool.blocks} row blocks on workers so far` : 'no pool'})`);
    }
    assert.equal(errors, []);
    await page.screenshot({ path: process.env.BITSWITCH_SCREENSHOT ?? join(tmpdir(), 'bitswitch-demo-screenshot.png'), fullPage: true });

    // problems in words: a damaged file (FormatError), a model for other images, a missing model URL
    const damaged = bytes.slice(0, bytes.length - 16);
    assert.match(await errorFor(page, 'cut.bsw', damaged), /^cut\.bsw is damaged or is not a bitswitch model file \(file length \(byte 16\): the file is truncated: it has \d+ bytes but its header says \d+ — copy or download it again\)/);
    assert.match(await errorFor(page, 'tiny.bsw', writeModel(tinyModel(1))), /^tiny\.bsw takes 8×8×1 images, but the sample images are 28×28×1 \(mnist\)\. Open a model trained on mnist/);
    await page.goto(`${url}?model=missing.bsw`);
    await page.waitForFunction(() => !document.getElementById('error')!.hidden, null, { timeout: 30_000 });
    assert.match((await page.textContent('#error'))!, /^No model file at missing\.bsw\. Drop a \.bsw file on this page/);
    assert.equal(errors, []);
  } finally {
    await context?.close();
    child.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
