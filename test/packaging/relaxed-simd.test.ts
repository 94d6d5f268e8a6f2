// Relaxed SIMD without flags: in Node the kernels set V8's relaxed-SIMD flag themselves where the
// engine needs it (Node 20), so a plain `node` picks the relaxed build. Node 20's baseline wasm
// compiler (Liftoff) computes i32x4.relaxed_dot_i8x16_i7x16_add_s wrong (Node 20.20.2: lanes
// [-2872, 15688, 200, -4280] where TurboFan and the definition give [-1435, 7843, 105, -1884]);
// the builds must therefore use only relaxed instructions both tiers compute exactly, which these
// tests check: the relaxed instructions in each build, and the GEMM tester under each tier alone.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WASM_BASE64 } from '@bitswitch/kernels/generated/wasm';

const root = fileURLToPath(new URL('../../', import.meta.url));

/**
 * The relaxed instructions the builds may use. relaxed_dot_i8x16_i7x16_s and relaxed_swizzle (the lut16
 * kernel's table lookups, indices always below 16) are exact under Liftoff and TurboFan (last test).
 * relaxed_dot_i8x16_i7x16_add_s is only in the dot4 microkernel, a family the kernels offer only where
 * dot4Reliable() (not Node < 22, and a probe run by the baseline tier must agree: kernels/test/dot4.test.ts).
 */
const ALLOWED_RELAXED = ['i16x8.relaxed_dot_i8x16_i7x16_s', 'i32x4.relaxed_dot_i8x16_i7x16_add_s', 'i8x16.relaxed_swizzle'];

/** A one-instruction module using i32x4.relaxed_trunc_f32x4_s: valid exactly where relaxed SIMD is on. */
const RELAXED_PROBE = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7b, 3, 2, 1, 0, 10, 25, 1, 23, 0, 0xfd, 0x0c, ...new Array(16).fill(0), 0xfd, 0x81, 0x02, 0x0b];

/** Node in the test package, where the workspace packages resolve by name. */
function node(args: string[], env: NodeJS.ProcessEnv = process.env): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, args, { cwd: join(root, 'test'), env, encoding: 'utf8', timeout: 300_000 });
}

test('a Node process started without flags picks the relaxed build: the kernels turn relaxed SIMD on themselves', () => {
  // NODE_OPTIONS (from the test runner) carries only the source condition; no relaxed-SIMD flag
  const code = `const probe = Uint8Array.from(${JSON.stringify(RELAXED_PROBE)});
const before = WebAssembly.validate(probe);
const k = await import('@bitswitch/kernels');
console.log(JSON.stringify({ before, support: k.relaxedSimdSupport(), builds: k.availableBuilds(), build: k.createKernels().build }));`;
  const r = node(['--conditions=bitswitch-source', '--import', 'tsx', '--input-type=module', '-e', code], { ...process.env, NODE_OPTIONS: '' });
  assert.is(r.status, 0, r.stderr);
  const got = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.is(got.support, got.before ? 'engine' : 'v8-flag', 'the V8 flag is set only where the engine needs it');
  assert.equal(got.builds, ['relaxed', 'simd', 'scalar']);
  assert.is(got.build, 'relaxed');
});

test(`the relaxed builds use only ${ALLOWED_RELAXED.join(', ')}; the others no relaxed instruction`, async () => {
  // binaryen (AssemblyScript's back end) disassembles the embedded builds
  const asc = createRequire(join(root, 'kernels/package.json')).resolve('assemblyscript/package.json');
  const { default: binaryen } = await import(createRequire(asc).resolve('binaryen'));
  const builds = Object.keys(WASM_BASE64);
  assert.ok(builds.includes('relaxed') && builds.includes('relaxed-shared'), builds.join(', '));
  for (const build of builds) {
    const module = binaryen.readBinary(Buffer.from(WASM_BASE64[build], 'base64'));
    module.setFeatures(binaryen.Features.All);
    const text: string = module.emitText();
    module.dispose();
    const used = [...new Set(text.match(/\b[if]\d+x\d+\.relaxed_[a-z0-9_]+/g) ?? [])].sort();
    assert.ok(text.includes('(func '), `${build}: disassembly holds no function`);
    assert.equal(used, build.startsWith('relaxed') ? ALLOWED_RELAXED : [], `${build}: relaxed instructions ${used.join(', ') || 'none'}`);
  }
});

function find(dir: string, name: string): string[] {
  return readdirSync(dir).flatMap((e) => {
    const p = join(dir, e);
    if (e === 'node_modules' || e === 'dist') return [];
    return statSync(p).isDirectory() ? find(p, name) : e === name ? [p] : [];
  });
}

test('the GEMM tester passes with the relaxed build under Liftoff alone and under TurboFan alone', () => {
  const [gemmTest] = find(join(root, 'kernels'), 'gemm.test.ts');
  assert.ok(gemmTest, 'kernels/**/gemm.test.ts not found');
  // with scripts/relaxed-simd.mjs preloaded (Node 20's flag where needed) relaxed validates, so it is
  // one of the builds every GEMM test runs
  const preload = new URL('../../scripts/relaxed-simd.mjs', import.meta.url).href;
  for (const tier of [['--liftoff-only'], ['--no-liftoff']]) {
    const r = node([...tier, '--import', preload, '--import', 'tsx', gemmTest]);
    const summary = /Passed:\s+(\d+)/.exec(r.stdout);
    assert.is(r.status, 0, `${tier}: ${r.stdout.slice(-3000)}\n${r.stderr}`);
    assert.ok(summary && Number(summary[1]) > 0, `${tier}: no test ran\n${r.stdout}`);
  }
});

test.run();
