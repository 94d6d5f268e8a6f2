// Writes models/mnist-small-cnn.bsw, the model `bitswitch serve` opens when no file is given: the
// trained MNIST fixture runtime/test/fixtures/mnist-small-cnn.bsw with its input descriptor (format
// 1.2 INPT, from the trainer's data set) added. Weights, graph and metadata are the fixture's, unchanged.
// Usage: node --import tsx examples/browser/default-model.ts
import { readFileSync, writeFileSync } from 'node:fs';
import { readModel, writeModel } from '@bitswitch/format';
import { inputDescriptor, loadMnist } from '@bitswitch/trainer';

const root = new URL('../../', import.meta.url);
const model = readModel(readFileSync(new URL('runtime/test/fixtures/mnist-small-cnn.bsw', root)));
model.input = inputDescriptor(loadMnist());
const out = new URL('models/mnist-small-cnn.bsw', root);
writeFileSync(out, writeModel(model));
console.log(`wrote ${out.pathname}`);
