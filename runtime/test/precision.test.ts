// resolvePrecision on a hand-made model (bits [8, 6, 4, 2], two SubNets, three quantized layers):
// every form of spec gives the bits, the index of each bit in the model's list and the label the
// documentation promises, and every bad spec one message naming the field and what was expected.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { Model } from '@bitswitch/format';
import { resolvePrecision } from '../src/index.ts';
import { thrownMessage as message } from '../../test/mutation-oracles.ts';

const model = {
  bits: [8, 6, 4, 2], mode: 'multi', inputShape: [1, 1, 1], layers: [],
  subnets: [
    { name: 'low', bits: [2, 4, 2], budget: {} },
    { name: 'short', bits: [8, 8], budget: {} },
  ],
} as unknown as Model;


test('a uniform bit: every layer at that bit, its index in the model, label wXaX', () => {
  assert.equal(resolvePrecision(model, 3, 6), { bits: [6, 6, 6], bitIndex: [1, 1, 1], label: 'w6a6' });
  assert.equal(resolvePrecision(model, 2, 2), { bits: [2, 2], bitIndex: [3, 3], label: 'w2a2' });
});

test('a list: a copy of it, indices into model.bits, label mixed:[…] unless all bits are equal', () => {
  const list = [8, 2, 4];
  const p = resolvePrecision(model, 3, list);
  assert.equal(p, { bits: [8, 2, 4], bitIndex: [0, 3, 2], label: 'mixed:[8,2,4]' });
  p.bits[0] = 2;
  assert.equal(list, [8, 2, 4], 'the caller\'s list is not aliased');
  assert.equal(resolvePrecision(model, 3, [4, 4, 4]), { bits: [4, 4, 4], bitIndex: [2, 2, 2], label: 'w4a4' });
  assert.equal(resolvePrecision(model, 3, [4, 4, 8]).label, 'mixed:[4,4,8]');
});

test('a SubNet name: its bits, labelled by its name', () => {
  assert.equal(resolvePrecision(model, 3, 'low'), { bits: [2, 4, 2], bitIndex: [3, 2, 3], label: 'low' });
});

test('bad specs: one message naming the field, the expected value and what was given', () => {
  assert.is(message(() => resolvePrecision(model, 3, 5)), "precision: expected one of the model's bits [8,6,4,2], got 5");
  assert.is(message(() => resolvePrecision(model, 3, [8, 8])), 'precision: expected 3 bits (one per quantized layer), got 2');
  assert.is(message(() => resolvePrecision(model, 3, [8, 3, 8])), "precision[1]: expected one of the model's bits [8,6,4,2], got 3");
  assert.is(message(() => resolvePrecision(model, 3, 'nope')),
    "precision: expected a bit in [8,6,4,2], a list of 3 bits, or a SubNet name in ['low', 'short'], got 'nope'");
  assert.is(message(() => resolvePrecision(model, 3, 'short')), "subnet 'short'.bits: expected 3 bits (one per quantized layer), got 2");
  assert.is(message(() => resolvePrecision(model, 3, { bits: 4 } as never)),
    'precision: expected a number, an array of numbers, or a SubNet name, got object');
  const bare = { ...model, subnets: undefined } as Model;
  assert.is(message(() => resolvePrecision(bare, 3, 'low')),
    "precision: expected a bit in [8,6,4,2], a list of 3 bits, or a SubNet name in [], got 'low'");
});

test.run();
