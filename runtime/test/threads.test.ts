// A threaded runtime gives the logits of a one-thread runtime bit for bit, on every kernels build,
// at every precision and batch size; the thread count and its fallback note are in rt.info.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { availableBuilds } from '@bitswitch/kernels';
import { Runtime, buildResNet, createKernelsBackend, createRuntime, defaultThreads, randomImages } from '@bitswitch/runtime';

const model = buildResNet({ blocks: 1, seed: 5 });

for (const build of availableBuilds()) {
  test(`${build}: 2 threads give one thread's logits bit for bit`, () => {
    const one = new Runtime(model, createKernelsBackend({ build }));
    const two = new Runtime(model, createKernelsBackend({ build, threads: 2 }));
    assert.equal(two.info, { backend: `kernels-${build}`, threads: 2, note: '' });
    for (const spec of [8, 6, 4, 2, 'mixed-cycle']) {
      one.setPrecision(spec);
      two.setPrecision(spec);
      for (const batch of [1, 3, 32]) {
        const x = randomImages(model.inputShape, batch, 40 + batch);
        const a = one.run(x, batch), b = two.run(x, batch);
        assert.equal(Array.from(new Uint32Array(b.buffer, b.byteOffset, b.length)), Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length)), `${spec} batch ${batch}`);
      }
    }
    two.dispose();
  });
}

test('createRuntime: threads default to every core in Node; a bad count names the option', async () => {
  const rt = await createRuntime(model);
  assert.is(rt.info.threads, defaultThreads());
  assert.ok(defaultThreads() >= 1);
  rt.dispose();
  const one = await createRuntime(model, { threads: 1 });
  assert.equal(one.info.threads, 1);
  try {
    await createRuntime(model, { threads: 0 });
    assert.unreachable('threads 0 accepted');
  } catch (e) {
    assert.match((e as Error).message, /threads: expected an integer >= 1, got 0/);
  }
});

test('createRuntime returns once its worker threads have started', async () => {
  const rt = await createRuntime(model, { threads: 3 });
  const stats = (rt.backend as { kernels?: { poolStats?: { ready: number } } }).kernels?.poolStats;
  assert.is(stats?.ready, 2, 'both workers ready before the first run');
  rt.dispose();
});

test.run();
