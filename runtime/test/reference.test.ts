// The scalar reference executor against the shared numpy vectors (all cases of each file)
// and against hand-derived BatchNorm selection.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readVectors } from '@bitswitch/format/node';
import type { Layer, Model } from '@bitswitch/format';
import { referenceForward } from '../src/reference.ts';

const vectors = (name: string) => readVectors(`${name}.json`).cases;

/** input [1,1,k] → flatten → one quantized dense layer k → n with stored W̃_h [n][k]. */
function denseModel(bits: number[], h: number, wh: number[], n: number, k: number, scale: number, actScale: number, extra: Layer[] = []): Model {
  return {
    bits, mode: 'multi', inputShape: [1, 1, k],
    layers: [
      { name: 'flat', op: 'flatten', inputs: ['input'] },
      {
        name: 'fc', op: 'dense', inputs: ['flat'], inFeatures: k, outFeatures: n,
        weights: { kind: 'int', bits: h, values: Int8Array.from(wh), scale: Float32Array.of(scale), actScales: new Float32Array(bits.length).fill(actScale) },
      },
      ...extra,
    ],
  };
}

const close = (a: number, b: number, tol = 1e-6) => Math.abs(a - b) <= tol * Math.max(1, Math.abs(b));

test('eq. 2-3: each output of a 1→n dense layer on input 1 is the vector dequant value', () => {
  let checked = 0;
  for (const c of vectors('double_rounding')) {
    const n = c.wh.length;
    for (const [l, want] of Object.entries(c.low) as [string, { dequant: number[] }][]) {
      const bit = Number(l);
      if (bit < 2) continue;
      const bits = bit === c.h ? [c.h] : [c.h, bit];
      const y = referenceForward(denseModel(bits, c.h, c.wh, n, 1, c.scale, 1), bit, [1]);
      for (let i = 0; i < n; i++) assert.ok(close(y[i], want.dequant[i]), `h=${c.h} l=${bit} i=${i}: ${y[i]} vs ${want.dequant[i]}`);
      checked++;
    }
  }
  assert.ok(checked > 0);
});

test('eq. 4-5: identity dense layer returns the vector dequantized activations', () => {
  let checked = 0;
  for (const c of vectors('activation')) {
    const k = c.x.length;
    for (const [b, want] of Object.entries(c.bits) as [string, { scale: number; dequant: number[] }][]) {
      const bit = Number(b);
      if (bit < 2) continue;
      const eye = Array.from({ length: k * k }, (_, i) => (i % (k + 1) === 0 ? 1 : 0));
      const y = referenceForward(denseModel([bit], bit, eye, k, k, 1, Math.fround(want.scale)), bit, c.x);
      for (let i = 0; i < k; i++) assert.ok(close(y[i], want.dequant[i], 1e-5), `b=${bit} i=${i}: ${y[i]} vs ${want.dequant[i]}`);
      checked++;
    }
  }
  assert.ok(checked > 0);
});

test('per-bit and per-pair BatchNorm pick set bitIndex and prevIndex·|B| + bitIndex', () => {
  const bits = [8, 4, 2];
  const nb = bits.length;
  const fc = (name: string, input: string): Layer => ({
    name, op: 'dense', inputs: [input], inFeatures: 1, outFeatures: 1,
    weights: { kind: 'int', bits: 8, values: Int8Array.of(64), scale: Float32Array.of(1 / 64), actScales: Float32Array.of(1, 1, 1) },
  });
  // Set s has beta = 10·s and gamma 0, so the output is the set index times 10.
  const bnParams = (sets: number) => Float32Array.from({ length: sets * 4 }, (_, i) => (i % 4 === 1 ? 10 * Math.floor(i / 4) : i % 4 === 3 ? 1 : 0));
  const model: Model = {
    bits, mode: 'mixed', inputShape: [1, 1, 1],
    layers: [
      { name: 'flat', op: 'flatten', inputs: ['input'] },
      fc('a', 'flat'),
      { name: 'bn_a', op: 'batchnorm', inputs: ['a'], channels: 1, epsilon: 0, select: { kind: 'per-bit', layer: 'a' }, params: bnParams(nb) },
      fc('b', 'flat'),
      { name: 'bn_b', op: 'batchnorm', inputs: ['b'], channels: 1, epsilon: 0, select: { kind: 'per-pair', prev: 'a', layer: 'b' }, params: bnParams(nb * nb) },
      { name: 'sum', op: 'add', inputs: ['bn_a', 'bn_b'] },
    ],
  };
  for (let i = 0; i < nb; i++) {
    for (let j = 0; j < nb; j++) {
      const y = referenceForward(model, [bits[i], bits[j]], [1]);
      assert.is(y[0], 10 * i + 10 * (i * nb + j), `bits ${bits[i]}, ${bits[j]}`);
    }
  }
});

test.run();
