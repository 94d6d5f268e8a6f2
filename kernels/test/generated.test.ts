import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { SOURCE_HASH } from '../src/generated/wasm.ts';
import { sourceHash } from '../scripts/source-hash.ts';

test('src/generated/wasm.ts was built from the current assembly sources (else run `pnpm build`)', () => {
  const root = join(fileURLToPath(import.meta.url), '..', '..', '..');
  assert.is(SOURCE_HASH, sourceHash(root));
});

test.run();
