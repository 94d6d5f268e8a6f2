// Backend selection: falls through candidates with reasons, forces one on request, is idempotent.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import * as tf from '@tensorflow/tfjs';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { chooseFrom, initBackend, isSoftwareAdapter, passedOver, probeBackend, probeReference, vulkanLoaderPresent, CANDIDATES, wasmDistDir, type Candidate } from '../src/tfjs/backend.ts';

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

test('the probe step passes on cpu and wasm, and its reference is the hand-computed one', async () => {
  // y = [7.75, 9.5, 13, 14.75] (the four 2×2 windows of 1..9 times [0.5, -1, 2, 0.25])
  const y = [7.75, 9.5, 13, 14.75];
  const want = probeReference();
  assert.is(want.loss, y.reduce((a, v) => a + v * v, 0) / 2);
  assert.equal(want.grad, [[1, 2, 4, 5], [2, 3, 5, 6], [4, 5, 7, 8], [5, 6, 8, 9]].reduce((g, p, i) => g.map((a, k) => a + y[i]! * p[k]!), [0, 0, 0, 0]));
  for (const pref of ['cpu', 'wasm'] as const) {
    await initBackend(pref);
    await probeBackend();
  }
});

/** A candidate registering a copy of the cpu backend whose Conv2D kernel (or readback) is broken. */
function brokenCpu(tfName: string, breakIt: 'conv' | 'read'): Candidate {
  return {
    name: 'cpu', tfName,
    load: async () => {
      if (tf.findBackendFactory(tfName)) return;
      await tf.setBackend('cpu');
      const Cpu = tf.backend().constructor as new () => tf.KernelBackend;
      tf.registerBackend(tfName, () => {
        const b = new Cpu();
        if (breakIt === 'read') b.read = () => Promise.reject(new Error('readback lost'));
        return b;
      });
      for (const k of tf.getKernelsForBackend('cpu')) {
        const kernelFunc: tf.KernelFunc = k.kernelName === 'Conv2D' && breakIt === 'conv'
          ? (args) => { const out = k.kernelFunc(args) as tf.TensorInfo; (args.backend as unknown as { data: { get(id: object): { values: Float32Array } } }).data.get(out.dataId).values.fill(0); return out; }
          : k.kernelFunc;
        tf.registerKernel({ ...k, backendName: tfName, kernelFunc });
      }
    },
  };
}

test('auto falls through a backend that loads but computes a wrong step, or cannot read back, with the reason', async () => {
  const cpu = CANDIDATES.find((c) => c.name === 'cpu')!;
  const choice = await chooseFrom([brokenCpu('broken-conv', 'conv'), brokenCpu('broken-read', 'read'), cpu], 'auto');
  assert.is(choice.name, 'cpu');
  assert.is(tf.getBackend(), 'cpu');
  assert.match(choice.tried[0]!.error!, /^probe step: loss 0, expected 268\.4375/);
  assert.match(choice.tried[1]!.error!, /readback lost/);
  assert.is(choice.tried[2]!.error, undefined);
  try {
    await chooseFrom([brokenCpu('broken-conv', 'conv')], 'cpu');
    assert.unreachable('should have thrown');
  } catch (e) {
    assert.match((e as Error).message, /no TensorFlow.js backend could be loaded for --backend cpu \(cpu: probe step: loss 0/);
  }
});

test('software WebGPU adapters (SwiftShader, llvmpipe) are recognised, real GPUs are not', () => {
  assert.ok(isSoftwareAdapter({ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader driver 5.0.0' }));
  assert.ok(isSoftwareAdapter({ description: 'llvmpipe (LLVM 15.0.6, 256 bits)' }));
  assert.not.ok(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' }));
  assert.not.ok(isSoftwareAdapter(undefined));
});

test('the passed-over line names each skipped backend in one short reason', () => {
  const addon = 'The Node.js native addon module (tfjs_binding.node) can not be found at path: /a/very/long/node_modules/path/tfjs_binding.node.';
  const line = passedOver({ name: 'wasm', tried: [
    { name: 'tensorflow', error: addon },
    { name: 'webgpu', error: 'no Vulkan loader (libvulkan.so.1) on this machine, so Dawn has no adapter\nsecond line' },
    { name: 'wasm' },
  ] });
  assert.is(line, 'tensorflow: not installed; webgpu: no Vulkan loader (libvulkan.so.1) on this machine, so Dawn has no adapter');
  assert.is(passedOver({ name: 'wasm', tried: [{ name: 'wasm' }] }), '');
});

test.run();
