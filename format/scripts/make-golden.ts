// Regenerates format/test/golden/tiny-v1.bsw from tinyModel(1) (a 1.0 file), tiny-v1.1.bsw from
// tinyModelV11(1) (SENS std errors and probe counts) tiny-v1.2.bsw from tinyModelV12(1) (INPT) and tiny-v1.3.bsw from tinyModelV13(1) (SubNet BatchNorm statistics). Run only when the format changes on purpose
// (a new minor/major version), and say so in the commit.
import { writeFileSync } from 'node:fs';
import { writeModel } from '../src/index.ts';
import { tinyModel, tinyModelV11, tinyModelV12, tinyModelV13 } from '../src/testing.ts';

for (const [name, model] of [['tiny-v1.bsw', tinyModel(1)], ['tiny-v1.1.bsw', tinyModelV11(1)], ['tiny-v1.2.bsw', tinyModelV12(1)], ['tiny-v1.3.bsw', tinyModelV13(1)]] as const) {
  const out = new URL(`../test/golden/${name}`, import.meta.url);
  writeFileSync(out, writeModel(model));
  console.log(`wrote ${out.pathname}`);
}
