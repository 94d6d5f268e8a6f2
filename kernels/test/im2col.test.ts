import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { convGeometry, im2colRef } from '../src/index.ts';
import { KERNELS, assertSame, randomInts, rng } from './helpers.ts';

test('conv geometry follows TensorFlow: same = ceil(h/s) with the extra pad at the end, valid = ceil((h-k+1)/s)', () => {
  assert.equal(convGeometry(32, 32, 3, 3, 1, 1, 'same'), { oh: 32, ow: 32, padTop: 1, padLeft: 1 });
  assert.equal(convGeometry(32, 32, 3, 3, 2, 2, 'same'), { oh: 16, ow: 16, padTop: 0, padLeft: 0 });
  assert.equal(convGeometry(7, 8, 4, 4, 2, 3, 'same'), { oh: 4, ow: 3, padTop: 1, padLeft: 1 });
  assert.equal(convGeometry(7, 8, 3, 3, 2, 2, 'valid'), { oh: 3, ow: 3, padTop: 0, padLeft: 0 });
});

for (const kern of KERNELS) {
  test(`${kern.build}: im2col matches the reference (uint8 and float32, strides, same/valid, 1×1 and 3×3)`, () => {
    const rand = rng(8);
    const cases: [number, number, number, number, number, number, number, number][] = [
      // batch, h, w, c, kh, kw, sh, sw
      [1, 5, 5, 1, 3, 3, 1, 1], [2, 8, 8, 3, 3, 3, 2, 2], [1, 7, 6, 16, 3, 3, 1, 1], [1, 9, 9, 4, 1, 1, 2, 2],
      [3, 4, 4, 2, 4, 4, 1, 1], [1, 6, 11, 5, 2, 3, 3, 2], [1, 1, 1, 7, 3, 3, 1, 1], [1, 32, 32, 3, 3, 3, 1, 1],
    ];
    for (const [batch, h, w, c, kh, kw, sh, sw] of cases) {
      for (const padding of ['same', 'valid'] as const) {
        if (padding === 'valid' && (kh > h || kw > w)) continue;
        const u8 = randomInts(Uint8Array, batch * h * w * c, 1, 255, rand);
        const r = kern.im2col({ input: u8, batch, h, w, c, kh, kw, stride: [sh, sw], padding });
        const ref = im2colRef(u8, batch, h, w, c, kh, kw, sh, sw, padding);
        assertSame(r.data, ref, `u8 ${[batch, h, w, c, kh, kw, sh, sw]} ${padding}`);
        assert.is(r.rows * r.cols, ref.length);
        const f = Float32Array.from(u8, (x) => x / 7 - 3);
        assertSame(kern.im2col({ input: f, batch, h, w, c, kh, kw, stride: [sh, sw], padding }).data, im2colRef(f, batch, h, w, c, kh, kw, sh, sw, padding), `f32 ${padding}`);
      }
    }
    assert.is(kern.residentBytes, 0);
  });

  test(`${kern.build}: im2col reads and writes views on the kernels' memory in place`, () => {
    const rand = rng(10);
    const [h, w, c] = [6, 5, 3];
    const x = randomInts(Uint8Array, h * w * c, 0, 255, rand);
    const ref = im2colRef(x, 1, h, w, c, 3, 3, 1, 1, 'same');
    const inBuf = kern.resident(x);
    const outBuf = kern.resident(new Uint8Array(ref.length));
    const outView = new Uint8Array(kern.memory.buffer, outBuf.ptr, ref.length);
    const r = kern.im2col({ input: new Uint8Array(kern.memory.buffer, inBuf.ptr, x.length), h, w, c, kh: 3, kw: 3, padding: 'same', out: outView });
    assert.ok(r.data === outView);
    assertSame(new Uint8Array(kern.memory.buffer, outBuf.ptr, ref.length), ref, 'in place');
    const plain = new Uint8Array(ref.length);
    assert.ok(kern.im2col({ input: x, h, w, c, kh: 3, kw: 3, padding: 'same', out: plain }).data === plain);
    assertSame(plain, ref, 'into a JS array');
    kern.free(inBuf); kern.free(outBuf);
    assert.is(kern.residentBytes, 0);
  });

  test(`${kern.build}: im2col misuse`, () => {
    const input = new Uint8Array(16);
    assert.throws(() => kern.im2col({ input, h: 4, w: 4, c: 2, kh: 3, kw: 3, padding: 'same' }), /input.length: expected 32, got 16/);
    assert.throws(() => kern.im2col({ input, h: 4, w: 4, c: 1, kh: 5, kw: 3, padding: 'valid' }), /kh, kw: expected ≤ h, w/);
    assert.throws(() => kern.im2col({ input, h: 4, w: 4, c: 1, kh: 3, kw: 3, padding: 'full' as never }), /padding: expected 'same' or 'valid'/);
    assert.throws(() => kern.im2col({ input, h: 4, w: 4, c: 1, kh: 3, kw: 3, stride: 0, padding: 'same' }), /stride\[0\]: expected an integer in 1/);
    assert.throws(() => kern.im2col({ input, h: 4, w: 4, c: 1, kh: 3, kw: 3, padding: 'same', out: new Uint8Array(10) }), /out.length: expected 144, got 10/);
    assert.throws(() => kern.im2col({ input, h: 4, w: 4, c: 1, kh: 3, kw: 3, padding: 'same', out: new Float32Array(144) as never }), /out: expected a Uint8Array/);
    assert.is(kern.residentBytes, 0);
  });
}

test.run();
