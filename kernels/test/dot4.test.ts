// The dot4 family (i32x4.relaxed_dot_i8x16_i7x16_add_s) joins the relaxed build on engines that run
// that instruction right in every tier. On Node 20 (whose baseline compiler gets it wrong) it is
// left out, so there its kernel is tested in a child process with the baseline compiler off
// (--no-liftoff) and BITSWITCH_DOT4=force: the family-generic GEMM, convolution and thread tests
// then run it exactly as Node ≥ 22 and browsers do.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dot4Reliable, dot4Unsigned8, familiesOf } from '../src/index.ts';

const DOT4 = 'qu8-qs8-gemm-4x8c4-wasmrelaxedsimd-dot4';
const major = Number(process.versions.node.split('.')[0]);

test('dot4 is in the relaxed build exactly where its instruction is reliable', () => {
  assert.is(familiesOf('relaxed').some((f) => f.name === DOT4 && f.supports(8, 7)), dot4Reliable());
  assert.is(dot4Reliable(), major >= 22 || process.env.BITSWITCH_DOT4 === 'force');
  // 8-bit activations only where the engine reads the operand unsigned with exact sums (never Node < 22)
  assert.is(familiesOf('relaxed').find((f) => f.name === DOT4)?.supports(8, 8) ?? false, dot4Unsigned8());
  if (major < 22) assert.not.ok(dot4Unsigned8(), 'Node < 22: no unsigned 8-bit operand');
});

test('the unsigned 8-bit probe fails where the lowering saturates (Node 20 optimizing tier: pmaddubsw) and BITSWITCH_DOT4_U8=off leaves it out', () => {
  const run = (flags: string[], env: Record<string, string>) => {
    const r = spawnSync(process.execPath, [...flags, '--conditions=bitswitch-source', '--import', 'tsx', '--input-type=module', '-e',
      `const f = await import(${JSON.stringify(new URL('../src/families.ts', import.meta.url).href)}); console.log(f.dot4Unsigned8Probe(), f.dot4Unsigned8());`],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '', ...env } });
    assert.is(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').at(-1);
  };
  const relaxed = major < 22 ? ['--experimental-wasm-relaxed-simd'] : [];
  if (major < 22) assert.is(run([...relaxed, '--no-liftoff'], { BITSWITCH_DOT4: 'force' }), 'false false');
  assert.match(run(relaxed, { BITSWITCH_DOT4_U8: 'off' }), / false$/);
});

test('the probe of the instruction fails under a baseline tier that computes it wrong and passes where it is right', () => {
  const probe = (flags: string[]) => {
    const r = spawnSync(process.execPath, [...flags, '--conditions=bitswitch-source', '--import', 'tsx', '--input-type=module', '-e',
      `const f = await import(${JSON.stringify(new URL('../src/families.ts', import.meta.url).href)}); console.log(f.dot4Probe());`],
    { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NODE_OPTIONS: '' } });
    assert.is(r.status, 0, r.stderr);
    return r.stdout.trim().split('\n').at(-1);
  };
  const relaxed = major < 22 ? ['--experimental-wasm-relaxed-simd'] : [];
  // Node 20's Liftoff gets the instruction wrong (test/packaging/relaxed-simd.test.ts); TurboFan and Node >= 22 get it right
  assert.is(probe(relaxed), major < 22 ? 'false' : 'true', 'probe with the baseline tier');
  assert.is(probe([...relaxed, '--no-liftoff']), 'true', 'probe with the optimizing tier only');
});

if (major < 22 && process.env.BITSWITCH_DOT4 !== 'force') {
  test('Node < 22, optimizing tier: dot4 forced onto 8-bit activations computes wrong sums, and the family chooser refuses it', () => {
    const script = `
      const k = await import(${JSON.stringify(new URL('../src/index.ts', import.meta.url).href)});
      const kn = await k.loadKernels({ build: 'relaxed' });
      const fam = kn.fastestFamily(8, 8, 32, 288);
      const c = kn.familyChoices.find((m) => m.wbits === 8 && m.abits === 8);
      console.log(JSON.stringify({ supports: k.familiesOf('relaxed').find((f) => f.name === '${DOT4}').supports(8, 8), fam, times: c.times }));`;
    const r = spawnSync(process.execPath, ['--no-liftoff', '--experimental-wasm-relaxed-simd', '--conditions=bitswitch-source', '--import', 'tsx', '--input-type=module', '-e', script],
      { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NODE_OPTIONS: '', BITSWITCH_DOT4: 'force', BITSWITCH_DOT4_U8: 'force' } });
    assert.is(r.status, 0, r.stderr);
    const got = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { supports: boolean; fam: string; times: { family: string; ms: number | null }[] };
    assert.ok(got.supports, 'forced in');
    assert.is.not(got.fam, DOT4);
    // Infinity (refused) prints as null in JSON
    assert.is(got.times.find((t) => t.family.endsWith('dot4'))?.ms, null, JSON.stringify(got.times));
  });

  test('Node < 22: the dot4 kernel passes the GEMM, convolution and thread tests with the optimizing tier only', () => {
    for (const file of ['gemm.test.ts', 'conv-gemm.test.ts', 'threads.test.ts']) {
      const r = spawnSync(process.execPath, ['--no-liftoff', '--experimental-wasm-relaxed-simd', '--conditions=bitswitch-source', '--import', 'tsx',
        fileURLToPath(new URL(file, import.meta.url))], { env: { ...process.env, BITSWITCH_DOT4: 'force' }, encoding: 'utf8', timeout: 240_000 });
      const out = `${r.stdout}\n${r.stderr}`;
      assert.is(r.status, 0, `${file} with dot4 under --no-liftoff:\n${out.slice(-3000)}`);
      assert.match(out, /Passed:\s+[1-9]/, `${file}: tests ran`);
      assert.not.match(out, /FAIL/, `${file}: no failure`);
    }
  });
}

test.run();
