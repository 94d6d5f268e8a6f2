// Loading from memory, a file and a URL gives the same runtime; the latency table has one
// row per (quantized layer, bit) in the documented shape.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FormatError, writeModel } from '@bitswitch/format';
import { buildResNet, randomImages } from '../src/testing.ts';
import { Runtime } from '../src/executor.ts';
import { createRuntime, loadModel } from '../src/load.ts';
import { measureLayerLatency } from '../src/latency.ts';
import { createBackend } from '../src/backends.ts';

const model = buildResNet({ inputShape: [8, 8, 1], blocks: 1, widths: [4, 8], calibrationImages: 2 });
const bytes = writeModel(model);
const images = randomImages(model.inputShape, 2, 3);
const expected = new Runtime(model, createBackend('kernels'), 4).run(images, 2);

test('memory, file and URL sources give the same logits as the in-memory Model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-runtime-'));
  const file = join(dir, 'model.bsw');
  writeFileSync(file, bytes);
  const server = createServer((_, res) => res.end(Buffer.from(bytes)));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    for (const source of [bytes, bytes.buffer.slice(0) as ArrayBuffer, file, new URL(`file://${file}`), `http://127.0.0.1:${port}/model.bsw`]) {
      const rt = await createRuntime(source, { precision: 4 });
      assert.equal(Array.from(rt.run(images, 2)), Array.from(expected), String(source));
    }
  } finally {
    server.close();
  }
});

test('a corrupted file is a FormatError from the reader', async () => {
  const bad = bytes.slice();
  bad[0] ^= 0xff;
  try {
    await loadModel(bad);
    assert.unreachable('expected a FormatError');
  } catch (e) {
    assert.instance(e, FormatError);
  }
});

test('measureLayerLatency: {layer, bits, ms} for every quantized layer × model bit, graph order', () => {
  const rt = new Runtime(model, createBackend('kernels'));
  const rows = measureLayerLatency(rt, { minMs: 1 });
  const want = rt.quantizedLayerNames.flatMap((layer) => model.bits.map((bits) => ({ layer, bits })));
  assert.equal(rows.map(({ layer, bits }) => ({ layer, bits })), want);
  for (const r of rows) {
    assert.equal(Object.keys(r).sort(), ['bits', 'layer', 'ms']);
    assert.ok(Number.isFinite(r.ms) && r.ms > 0, `${r.layer}@${r.bits}: ${r.ms}`);
  }
  assert.equal(JSON.parse(JSON.stringify(rows)), rows);
});

test.run();
