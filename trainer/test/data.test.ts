import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { deriveFashionSplit, loadFashionMnist, loadMnist, makeBatch, parseIdx, readFashionSplit, stratifiedSubset, NO_AUGMENT, type Dataset } from '../src/data/datasets.ts';
import { Rng, deriveRng } from '../src/math/rng.ts';

test('rng: same seed same stream; state round-trips; permutation is a permutation', () => {
  const a = new Rng(42);
  const b = new Rng(42);
  for (let i = 0; i < 5; i++) assert.is(a.nextU32(), b.nextU32());
  const c = new Rng(a.state());
  assert.is(c.nextU32(), a.nextU32());
  const p = Array.from(deriveRng(1, 2).permutation(100)).sort((x, y) => x - y);
  assert.equal(p, Array.from({ length: 100 }, (_, i) => i));
  assert.is.not(deriveRng(1, 2).nextU32(), deriveRng(1, 3).nextU32());
});

test('IDX parser rejects bad headers with the file name', () => {
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 9, 1, 0, 0, 0, 1, 5]), 'x.idx'), /x\.idx: expected IDX magic/);
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 2, 5]), 'y.idx'), /y\.idx: expected 10 bytes/);
  assert.equal(parseIdx(new Uint8Array([0, 0, 8, 1, 0, 0, 0, 1, 5]), 'z').dims, [1]);
});

test('MNIST loads 60000/10000 with all ten labels', () => {
  const ds = loadMnist();
  assert.is(ds.train.count, 60000);
  assert.is(ds.test.count, 10000);
  assert.is(new Set(ds.test.labels).size, 10);
  const sub = stratifiedSubset(ds.test, 3, 10, 784);
  assert.is(sub.count, 30);
});

test('batches: normalisation, and crop with padding shifts the image inside a zero border', () => {
  const ds: Dataset = {
    name: 't', height: 4, width: 4, channels: 1, classes: 2, mean: [0.5], std: [0.5],
    train: { images: new Uint8Array(16).fill(255), labels: new Uint8Array([1]), count: 1 },
    test: { images: new Uint8Array(16), labels: new Uint8Array([0]), count: 1 },
  };
  const plain = makeBatch(ds, ds.train, [0], NO_AUGMENT, new Rng(1));
  assert.ok(plain.x.every((v) => v === 1));
  assert.equal(Array.from(plain.y), [1]);
  let shifted = 0;
  const rng = new Rng(2);
  for (let t = 0; t < 20; t++) {
    const { x } = makeBatch(ds, ds.train, [0], { pad: 1, flip: false }, rng);
    const border = x.filter((v) => v === -1).length;
    assert.ok([0, 4, 7].includes(border), `border pixels ${border}`);
    if (border) shifted++;
  }
  assert.ok(shifted > 0);
});

test('Fashion-MNIST split file: equals its seeded derivation, 6000 + 1000 disjoint non-empty entries per class, read in file order', () => {
  const file = readFashionSplit();
  assert.equal(file, deriveFashionSplit());
  const ds = loadFashionMnist();
  file.classes.forEach((c, k) => {
    assert.is(new Set([...c.train, ...c.test]).size, 7000, `class ${k}: train and test overlap or repeat`);
    if (k === 0) for (const empty of [1000, 7001]) assert.not.ok(c.train.includes(empty) || c.test.includes(empty));
  });
  // the loader puts class c's test[i] at test image c·1000 + i: check one image against the package JSON directly
  const rows = (JSON.parse(readFileSync(join(dirname(createRequire(import.meta.url).resolve('fashion-mnist/package.json')), 'src', 'clothes', '3.json'), 'utf8')) as { data: number[][] }).data;
  assert.equal(Array.from(ds.test.images.subarray((3 * 1000 + 17) * 784, (3 * 1000 + 18) * 784)), rows[file.classes[3].test[17]]);
  assert.is(ds.test.labels[3 * 1000 + 17], 3);
  assert.equal(Array.from(ds.train.images.subarray((3 * 6000 + 5) * 784, (3 * 6000 + 6) * 784)), rows[file.classes[3].train[5]]);
});

test.run();
