// The measured family choice: only shapes with several candidate families are timed, once per
// shape; the winner is the fastest median of the families tried; the timing packs leave nothing behind.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { familiesOf, loadKernels } from '../src/index.ts';
import { KERNELS } from './helpers.ts';

for (const kern of KERNELS) {
  test(`${kern.build}: fastestFamily measures shapes with several families once and picks the fastest`, () => {
    const before = kern.residentBytes;
    for (const [wbits, abits, n, k] of [[2, 2, 16, 144], [2, 2, 33, 70], [8, 8, 16, 144], [4, 4, 64, 576], [1, 3, 5, 9]]) {
      const candidates = familiesOf(kern.build).filter((f) => f.supports(wbits, abits)).map((f) => f.name);
      const measuredBefore = kern.familyChoices.length;
      const name = kern.fastestFamily(wbits, abits, n, k);
      assert.ok(candidates.includes(name), `${name} supports w${wbits}a${abits}`);
      const choice = kern.familyChoices.find((c) => c.wbits === wbits && c.abits === abits && c.n === n && c.k === k);
      if (candidates.length < 2) {
        assert.is(choice, undefined, `w${wbits}a${abits}: one family, nothing to measure`);
        assert.is(kern.familyChoices.length, measuredBefore);
        continue;
      }
      assert.ok(choice, `w${wbits}a${abits} ${n}x${k} measured`);
      assert.equal(choice!.times.map((t) => t.family), candidates, 'every candidate timed, in table order');
      assert.ok(choice!.times.every((t) => t.ms > 0 && Number.isFinite(t.ms)));
      assert.is(choice!.family, name);
      assert.is(Math.min(...choice!.times.map((t) => t.ms)), choice!.times.find((t) => t.family === name)!.ms, 'the winner has the lowest median');
      // cached: no second measurement of the same shape
      assert.is(kern.fastestFamily(wbits, abits, n, k), name);
      assert.is(kern.familyChoices.length, measuredBefore + 1);
    }
    assert.is(kern.residentBytes, before, 'timing packs are disposed');
  });

  test(`${kern.build}: widths with the same candidate families share one measurement per shape`, () => {
    const names = (w: number, a: number) => familiesOf(kern.build).filter((f) => f.supports(w, a)).map((f) => f.name).join();
    const count = kern.familyChoices.length;
    const first = kern.fastestFamily(6, 6, 24, 72);
    const second = kern.fastestFamily(4, 4, 24, 72);
    const same = names(6, 6) === names(4, 4);
    if (same) assert.is(second, first, 'w4a4 takes the w6a6 measurement');
    const measured = names(6, 6).includes(',') ? 1 : 0;
    assert.is(kern.familyChoices.length, count + (same ? measured : measured + (names(4, 4).includes(',') ? 1 : 0)));
  });
}

test('only the first measurement of a Kernels instance warms up, until its round times stop falling', async () => {
  const kn = await loadKernels({ build: KERNELS[0].build });
  const shapes = [[2, 2, 16, 144], [2, 2, 32, 288], [2, 2, 64, 576]];
  for (const [w, a, n, k] of shapes) kn.fastestFamily(w, a, n, k);
  const choices = kn.familyChoices;
  if (choices.length === 0) return void assert.is(familiesOf(kn.build).filter((f) => f.supports(2, 2)).length, 1, 'nothing to measure: one family');
  // at least 8 rounds in a row no faster than the best (or the 300 ms cap, which needs many rounds too)
  assert.ok(choices[0].warmRounds >= 8, `first: ${choices[0].warmRounds} warm-up rounds`);
  for (const c of choices.slice(1)) assert.is(c.warmRounds, 0, `${c.n}x${c.k}: no second warm-up`);
});

test('with a thread pool, the timed GEMMs run on the calling thread (a hand-off would dwarf them) and later GEMMs use the pool again', async () => {
  const kn = await loadKernels({ build: KERNELS[0].build, threads: 2 });
  try {
    await kn.whenThreadsReady();
    const stats = kn.poolStats;
    if (!stats) return void assert.ok(kn.threadNote, 'no pool only where shared memory or workers are missing, with a note');
    const calls = stats.calls;
    // 128 rows × 64 × 576 is well above the pool's minimum size
    kn.fastestFamily(2, 2, 64, 576);
    assert.ok(kn.familyChoices.length > 0, 'measured');
    assert.is(kn.poolStats!.calls, calls, 'no pool call while measuring');
    const w = new Int8Array(64 * 576);
    const pw = kn.packGemmWeights(w, 2, 64, 576, { abits: 2 });
    kn.gemm({ a: new Uint8Array(256 * 576), m: 256, k: 576, weights: pw, abits: 2 });
    pw.dispose();
    assert.is(kn.poolStats!.calls, calls + 1, 'the next GEMM uses the pool');
  } finally {
    kn.dispose();
  }
});

test.run();
