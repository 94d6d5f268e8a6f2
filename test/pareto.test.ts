// Integration: a SuperNet trained by the trainer (TBN) and exported as a 'mixed' model file runs
// in the runtime with the same TBN set selection, at mixed per-layer bits; and the Pareto
// summary reads the frontier at each budget.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readModel, writeModel } from '@bitswitch/format';
import { Runtime, createBackend } from '@bitswitch/runtime';
import { Network, Rng, SuperNetwork, initBackend, logitsOf, networkToModel, smallCnn } from '@bitswitch/trainer';

await initBackend('cpu');

/** A SuperNet whose TBN sets all differ (so a wrong set index changes the logits). */
async function superNet(bits: number[]): Promise<SuperNetwork> {
  const spec = smallCnn([8, 8, 2], 4, { channels: [6, 8, 8], hidden: 8 });
  const multi = new Network(spec, { bits, quantizer: 'double-rounding', perChannel: false }, new Rng(7));
  const rng = new Rng(8);
  const values = await multi.snapshot();
  for (const n of Object.keys(values)) {
    if (n.includes('wscale')) values[n] = values[n].map(() => 0.9 / 2 ** (bits[0] - 1));
    else if (n.includes('ascale')) values[n] = values[n].map(() => 3 / (2 ** Number(n.split('@')[1]) - 1));
  }
  multi.load(values);
  const sup = SuperNetwork.fromMulti(multi);
  multi.dispose();
  const sv = await sup.snapshot();
  for (const n of Object.keys(sv)) {
    if (!/_bn\/(gamma|beta|mean|var)@/.test(n) || n.includes('single')) continue;
    sv[n] = sv[n].map(() => (n.includes('/var@') || n.includes('gamma') ? 0.5 + rng.uniform() : 0.3 * rng.normal()));
  }
  sup.load(sv);
  return sup;
}

for (const bits of [[8, 6, 4, 2], [4, 3, 2]]) {
  test(`runtime on the exported SuperNet matches the trainer's TBN forward at mixed bits, B = [${bits}]`, async () => {
    const sup = await superNet(bits);
    const model = readModel(writeModel(await networkToModel(sup)));
    const rng = new Rng(bits.length);
    const n = 16;
    const x = Float32Array.from({ length: n * 8 * 8 * 2 }, () => rng.normal());
    const choices = [[bits[0], bits[0], bits[0]], [bits[0], bits[bits.length - 1], bits[1]], [bits[bits.length - 1], bits[0], bits[bits.length - 1]], [bits[1], bits[1], bits[0]]];
    let worst = 0;
    let agree = 0;
    for (const c of choices) {
      const want = await logitsOf(sup, x, n, c);
      const rt = new Runtime(model, createBackend('ts-scalar'), c);
      const got = rt.run(x, n);
      const scale = Math.max(...Array.from(want, Math.abs));
      for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / scale);
      for (let i = 0; i < n; i++) {
        const arg = (a: ArrayLike<number>) => [0, 1, 2, 3].reduce((b, k) => (a[i * 4 + k] > a[i * 4 + b] ? k : b), 0);
        if (arg(got) === arg(want)) agree++;
      }
    }
    // Same integer math on both sides; only float32 summation order differs (measured ~2e-7 here;
    // fixed seeds, so no activation sits on a rounding boundary).
    assert.ok(worst < 1e-4, `worst logit difference ${worst} of the largest logit`);
    assert.is(agree, choices.length * n, `argmax agrees on ${agree}/${choices.length * n}`);
    sup.dispose();
  });
}

test('a wrong TBN set order would be caught: swapping prev and layer roles changes the runtime logits', async () => {
  const bits = [8, 4, 2];
  const sup = await superNet(bits);
  const model = readModel(writeModel(await networkToModel(sup)));
  const rng = new Rng(5);
  const x = Float32Array.from({ length: 4 * 128 }, () => rng.normal());
  const a = new Runtime(model, createBackend('ts-scalar'), [8, 2, 4]).run(x, 4);
  const l2 = model.layers.find((l) => l.name === 'l2_bn')!;
  if (l2.op !== 'batchnorm') throw new Error('l2_bn');
  const C = l2.channels;
  const swapped = new Float32Array(l2.params.length);
  for (let p = 0; p < 3; p++) for (let b = 0; b < 3; b++) swapped.set(l2.params.subarray((p * 3 + b) * 4 * C, (p * 3 + b + 1) * 4 * C), (b * 3 + p) * 4 * C);
  l2.params = swapped;
  const b = new Runtime(model, createBackend('ts-scalar'), [8, 2, 4]).run(x, 4);
  assert.ok(a.some((v, i) => Math.abs(v - b[i]) > 1e-3));
  sup.dispose();
});

test.run();
