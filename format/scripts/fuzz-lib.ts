// Mutation fuzzer for the reader: every input must either parse or raise FormatError.
// Three mutation families: raw bytes (checksums then usually fail), raw bytes with checksums
// repaired (reaches the section parsers), and structural JSON edits with checksums repaired
// (reaches the field validators and tensor bounds).
import { FormatError, assembleFile, readFileInfo, readModel, seededRandom, tinyModel, tinyModelV12, writeModel } from '../src/index.ts';

export interface FuzzReport {
  inputs: number;
  parsed: number;
  formatErrors: number;
  otherErrors: { input: number; error: string }[];
  slowest: { ms: number; input: number };
  maxHeapGrowthMB: number;
  errorFields: Map<string, number>;
}

type Rand = () => number;
const pick = <T>(rand: Rand, xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)];
const int = (rand: Rand, n: number) => Math.floor(rand() * n);

function sectionsOf(bytes: Uint8Array): [string, Uint8Array][] {
  return readFileInfo(bytes).sections.map((s) => [s.tag, bytes.slice(s.offset, s.offset + s.length)]);
}

function mutateBytes(rand: Rand, b: Uint8Array): Uint8Array {
  const out = b.slice();
  const kind = int(rand, 6);
  if (kind === 0) return out.slice(0, int(rand, out.length)); // truncate
  if (kind === 1) { // append junk
    const extra = new Uint8Array(1 + int(rand, 64)).map(() => int(rand, 256));
    const r = new Uint8Array(out.length + extra.length); r.set(out); r.set(extra, out.length); return r;
  }
  const flips = 1 + int(rand, 8);
  for (let i = 0; i < flips; i++) {
    const at = int(rand, out.length);
    if (kind === 2) out[at] ^= 1 << int(rand, 8);
    else if (kind === 3) out[at] = pick(rand, [0, 0xff, 0x7f, 0x80, 1, int(rand, 256)]);
    else if (kind === 4 && at + 4 <= out.length) new DataView(out.buffer).setUint32(at, pick(rand, [0, 0xffffffff, 0x7fffffff, out.length, int(rand, 1 << 30)]), true);
    else out[at] = int(rand, 256);
  }
  return out;
}

function repairChecksums(b: Uint8Array): Uint8Array {
  try { return assembleFile(sectionsOf(b)); } catch { return b; }
}

const INTERESTING: unknown[] = [0, -1, 1, 2, 3, 8, 9, 1e9, -1e9, 2 ** 31, 2 ** 53, 0.5, NaN, null, '', 'x', 'input', [], {}, [1], [0, 0], true];

function mutateJsonValue(rand: Rand, v: any, depth = 0): any {
  if (Array.isArray(v)) {
    if (v.length === 0 || rand() < 0.15) return pick(rand, INTERESTING);
    const c = v.slice();
    const i = int(rand, c.length);
    const r = rand();
    if (r < 0.1) c.splice(i, 1);
    else if (r < 0.2) c.push(structuredClone(c[i]));
    else if (r < 0.25) c.reverse();
    else c[i] = mutateJsonValue(rand, c[i], depth + 1);
    return c;
  }
  if (v && typeof v === 'object') {
    const keys = Object.keys(v);
    if (keys.length === 0 || rand() < 0.1) return pick(rand, INTERESTING);
    const c = { ...v };
    const k = pick(rand, keys);
    const r = rand();
    if (r < 0.1) delete c[k];
    else c[k] = mutateJsonValue(rand, c[k], depth + 1);
    return c;
  }
  if (typeof v === 'number' && rand() < 0.5) return pick(rand, [v + 1, v - 1, v * 2, -v, v + 16, v * 1000, 0]);
  if (typeof v === 'string' && rand() < 0.5) return pick(rand, ['same', 'valid', 'int8', 'int4', 'float32', 'per-bit', 'conv2d', 'add', 'NHWC', 'NCHW', 'uint8', v + 'x']);
  return pick(rand, INTERESTING);
}

function mutateJson(rand: Rand, b: Uint8Array): Uint8Array {
  const sections = sectionsOf(b);
  const jsonIdx = sections.map((s, i) => (s[0] === 'TENS' ? -1 : i)).filter((i) => i >= 0);
  const i = pick(rand, jsonIdx);
  const value = JSON.parse(new TextDecoder().decode(sections[i][1]));
  const edits = 1 + int(rand, 3);
  let m = value;
  for (let e = 0; e < edits; e++) m = mutateJsonValue(rand, m);
  sections[i] = [sections[i][0], new TextEncoder().encode(JSON.stringify(m) ?? 'null')];
  if (rand() < 0.1) sections.splice(int(rand, sections.length), 1);
  return assembleFile(sections);
}

/** The seed files: the golden models (1.0 and 1.2 with INPT) and a variant with no optional sections. */
export function seedFiles(): Uint8Array[] {
  const a = tinyModel(1);
  const b = tinyModel(2);
  delete b.subnets; delete b.sensitivity; delete b.metadata;
  return [writeModel(a), writeModel(b), writeModel(tinyModelV12(1))];
}

export function fuzzFormat(iterations: number, seed: number, onProgress?: (done: number) => void): FuzzReport {
  const rand = seededRandom(seed);
  const seeds = seedFiles();
  const report: FuzzReport = {
    inputs: 0, parsed: 0, formatErrors: 0, otherErrors: [], slowest: { ms: 0, input: -1 }, maxHeapGrowthMB: 0, errorFields: new Map(),
  };
  const heap0 = process.memoryUsage().heapUsed;
  for (let n = 0; n < iterations; n++) {
    const base = pick(rand, seeds);
    const family = int(rand, 3);
    let input: Uint8Array;
    try {
      input = family === 0 ? mutateBytes(rand, base) : family === 1 ? repairChecksums(mutateBytes(rand, base)) : mutateJson(rand, base);
    } catch {
      continue; // the mutation itself could not be built (e.g. a section table already broken)
    }
    report.inputs++;
    const t0 = performance.now();
    try {
      readModel(input);
      report.parsed++;
    } catch (e) {
      if (e instanceof FormatError) {
        report.formatErrors++;
        const key = e.field.replace(/\[\d+\]/g, '[]');
        report.errorFields.set(key, (report.errorFields.get(key) ?? 0) + 1);
      } else {
        report.otherErrors.push({ input: n, error: String((e as Error)?.stack ?? e).split('\n').slice(0, 3).join(' | ') });
      }
    }
    const ms = performance.now() - t0;
    if (ms > report.slowest.ms) report.slowest = { ms, input: n };
    if ((n & 1023) === 0) {
      report.maxHeapGrowthMB = Math.max(report.maxHeapGrowthMB, (process.memoryUsage().heapUsed - heap0) / 2 ** 20);
      onProgress?.(n);
    }
  }
  return report;
}
