// The runtime's JS eq. 4 (used where a residual add already touches every value) equals the
// format reference exactly: exact .5 ties, values one ulp either side of a tie, clipping.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { quantizeActivations } from '@bitswitch/format';
import { quantizeInto } from '../src/quantize.ts';
import { rng } from '../src/testing.ts';

const rand = rng(9);
const nextUp = (x: number) => { const f = new Float32Array([x]); const u = new Uint32Array(f.buffer); u[0] += x >= 0 ? 1 : -1; return f[0]; };
const nextDown = (x: number) => { const f = new Float32Array([x]); const u = new Uint32Array(f.buffer); u[0] -= x > 0 ? 1 : -1; return f[0]; };

test('quantizeInto = format quantizeActivations on ties, near-ties, random values and clipping', () => {
  for (let t = 0; t < 200; t++) {
    const bits = 2 + (t % 7);
    const scale = Math.fround(t % 3 === 0 ? 2 ** -(1 + (t % 6)) : 0.001 + rand() * 0.5);
    const values: number[] = [];
    for (let k = -2; k < 2 ** bits + 3; k++) {
      const tie = Math.fround((k + 0.5) * scale);
      values.push(tie, nextUp(tie), nextDown(tie), Math.fround(k * scale));
    }
    for (let i = 0; i < 200; i++) values.push(Math.fround((rand() * 1.3 - 0.1) * scale * 2 ** bits), Math.fround(rand() * 1e6));
    const x = Float32Array.from(values);
    assert.equal(Array.from(quantizeInto(x, scale, bits, new Uint8Array(x.length))), Array.from(quantizeActivations(x, scale, bits)), `scale ${scale} bits ${bits}`);
  }
});

test.run();
