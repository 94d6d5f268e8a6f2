// Stage provenance (scripts/segments.ts): what a segment records and the report's table of them.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendSegment, currentCommit, machine, parseRunInfo, readSegments, segmentsTable, type Segment } from '../scripts/segments.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

test('backend and workers from what the trainer\'s commands print', () => {
  const fresh = 'backend wasm; passed over: tensorflow-gpu: not installed\ntraining resnet20 on fashion-mnist (60000 train / 10000 test images), bits {8,6,4,2}, a2, ALRS code, backend wasm, 2 workers, 2 BN shards\n';
  assert.equal(parseRunInfo(fresh), { backend: 'wasm', workers: 2 });
  assert.equal(parseRunInfo('resuming runs/x at epoch 3, step 50 (backend tensorflow-gpu, 1 worker, 2 BN shards)'), { backend: 'tensorflow-gpu', workers: 1 });
  assert.equal(parseRunInfo('backend wasm; 2 workers; 8 quantized layers, B = [8,6,4,2], 60000 training images, 469 batches/epoch'), { backend: 'wasm', workers: 2 });
  assert.equal(parseRunInfo('backend wasm, 1 worker; 400 probes in 300.0 s (0.75 s per probe), converged'), { backend: 'wasm', workers: 1 });
  assert.equal(parseRunInfo('wrote multi.bsw'), { backend: null, workers: null });
});

test('the commit is HEAD (12 hex digits, "+changes" when tracked code differs); outside git "unknown"', () => {
  assert.match(currentCommit(root), /^[0-9a-f]{12}(\+changes)?$/);
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-seg-'));
  assert.is(currentCommit(dir), 'unknown');
  rmSync(dir, { recursive: true });
  assert.match(machine(), /^\d+× .+, \d+ GiB$/);
});

const seg = (over: Partial<Segment>): Segment => ({
  started: '2026-11-30T10:00:00.000Z', seconds: 3600, exit: 0, commit: 'abc123abc123', command: 'bitswitch train --out runs/reproduce/a',
  machine: '2× Xeon, 24 GiB', node: 'v20.20.2', backend: 'wasm', workers: 2, ...over,
});

test('segments append and read back; the table sums wall time and lists distinct commits and setups', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bitswitch-seg-'));
  appendSegment(dir, seg({}));
  appendSegment(dir, seg({ seconds: 1800, exit: 130, commit: 'def456def456' }));
  appendSegment(dir, seg({ seconds: 1800, command: 'bitswitch train --out runs/reproduce/a --resume' }));
  const segs = readSegments(join(dir, 'runs.jsonl'));
  assert.is(segs.length, 3);
  assert.is(segs[1]!.exit, 130);
  const table = segmentsTable([{ name: 'a' }, { name: 'b' }], (n) => (n === 'a' ? segs : []));
  assert.is(table.length, 3, 'header, rule, one row (b has no segments)');
  assert.is(table[2], '| a | 3 | abc123abc123, def456def456 | 2× Xeon, 24 GiB, Node v20.20.2 | wasm × 2 | 2.0 h | `bitswitch train --out runs/reproduce/a --resume` |');
  assert.equal(segmentsTable([{ name: 'b' }], () => []), ['No stage has run since segments are logged.']);
  assert.equal(readSegments(join(dir, 'missing.jsonl')), []);
  rmSync(dir, { recursive: true });
});

test.run();
