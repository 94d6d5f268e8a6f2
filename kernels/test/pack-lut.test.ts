// The lut16 weight panels (kernels/README.md, family qu8-qs2-gemm-4x16c4-wasmsimd-lut16), decoded by
// hand from the documented layout: tiles of 16 columns and 8·kp bytes (kp = k rounded up to 8); the
// 4 columns of k-group g = ⌊c/4⌋ take 32 bytes, byte r mod 16 holds bit (c mod 4) of plane b0, byte
// 16 + r mod 16 that of plane b1, and the weight is w = b0 − 2·b1. Every other bit is 0.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { packPanelsRef } from '../src/index.ts';

function decode(panels: Uint8Array, n: number, k: number): { values: Int8Array; stray: number } {
  const kp = Math.ceil(k / 8) * 8;
  const values = new Int8Array(n * k);
  const used = new Uint8Array(panels.length);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const base = Math.floor(r / 16) * 8 * kp + 32 * Math.floor(c / 4) + (r % 16);
      const b0 = (panels[base] >> (c % 4)) & 1;
      const b1 = (panels[base + 16] >> (c % 4)) & 1;
      values[r * k + c] = b0 - 2 * b1;
      used[base] |= 1 << (c % 4);
      used[base + 16] |= 1 << (c % 4);
    }
  }
  let stray = 0;
  for (let i = 0; i < panels.length; i++) stray += panels[i] & ~used[i] ? 1 : 0;
  return { values, stray };
}

let seed = 7;
const next = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) / 65536;

test('lut16 panels hold every 2-bit weight at its documented bit, and nothing else, for tile and non-tile sizes', () => {
  for (const [n, k] of [[16, 8], [1, 1], [17, 9], [33, 4], [5, 23], [48, 64]]) {
    const values = Int8Array.from({ length: n * k }, () => Math.floor(next() * 4) - 2); // −2..1
    const panels = packPanelsRef(values, 2, n, k, 2);
    assert.is(panels.length, Math.ceil(n / 16) * 8 * Math.ceil(k / 8) * 8, `${n}×${k}: bytes`);
    const { values: back, stray } = decode(panels, n, k);
    assert.equal(back, values, `${n}×${k}: weights`);
    assert.is(stray, 0, `${n}×${k}: bits outside the weights`);
  }
});

test('a single weight sets exactly its two plane bits', () => {
  const values = new Int8Array(3 * 6);
  values[2 * 6 + 5] = -1; // b0 = 1, b1 = 1 at row 2, column 5: group 1, bit 1
  const panels = packPanelsRef(values, 2, 3, 6, 2);
  const set = [...panels.keys()].filter((i) => panels[i] !== 0).map((i) => [i, panels[i]]);
  assert.equal(set, [[32 + 2, 0b10], [32 + 16 + 2, 0b10]]);
});

test.run();
