import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BUILDS, availableBuilds, buildBytes, createKernels, loadKernels } from '../src/index.ts';

test('the scalar and fixed-SIMD builds always validate; the best validating build is the default', async () => {
  const builds = availableBuilds();
  assert.ok(builds.includes('simd') && builds.includes('scalar'), builds.join(','));
  assert.is((await loadKernels()).build, builds[0]);
  assert.is(createKernels().build, builds[0]);
});

test('relaxed validates exactly when the engine accepts relaxed SIMD (Node 20: --experimental-wasm-relaxed-simd)', () => {
  const relaxedOk = WebAssembly.validate(buildBytes('relaxed'));
  assert.is(availableBuilds().includes('relaxed'), relaxedOk);
  if (process.execArgv.includes('--experimental-wasm-relaxed-simd')) assert.ok(relaxedOk, 'flag given but relaxed did not validate');
});

test('every build can be forced', async () => {
  for (const build of availableBuilds()) {
    assert.is((await loadKernels({ build })).build, build);
    assert.is(createKernels({ build }).build, build);
  }
});

test('the builds differ: only the SIMD builds use v128, only relaxed needs the relaxed feature', () => {
  const sizes = BUILDS.map((b) => buildBytes(b).length);
  assert.ok(new Set(sizes).size === 3, `sizes ${sizes}`);
  // the scalar build must validate on any wasm MVP+ engine, hence no SIMD; checked by compiling it
  assert.ok(WebAssembly.validate(buildBytes('scalar')));
});

test('unknown builds are rejected with RangeError', () => {
  assert.throws(() => createKernels({ build: 'avx' as never }), (e: Error) => e instanceof RangeError && /build: expected one of relaxed, simd, scalar/.test(e.message));
});

test('the resident allocator reuses freed memory and keeps blocks apart', () => {
  const k = createKernels({ build: 'scalar' });
  const a = k.resident(new Uint8Array(1000).fill(1));
  const b = k.resident(new Uint8Array(1000).fill(2));
  assert.ok(b.ptr >= a.ptr + 1000);
  const used = k.residentBytes;
  k.free(a);
  const c = k.resident(new Uint8Array(500).fill(3));
  assert.is(c.ptr, a.ptr);
  assert.is(k.u8()[b.ptr], 2);
  k.free(b); k.free(c);
  assert.ok(k.residentBytes < used);
  assert.is(k.residentBytes, 0);
});

test.run();
