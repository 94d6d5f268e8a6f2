// Backend selection: falls through candidates with reasons, forces one on request, is idempotent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { initBackend, vulkanLoaderPresent, CANDIDATES, wasmDistDir } from '../src/backend/index.ts';

const require = createRequire(import.meta.url);

function tfjsNodeBindingPresent(pkg: string): boolean {
  try {
    const dir = dirname(require.resolve(`${pkg}/package.json`));
    return existsSync(join(dir, 'lib', 'napi-v8', 'tfjs_binding.node'));
  } catch {
    return false;
  }
}

test('auto picks the first candidate that loads and reports why the others did not', async () => {
  const choice = await initBackend('auto');
  const order = CANDIDATES.map((c) => c.name);
  assert.equal(choice.tried.map((t) => t.name), order.slice(0, choice.tried.length), 'tried in priority order');
  const last = choice.tried[choice.tried.length - 1]!;
  assert.is(last.name, choice.name);
  assert.is(last.error, undefined);
  for (const t of choice.tried.slice(0, -1)) assert.type(t.error, 'string', `${t.name} failed with a reason`);
  assert.is(tf.getBackend(), CANDIDATES.find((c) => c.name === choice.name)!.tfName);
  // A missing native binding must make tfjs-node fall through, never stop the chain.
  if (!tfjsNodeBindingPresent('@tensorflow/tfjs-node') && !tfjsNodeBindingPresent('@tensorflow/tfjs-node-gpu')) {
    assert.ok(choice.tried.length >= 3, 'fell past both tfjs-node packages');
    assert.match(choice.tried[0]!.error!, /tfjs_binding|Cannot find|native/i);
  }
});

test('webgpu is not probed without a Vulkan loader (Dawn would print a warning on every start)', () => {
  const seen: string[] = [];
  const none = vulkanLoaderPresent({ LD_LIBRARY_PATH: '/opt/x:/opt/y' }, (p) => { seen.push(p); return false; });
  if (process.platform === 'linux') {
    assert.is(none, false);
    assert.ok(seen.includes('/opt/x/libvulkan.so.1') && seen.includes('/usr/lib/x86_64-linux-gnu/libvulkan.so.1'), seen.join(' '));
    assert.ok(vulkanLoaderPresent({ LD_LIBRARY_PATH: '/opt/y' }, (p) => p === '/opt/y/libvulkan.so.1'));
  }
});

test('initBackend is idempotent and can switch back and forth', async () => {
  const a = await initBackend('auto');
  const cpu = await initBackend('cpu');
  assert.equal(cpu, { name: 'cpu', tried: [{ name: 'cpu' }] });
  assert.is(tf.getBackend(), 'cpu');
  const b = await initBackend('auto');
  assert.equal(b, a);
  assert.is(tf.getBackend(), CANDIDATES.find((c) => c.name === a.name)!.tfName);
});

test('forcing wasm works offline from node_modules', async () => {
  assert.ok(existsSync(join(wasmDistDir(), 'tfjs-backend-wasm.wasm')));
  const r = await initBackend('wasm');
  assert.is(r.name, 'wasm');
  assert.is(tf.getBackend(), 'wasm');
  assert.ok(tf.getKernel('Conv2DBackpropFilter', 'wasm'), 'missing kernel registered');
  assert.equal(Array.from(tf.add(tf.tensor([1, 2]), tf.tensor([3, 4])).dataSync()), [4, 6]);
});

test('forcing a backend that cannot load rejects with its reason', async () => {
  if (tfjsNodeBindingPresent('@tensorflow/tfjs-node')) {
    assert.is((await initBackend('tensorflow')).name, 'tensorflow');
    return;
  }
  try {
    await initBackend('tensorflow');
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, Error);
    assert.match((e as Error).message, /--backend tensorflow .*tensorflow: /);
  }
  // The failed attempt must not leave a broken 'tensorflow' backend registered.
  assert.not.ok(tf.findBackendFactory('tensorflow'));
});

test('an unknown backend name is a RangeError naming the choices', async () => {
  try {
    await initBackend('cuda' as never);
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.instance(e, RangeError);
    assert.match((e as Error).message, /backend: expected one of auto, tensorflow-gpu/);
  }
});

test.run();
