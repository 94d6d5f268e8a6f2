import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fuzzFormat } from '../scripts/fuzz-lib.ts';

test('3000 mutated files each parse or raise FormatError', () => {
  const r = fuzzFormat(3000, 1234);
  assert.ok(r.inputs > 2500, `only ${r.inputs} inputs were built`);
  assert.equal(r.otherErrors, [], 'non-FormatError exceptions');
  assert.ok(r.formatErrors > 0 && r.parsed > 0, 'mutations should both break and keep files valid');
  assert.ok(r.errorFields.size > 15, `mutations reached only ${r.errorFields.size} distinct fields`);
});

test.run();
