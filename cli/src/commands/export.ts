// bitswitch export --onnx: one precision of a bitswitch file as a QDQ ONNX model.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { readModelFile, writeFileAtomic } from '@bitswitch/format/node';

export interface ExportOptions { onnx?: boolean; bits: string; out: string }

/** --bits: "4" (uniform), "8,4,2,…" (one per quantized layer) or a SubNet name. */
function precisionOf(v: string): number | number[] | string {
  if (/^\d+$/.test(v.trim())) return Number(v);
  if (/^\d+(\s*,\s*\d+)+$/.test(v.trim())) return v.split(',').map(Number);
  return v;
}

export async function exportCommand(file: string, o: ExportOptions): Promise<void> {
  if (!o.onnx) throw new RangeError('--onnx: expected it (ONNX is the one export format) — add --onnx');
  if (existsSync(o.out)) throw new RangeError(`--out: ${o.out} already exists — choose another path or delete it`);
  const model = readModelFile(file);
  const { exportOnnx } = await import('@bitswitch/onnx');
  let result;
  try {
    result = exportOnnx(model, precisionOf(o.bits));
  } catch (e) {
    if (e instanceof RangeError && e.message.startsWith('precision')) throw new RangeError(`--bits: ${e.message.replace(/^precision(\[\d+\])?: /, '')}`);
    throw e;
  }
  writeFileAtomic(o.out, result.bytes);
  console.log(`wrote ${o.out}: ${file} at ${result.label} (bits per quantized layer [${result.bits}]) as QDQ ONNX, opset 13; input '${result.inputName}' NCHW float32, output '${result.outputName}'`);
  console.log('onnxruntime reproduces the file\'s integer codes with graphOptimizationLevel \'disabled\'; its optimizations rewrite QDQ graphs approximately (onnx/README.md)');
}

export function register(program: Command): void {
  program.command('export')
    .description('write one precision of a model file as a QDQ ONNX model (QuantizeLinear/DequantizeLinear with the file\'s scales)')
    .argument('<file>', 'a .bsw model file')
    .option('--onnx', 'write ONNX (the one export format)')
    .requiredOption('--bits <b|list|subnet>', 'a bit of the file\'s list (4), one bit per quantized layer (8,4,2,…) or a SubNet name stored in the file')
    .requiredOption('--out <file>', 'the .onnx file to write (must not exist)')
    .action(async (file: string, o: ExportOptions) => { await exportCommand(file, o); });
}
