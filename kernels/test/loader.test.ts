import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { BUILDS, availableBuilds, buildBytes, createKernels, loadKernels } from '../src/index.ts';

test('the scalar and fixed-SIMD builds always validate; the best validating build is the default', async () => {
  const builds = availableBuilds();
  assert.ok(builds.includes('simd') && builds.includes('scalar'), builds.join(','));
  assert.is((await loadKernels()).build, builds[0]);
  assert.is(createKernels().build, builds[0]);
});

/** Smallest modules that use one feature: a v128 constant (SIMD), and i32x4.relaxed_trunc_f32x4_s (relaxed SIMD). */
const SIMD_PROBE = Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 22, 1, 20, 0, 0xfd, 0x0c, ...new Array(16).fill(0), 0x0b);
const RELAXED_PROBE = Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 25, 1, 23, 0, 0xfd, 0x0c, ...new Array(16).fill(0), 0xfd, 0x81, 0x02, 0x0b);

/** availableBuilds() and the relaxed probe in a fresh Node, with or without the relaxed-SIMD flag. */
function probeChild(flag: boolean): { builds: string[]; relaxed: boolean } {
  const code = `import { availableBuilds } from './src/index.ts';
const p = Uint8Array.from(${JSON.stringify(Array.from(RELAXED_PROBE))});
console.log(JSON.stringify({ builds: availableBuilds(), relaxed: WebAssembly.validate(p) }));`;
  // Node >= 22 runs relaxed SIMD by default and rejects the flag ("bad option"): there both runs go without it
  const nodeFlag = flag && Number(process.versions.node.split('.')[0]) < 22;
  const args = [...(nodeFlag ? ['--experimental-wasm-relaxed-simd'] : []), '--import', 'tsx', '--input-type=module', '-e', code];
  const r = spawnSync(process.execPath, args, { cwd: new URL('..', import.meta.url).pathname, encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

test('the probes are valid wasm apart from their feature (a probe without its SIMD instruction validates)', () => {
  assert.ok(WebAssembly.validate(SIMD_PROBE), 'SIMD probe');
  const noSimd = Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7f, 3, 2, 1, 0, 10, 6, 1, 4, 0, 0x41, 0, 0x0b);
  assert.ok(WebAssembly.validate(noSimd), 'i32 probe');
});

test('relaxed is available exactly when the engine accepts a relaxed-SIMD instruction (Node 20: --experimental-wasm-relaxed-simd)', () => {
  const without = probeChild(false);
  const withFlag = probeChild(true);
  assert.is(withFlag.relaxed, true, 'Node 20 with the flag accepts relaxed SIMD');
  assert.equal(withFlag.builds, ['relaxed', 'simd', 'scalar']);
  assert.is(without.builds.includes('relaxed'), without.relaxed);
  if (!without.relaxed) assert.equal(without.builds, ['simd', 'scalar']);
  assert.is(availableBuilds().includes('relaxed'), WebAssembly.validate(RELAXED_PROBE));
});

test('every build can be forced', async () => {
  for (const build of availableBuilds()) {
    assert.is((await loadKernels({ build })).build, build);
    assert.is(createKernels({ build }).build, build);
  }
});

/** Value types in a module's function signatures, globals and function locals (0x7b = v128), read from its sections. */
function valueTypes(bytes: Uint8Array): Set<number> {
  let at = 8;
  const leb = () => { let v = 0, shift = 0, b; do { b = bytes[at++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80); return v; };
  const types = new Set<number>();
  while (at < bytes.length) {
    const id = bytes[at++];
    const size = leb();
    const end = at + size;
    if (id === 1) { // type section: 0x60 params results
      for (let n = leb(); n > 0; n--) {
        assert.is(bytes[at++], 0x60);
        for (let p = leb(); p > 0; p--) types.add(bytes[at++]);
        for (let r = leb(); r > 0; r--) types.add(bytes[at++]);
      }
    } else if (id === 10) { // code section: each body starts with its local declarations
      for (let n = leb(); n > 0; n--) {
        const bodySize = leb();
        const bodyEnd = at + bodySize;
        for (let g = leb(); g > 0; g--) { leb(); types.add(bytes[at++]); }
        at = bodyEnd;
      }
    }
    at = end;
  }
  return types;
}

test('the builds differ: only the SIMD builds hold v128 values, and only relaxed needs the relaxed feature', () => {
  const v128 = 0x7b;
  assert.ok(!valueTypes(buildBytes('scalar')).has(v128), 'scalar build declares v128 values');
  assert.ok(valueTypes(buildBytes('simd')).has(v128), 'simd build declares no v128 value');
  assert.ok(valueTypes(buildBytes('relaxed')).has(v128), 'relaxed build declares no v128 value');
  assert.ok(valueTypes(SIMD_PROBE).has(v128) && !valueTypes(Uint8Array.of(0, 0x61, 0x73, 0x6d, 1, 0, 0, 0)).has(v128));
  // the fixed-SIMD build validates wherever SIMD does; in an engine without relaxed SIMD only relaxed drops out
  assert.ok(WebAssembly.validate(buildBytes('scalar')));
  assert.ok(WebAssembly.validate(buildBytes('simd')));
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
