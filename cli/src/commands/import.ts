// bitswitch import: a float ONNX CNN → a bitswitch file (Double Rounding of its weights,
// activation scales calibrated per bit on training images of a data set), then its test accuracy
// at every bit on the CPU runtime.
import { existsSync, readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { writeModelFile } from '@bitswitch/format/node';

export interface ImportOptions { calibrate: string; out: string; bits: string; images: string; testImages: string }

/** "8,6,4,2" → [8, 6, 4, 2]; `flag` names the option in errors. */
export function parseBitList(v: string, flag: string): number[] {
  const bits = v.split(',').map((s) => Number(s.trim()));
  if (!bits.length || bits.some((b, i) => !Number.isInteger(b) || b < 2 || b > 8 || (i > 0 && b >= bits[i - 1]))) {
    throw new RangeError(`${flag}: expected distinct bit-widths in 2..8, highest first (e.g. 8,6,4,2), got ${JSON.stringify(v)}`);
  }
  return bits;
}

function count(v: string, flag: string, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new RangeError(`${flag}: expected a whole number ≥ ${min}, got ${JSON.stringify(v)}`);
  return n;
}

export async function importCommand(file: string, o: ImportOptions): Promise<void> {
  const bits = parseBitList(o.bits, '--bits');
  const nCal = count(o.images, '--images', 1);
  const nTest = count(o.testImages, '--test-images', 0);
  if (existsSync(o.out)) throw new RangeError(`--out: ${o.out} already exists — choose another path or delete it`);
  const bytes = new Uint8Array(readFileSync(file));
  const { DATASETS, loadDataset, makeBatch, stratifiedSubset, NO_AUGMENT, Rng } = await import('@bitswitch/trainer');
  if (!(DATASETS as readonly string[]).includes(o.calibrate)) throw new RangeError(`--calibrate: expected one of ${DATASETS.join(', ')}, got ${JSON.stringify(o.calibrate)}`);
  const { importOnnx, parseOnnx, floatModel } = await import('@bitswitch/onnx');
  const parsed = parseOnnx(bytes, file); // an unsupported graph fails before the data set loads
  const ds = loadDataset(o.calibrate);
  const pixels = ds.height * ds.width * ds.channels;
  if (parsed.inputShape.join() !== [ds.height, ds.width, ds.channels].join()) {
    throw new RangeError(`${file}: input [${parsed.inputShape}] (H, W, C) — expected [${ds.height},${ds.width},${ds.channels}] to calibrate on ${o.calibrate}`);
  }
  const batchOf = (split: typeof ds.train, n: number) => {
    const s = n < split.count ? stratifiedSubset(split, Math.ceil(n / ds.classes), ds.classes, pixels) : split;
    return makeBatch(ds, s, Int32Array.from({ length: s.count }, (_, i) => i), NO_AUGMENT, new Rng(0));
  };
  const cal = batchOf(ds.train, nCal);
  const calCount = cal.x.length / pixels;
  console.log(`calibrating ${file} on ${calCount} ${o.calibrate} training images at bits {${bits}} (input normalised as the trainer does: (pixel/255 − ${ds.mean}) / ${ds.std})`);
  const model = importOnnx(bytes, { bits, calibration: cal.x, file, metadata: { dataset: o.calibrate } });
  const accuracy: Record<string, number> = {};
  if (nTest > 0) {
    const test = batchOf(ds.test, nTest);
    const n = test.x.length / pixels;
    const { createRuntime, argmax } = await import('@bitswitch/runtime');
    const score = (logits: Float32Array) => argmax(logits, n).reduce((a, c, i) => a + Number(c === test.y[i]), 0) / n;
    const fp = await createRuntime(floatModel(parsed), { threads: 1 });
    accuracy.fp32 = score(fp.run(test.x, n));
    fp.dispose();
    const rt = await createRuntime(model);
    for (const b of bits) { rt.setPrecision(b); accuracy[`w${b}a${b}`] = score(rt.run(test.x, n)); }
    rt.dispose();
    model.metadata = { ...model.metadata, accuracy, testImages: n };
    console.log(`test accuracy on ${n} ${o.calibrate} test images: ${Object.entries(accuracy).map(([k, v]) => `${k} ${(100 * v).toFixed(2)} %`).join(', ')}`);
  }
  writeModelFile(o.out, model);
  const q = model.layers.filter((l) => (l.op === 'conv2d' || l.op === 'dense') && l.weights.kind === 'int').length;
  console.log(`wrote ${o.out}: ${model.layers.length} layers, ${q} quantized (int${bits[0]} per channel), bits {${bits}}; to train every bit jointly from these weights: bitswitch train --model <the same architecture> --data ${o.calibrate} --init ${file} --out DIR`);
}

export function register(program: Command): void {
  program.command('import')
    .description('turn a float ONNX CNN into a bitswitch file: BatchNorm folded, int8 per-channel weights (lower bits by Double Rounding), activation scales calibrated per bit')
    .argument('<model.onnx>', 'a float ONNX model: Conv, Gemm/MatMul, BatchNormalization, Relu, Add, AveragePool/GlobalAveragePool, Flatten/Reshape; NCHW input normalised as the trainer normalises DATA')
    .requiredOption('--calibrate <data>', 'data set whose training images calibrate the activation scales: mnist | fashion-mnist')
    .requiredOption('--out <file>', 'the .bsw file to write (must not exist)')
    .option('--bits <list>', 'bit list, highest first', '8,6,4,2')
    .option('--images <n>', 'calibration images (a stratified subset of the training split)', '256')
    .option('--test-images <n>', 'test images to report accuracy on (0: skip)', '1000')
    .action(async (file: string, o: ImportOptions) => { await importCommand(file, o); });
}
