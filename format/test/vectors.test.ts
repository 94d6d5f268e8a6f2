// Where the reference vectors come from: the in-repo copy, overridden by BITSWITCH_VECTORS, and
// byte-identical to the shared originals whenever those sit beside the repository.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { bundledVectorsDir, readVectors, repoRoot, vectorsDir } from '../src/node.ts';

const FILES = ['activation.json', 'alrs.json', 'double_rounding.json', 'gemm.json', 'ilp.json', 'roulette.json'];

/** Runs fn with BITSWITCH_VECTORS set to value (or unset), restoring the caller's setting. */
function withEnv<T>(value: string | undefined, fn: () => T): T {
  const saved = process.env.BITSWITCH_VECTORS;
  if (value === undefined) delete process.env.BITSWITCH_VECTORS; else process.env.BITSWITCH_VECTORS = value;
  try { return fn(); } finally {
    if (saved === undefined) delete process.env.BITSWITCH_VECTORS; else process.env.BITSWITCH_VECTORS = saved;
  }
}

test('without BITSWITCH_VECTORS the in-repo copy is used, and it holds every vector file', () => {
  withEnv(undefined, () => {
    assert.is(vectorsDir(), bundledVectorsDir);
    for (const f of FILES) {
      const v = readVectors(f);
      assert.ok(v.cases !== undefined, `${f}: no "cases"`);
    }
  });
  assert.is(bundledVectorsDir, resolve(repoRoot, 'format/test/vectors'));
});

test('BITSWITCH_VECTORS names another folder and every read goes there', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bsw-vectors-'));
  try {
    writeFileSync(join(dir, 'alrs.json'), JSON.stringify({ seed: 7, cases: { eta_by_delta: { 0: 123 } } }));
    withEnv(dir, () => {
      assert.is(vectorsDir(), dir);
      assert.equal(readVectors('alrs.json'), { seed: 7, cases: { eta_by_delta: { 0: 123 } } });
      assert.throws(() => readVectors('gemm.json'), /gemm\.json: reference vector file not found/);
    });
    withEnv(join(dir, 'missing'), () => assert.throws(() => vectorsDir(), /BITSWITCH_VECTORS: expected a folder/));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The originals live outside the repository; a clone without them checks only the copy itself.
const shared = resolve(repoRoot, '../shared/vectors');
const sharedTest = existsSync(shared) ? test : test.skip;
sharedTest('the in-repo copy is byte-identical to ../shared/vectors', () => {
  const theirs = readdirSync(shared).filter((f) => f.endsWith('.json')).sort();
  assert.equal(theirs, FILES);
  for (const f of FILES) assert.ok(readFileSync(join(shared, f)).equals(readFileSync(join(bundledVectorsDir, f))), `${f} differs from ${shared}/${f}`);
});

test.run();
