// `pnpm bench:infer --browser` at a tiny scale (one round, bitswitch and the tfjs peer): the page is
// cross-origin isolated, the runtime runs threaded there (worker threads took GEMM row blocks), the
// peer passes its float check, and bitswitch's logits in Chromium equal the Node runtime's for the
// same inputs bit for bit at every precision. Fails (never skips) when Chromium is missing.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync } from 'node:fs';
import { Runtime, createBackend } from '@bitswitch/runtime';
import { CHROMIUM, runInBrowser } from '@bitswitch/bench/browser';
import { serveSite } from '../../bench/src/browser/server.ts';
import { BATCH, SPECS, benchInputs, runInfer } from '../../bench/src/infer-run.ts';
import { printInfer } from '../../bench/src/infer-print.ts';

test('the bench server: isolation headers, application/wasm, nothing outside its list', async () => {
  const root = new URL('../../', import.meta.url).pathname;
  const { server, url } = await serveSite({ files: { '/index.html': '<!doctype html>' }, folders: { '/k/': { dir: `${root}kernels/src/generated`, match: /\.(js|wasm)$/ } } });
  try {
    const page = await fetch(url);
    assert.is(page.status, 200);
    assert.is(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.is(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.is(page.headers.get('content-type'), 'text/html; charset=utf-8');
    for (const path of ['/k/../../package.json', '/k/index.ts', '/missing.js']) assert.is((await fetch(url + path.slice(1))).status, 404, path);
  } finally {
    server.close();
  }
});

test('a peer that cannot start gets a row saying why, and no figures or ratios', async () => {
  const t0 = performance.now();
  const result = await runInfer({ threads: 1, rounds: 1, scale: 0.01, backend: 'kernels', peers: ['litert'] }, {
    startLiteRt: () => Promise.reject(new Error('no LiteRT.js on this engine\nsecond line')),
  });
  assert.equal(result.peers.map((p) => [p.name, p.unavailable]), [['LiteRT.js int8', 'no LiteRT.js on this engine']]);
  assert.equal(result.ratios, [], 'no ratios against a peer that did not run');
  assert.ok(result.rows.every((r) => r.latencyMs > 0 && r.batchMsPerImage > 0), 'the runtime rows are timed');
  const lines: string[] = [];
  printInfer(result, 'test', (l) => lines.push(l));
  assert.ok(lines.includes('| LiteRT.js int8 | not run here: no LiteRT.js on this engine | – | – | – |'), lines.join('\n'));
  console.log(`  unavailable peer: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
});

test('bench:infer --browser: cross-origin isolated, threaded, and the runtime in Chromium equals Node bit for bit', async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: install Debian's chromium (.ci/browser-deps.sh runs apt-get install -y chromium)`);
  const [{ page, result }] = await runInBrowser([2], { rounds: 1, scale: 0.02, backend: 'kernels', peers: ['tfjs'], keepOutputs: true }, () => {});
  assert.ok(page.crossOriginIsolated, 'page cross-origin isolated');
  assert.is(result.threads, 2);
  if (page.hardwareConcurrency > 1) {
    assert.ok(result.pool && result.pool.calls > 0 && result.pool.blocks > result.pool.callerBlocks, `worker threads ran GEMM row blocks: ${JSON.stringify(result.pool)}`);
  }
  assert.is(result.peers.length, 1);
  const [tfjs] = result.peers;
  assert.is(tfjs.unavailable, undefined, `tfjs ran: ${tfjs.unavailable}`);
  if (tfjs.unavailable === undefined) assert.ok(tfjs.check.ok && tfjs.latencyMs > 0 && tfjs.batchMsPerImage > 0, 'tfjs timed and checked');

  const { model, many } = benchInputs();
  const rt = new Runtime(model, createBackend('kernels'));
  assert.is(result.rows.length, SPECS.length);
  for (const spec of SPECS) {
    const label = rt.setPrecision(spec).label;
    const node = Array.from(rt.run(many, BATCH));
    const chromium = result.outputs?.[`bitswitch ${label}`];
    assert.ok(chromium, `${label}: outputs from the page`);
    assert.is(chromium.length, node.length);
    const differing = node.filter((v, i) => !Object.is(v, chromium[i])).length;
    assert.is(differing, 0, `${label}: ${differing} of ${node.length} logits differ (Node ${rt.backend.name}, Chromium ${result.backend})`);
  }
  console.log(`  chromium (${page.browser}, hardwareConcurrency ${page.hardwareConcurrency}): ${result.threads} threads, ${result.pool ? `${result.pool.blocks - result.pool.callerBlocks} of ${result.pool.blocks} row blocks on workers` : 'no pool'}; ${SPECS.length} precisions × ${BATCH} images: logits = Node (${rt.backend.name} / ${result.backend})`);
  rt.dispose();
});

test.run();
