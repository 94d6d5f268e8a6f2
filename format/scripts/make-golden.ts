// Regenerates format/test/golden/tiny-v1.bsw from tinyModel(1). Run only when the format changes
// on purpose (a new minor/major version), and say so in the commit.
import { writeFileSync } from 'node:fs';
import { writeModel } from '../src/index.ts';
import { tinyModel } from '../src/testing.ts';

const out = new URL('../test/golden/tiny-v1.bsw', import.meta.url);
writeFileSync(out, writeModel(tinyModel(1)));
console.log(`wrote ${out.pathname}`);
