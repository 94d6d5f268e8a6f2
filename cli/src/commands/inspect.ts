// bitswitch inspect FILE: what a model file holds, and whether it is intact.
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { FormatError, describeModel, readFileInfo, readModel } from '@bitswitch/format';
import { errorReport } from '../errors.ts';

const kib = (n: number) => `${(n / 1024).toFixed(1)} KiB`;

/** Returns the report text; throws FormatError for a bad file (the caller prints it and exits 1). */
export function inspectBytes(bytes: Uint8Array, name: string): string {
  const lines: string[] = [];
  const info = readFileInfo(bytes);
  lines.push(`${name}: bitswitch format v${info.major}.${info.minor}, ${bytes.length} bytes`);
  lines.push(`header checksum: ${info.headerCrcOk ? 'ok' : 'MISMATCH'}`);
  lines.push('sections:');
  for (const s of info.sections) {
    lines.push(`  ${s.tag}  offset ${String(s.offset).padStart(8)}  length ${String(s.length).padStart(8)}  crc ${s.crc.toString(16).padStart(8, '0')} ${s.crcOk ? 'ok' : 'MISMATCH'}`);
  }
  const bad = !info.headerCrcOk || info.sections.some((s) => !s.crcOk);
  const text = () => lines.join('\n');
  let model;
  try {
    model = readModel(bytes);
  } catch (e) {
    if (e instanceof FormatError) (e as Error & { report?: string }).report = text();
    throw e;
  }
  if (bad) throw new Error('unreachable: checksums are verified by readModel');
  const s = describeModel(model);
  lines.push(`bits: ${s.bits.join(',')}   mode: ${s.mode}   input: ${s.inputShape.join('x')}`);
  lines.push(`layers: ${s.layers.length} (${s.quantizedLayers} quantized), ${s.params} weights, ${s.macs} MACs per image`);
  const nameW = Math.max(...s.layers.map((l) => l.name.length), 4);
  for (const l of s.layers) {
    lines.push(`  ${l.name.padEnd(nameW)}  ${l.op.padEnd(13)} ${`[${l.output.join(',')}]`.padEnd(12)} <- ${l.inputs.join(', ').padEnd(nameW)}  ${l.detail}`);
  }
  lines.push('weight bytes at each uniform precision (float layers at 4 bytes/weight):');
  for (const r of s.bytesAtBits) lines.push(`  w${r.bits}a${r.bits}: ${kib(r.bytes)}`);
  lines.push(`optional sections: ${s.sections.slice(2).join('; ') || 'none'}`);
  if (model.subnets?.length) {
    for (const sn of model.subnets) {
      lines.push(`  subnet ${sn.name}: bits [${sn.bits.join(',')}] budget ${JSON.stringify(sn.budget)}${sn.accuracy !== undefined ? ` accuracy ${(sn.accuracy * 100).toFixed(2)}%` : ''}`);
    }
  }
  if (model.metadata) lines.push(`metadata: ${JSON.stringify(model.metadata).slice(0, 400)}`);
  return text();
}

export function inspectCommand(file: string): number {
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(readFileSync(file));
  } catch (e) {
    const r = errorReport(e, 'bitswitch inspect', false, file);
    console.error(r.text);
    return r.code;
  }
  try {
    console.log(inspectBytes(bytes, file));
    return 0;
  } catch (e) {
    if (!(e instanceof FormatError)) throw e;
    const report = (e as Error & { report?: string }).report;
    if (report) console.log(report);
    console.error(`bitswitch inspect: ${file}: ${e.message}${e.message.includes(' — ') ? '' : ' — the file is damaged or not a bitswitch model'}`);
    return 1;
  }
}

export function register(program: Command): void {
  program.command('inspect')
    .description('print the layers, bit list, sizes at each precision, optional sections and checksum status of a model file')
    .argument('<file>', 'a .bsw model file')
    .action((file: string) => { process.exitCode = inspectCommand(file); });
}
