// Budget tables' names, units and messages as the user sees them, and the latency table's edges:
// a 0 ms row is valid, non-finite or non-numeric times and non-object rows are refused by name.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { BUDGET_KINDS, budgetConstraint, objectiveTable, parseLatencyTable, type SearchSpace } from '../src/index.ts';
import { thrownMessage as message } from '../../test/mutation-oracles.ts';

const space: SearchSpace = {
  bits: [8, 4],
  layers: [{ name: 'a', params: 10, macs: 100, hessianTrace: 1, rows: 1, cols: 10 }],
  perturbation: [[0, 1]],
  latency: new Map([['a', new Map([[8, 2], [4, 1]])]]),
};


test('each budget kind names itself and its unit (both appear in infeasibility messages)', () => {
  const got = BUDGET_KINDS.map((kind) => {
    const c = budgetConstraint(space, { kind, max: 1 });
    return [c.name, c.unit];
  });
  assert.equal(got, [['avg-bits', 'bits'], ['avg-bits-param', 'bits'], ['model-bytes', 'bytes'], ['bitops', 'BitOps'], ['latency', 'ms']]);
});

test('unknown objective and budget kinds are refused with the accepted list', () => {
  assert.is(message(() => objectiveTable(space, 'fastest' as never)), 'objective: expected one of perturbation, paper, authors, got fastest');
  assert.is(message(() => budgetConstraint(space, { kind: 'watts' as never, max: 1 })),
    'budget: expected one of avg-bits, avg-bits-param, model-bytes, bitops, latency, got watts');
});

test('latency table rows: objects only, times finite and >= 0 (0 allowed), the default source name in messages', () => {
  assert.is(message(() => parseLatencyTable({})), 'latency table: expected a JSON array of {layer, bits, ms}, got object');
  assert.is(message(() => parseLatencyTable([null])), 'latency table[0]: expected an object {layer, bits, ms}');
  assert.is(message(() => parseLatencyTable([{ layer: 'a', bits: 8, ms: 1 }, 3], 't.json')), 't.json[1]: expected an object {layer, bits, ms}');
  assert.is(message(() => parseLatencyTable([{ layer: 'a', bits: 8, ms: 'fast' }])), 'latency table[0].ms: expected a finite number >= 0, got "fast"');
  assert.is(message(() => parseLatencyTable([{ layer: 'a', bits: 8, ms: NaN }])), 'latency table[0].ms: expected a finite number >= 0, got null');
  assert.is(message(() => parseLatencyTable([{ layer: 'a', bits: 8, ms: Infinity }])), 'latency table[0].ms: expected a finite number >= 0, got null');
  assert.is(message(() => parseLatencyTable([{ layer: 'a', bits: 8, ms: -0.5 }])), 'latency table[0].ms: expected a finite number >= 0, got -0.5');
  assert.is(parseLatencyTable([{ layer: 'a', bits: 8, ms: 0 }]).get('a')!.get(8), 0);
});

test.run();
