// The GEMM kernel families: one row per family feeds the loader's choice, the tester and the benchmark.
import type { BuildName } from './builds.ts';
import { packPanelsRef } from './reference/pack.ts';

export interface GemmFamily {
  /** XNNPACK-style name: activation/weight types, operation, tile MRxNR c2 (k pairs), ISA, method. */
  readonly name: string;
  /** Panel layout / microkernel selector passed to the wasm gemm. */
  readonly path: 0 | 1 | 2 | 3;
  readonly mr: number;
  readonly nr: number;
  /** Builds that contain this family's microkernel. */
  readonly builds: readonly BuildName[];
  /** Whether weights of wbits by activations of abits run exactly on it. */
  supports(wbits: number, abits: number): boolean;
  /** Reference packing of [n][k] values into its panels. */
  packRef(values: Int8Array, bits: number, n: number, k: number): Uint8Array;
}

/**
 * k-groups of 4 the lut16 family's uint8 plane sums can take before widening: each lookup adds at
 * most 4·(2^a − 1) (a subset sum of 4 activations), and the sum must stay ≤ 255.
 */
export function lutChunk(abits: number): number {
  return Math.floor(255 / (4 * (2 ** abits - 1)));
}

/**
 * k-pairs a 16-bit accumulator can take before widening: |w0·a0 + w1·a1| ≤ 2·2^(w-1)·(2^a-1)
 * must stay ≤ 32767 over the chunk (pmaddubsw saturates a pair, i16x8.add wraps the sum).
 */
export function acc16Chunk(wbits: number, abits: number): number {
  return Math.min(512, Math.floor(32767 / (2 * 2 ** (wbits - 1) * (2 ** abits - 1))));
}

/**
 * One i32x4.relaxed_dot_i8x16_i7x16_add_s of constant operands (signed bytes a, bytes b, int32 c) in a
 * fresh module, so that the engine's baseline tier runs it, compared with c + Σ a·b where b's bytes
 * are read unsigned: true where they agree.
 */
function dot4Agrees(a: number[], b: number[], c: number[]): boolean {
  const want = c.map((v, j) => v + [0, 1, 2, 3].reduce((s, i) => s + a[4 * j + i] * b[4 * j + i], 0));
  const bytes = (v: number[], size: number) => v.flatMap((x) => Array.from({ length: size }, (_, k) => (x >> (8 * k)) & 0xff));
  const konst = (v: number[], size: number) => [0xfd, 0x0c, ...bytes(v, size)];
  const body = [0, ...konst(a, 1), ...konst(b, 1), ...konst(c, 4), 0xfd, 0x93, 0x02, ...konst(want, 4), 0xfd, 0x37, 0xfd, 0xa3, 0x01, 0x0b];
  const mod = [0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 5, 1, 0x60, 0, 1, 0x7f, 3, 2, 1, 0, 7, 5, 1, 1, 0x70, 0, 0,
    10, body.length + 2, 1, body.length, ...body];
  try {
    const inst = new WebAssembly.Instance(new WebAssembly.Module(Uint8Array.from(mod)));
    return (inst.exports.p as () => number)() === 1;
  } catch {
    return false; // no relaxed SIMD here (or not enabled yet)
  }
}

/** The relaxed dot-add with its second operand in 0..127 (where every lowering agrees) right in the baseline tier. */
export function dot4Probe(): boolean {
  const a = Array.from({ length: 16 }, (_, i) => [-128, 127, -77, 5, 93, -1, 64, -100][i % 8] + (i >> 3));
  const b = Array.from({ length: 16 }, (_, i) => [127, 126, 3, 0, 88, 127, 1, 64][(i * 3) % 8]);
  return dot4Agrees(a, b, [1000, -70000, 3, 123456]);
}

/**
 * The relaxed dot-add with second-operand bytes of 128..255 read unsigned and exact int32 sums: what
 * x86 with AVX-VNNI computes (one vpdpbusd). The operands tell the other lowerings apart: ARM's
 * signed dot reads 255 as −1, and x86 without VNNI (pmaddubsw) saturates 127·255 + 127·255 at 32767.
 */
export function dot4Unsigned8Probe(): boolean {
  const a = [-128, -128, -128, -128, 127, 127, 127, 127, -128, 127, -1, 5, 0, -77, 64, 1];
  const b = [255, 255, 255, 255, 255, 255, 255, 255, 200, 128, 255, 131, 9, 254, 129, 0];
  return dot4Agrees(a, b, [5, -3, 1 << 20, -123456]);
}

let dot4Checked: boolean | undefined;

/**
 * Whether this engine runs i32x4.relaxed_dot_i8x16_i7x16_add_s right: Node 20's baseline compiler
 * (V8 11.3) computes it wrong, so the dot4 family is left out on Node < 22 and wherever a probe run
 * by the baseline tier disagrees with the definition. BITSWITCH_DOT4=force keeps it in, for testing
 * it on Node 20 under --no-liftoff (optimizing tier only).
 */
export function dot4Reliable(): boolean {
  // decided once: supports() asks on every GEMM call with dot4 weights
  return (dot4Checked ??= dot4Decide());
}

let dot4U8Checked: boolean | undefined;

/**
 * Whether the dot4 family may take 8-bit activations (0..255) as its i7 operand: where dot4 is
 * reliable and the engine computes that operand unsigned with exact int32 sums (dot4Unsigned8Probe;
 * x86 with AVX-VNNI in Node ≥ 22 and current browsers). Elsewhere w·a8 stays on dot16.
 * BITSWITCH_DOT4_U8=off leaves it out; =force keeps it in wherever dot4 is reliable, for testing that
 * the family chooser (choose.ts) refuses it where its sums come out wrong.
 */
export function dot4Unsigned8(): boolean {
  if (dot4U8Checked === undefined) {
    const mode = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.BITSWITCH_DOT4_U8;
    dot4U8Checked = mode !== 'off' && dot4Reliable() && (mode === 'force' || dot4Unsigned8Probe());
  }
  return dot4U8Checked;
}

function dot4Decide(): boolean {
  const p = (globalThis as { process?: { versions?: { node?: string }; env?: Record<string, string | undefined> } }).process;
  if (p?.env?.BITSWITCH_DOT4 === 'force') return true;
  const node = p?.versions?.node;
  if (node !== undefined && Number(node.split('.')[0]) < 22) return false;
  return dot4Probe();
}

export const GEMM_FAMILIES: readonly GemmFamily[] = [
  {
    name: 'qu8-qs8-gemm-4x8c4-wasmrelaxedsimd-dot4',
    path: 3, mr: 4, nr: 8, builds: ['relaxed'],
    // activations are the i7 operand: 0..127 everywhere it is reliable, 0..255 where the engine reads
    // it unsigned with exact sums (dot4Unsigned8); int32 sums of 4 products, so any weight width
    supports: (_wbits, abits) => (abits <= 7 ? dot4Reliable() : abits === 8 && dot4Unsigned8()),
    packRef: (v, bits, n, k) => packPanelsRef(v, bits, n, k, 3),
  },
  {
    name: 'qu8-qs8-gemm-4x16c2-wasmrelaxedsimd-dot8-acc16',
    path: 1, mr: 4, nr: 16, builds: ['relaxed'],
    // activations must be the i7 operand (0..127); too few pairs per chunk is slower than dot16
    supports: (wbits, abits) => abits <= 7 && acc16Chunk(wbits, abits) >= 8,
    packRef: (v, bits, n, k) => packPanelsRef(v, bits, n, k, 1),
  },
  {
    name: 'qu8-qs8-gemm-4x8c2-wasmsimd-dot16x2',
    path: 0, mr: 4, nr: 8, builds: ['relaxed', 'simd'],
    supports: () => true,
    packRef: (v, bits, n, k) => packPanelsRef(v, bits, n, k, 0),
  },
  {
    name: 'qu8-qs8-gemm-4x8c2-scalar',
    path: 0, mr: 4, nr: 8, builds: ['scalar'],
    supports: () => true,
    packRef: (v, bits, n, k) => packPanelsRef(v, bits, n, k, 0),
  },
  {
    name: 'qu8-qs2-gemm-4x16c4-wasmsimd-lut16',
    path: 2, mr: 4, nr: 16, builds: ['relaxed', 'simd'],
    // last: preferred nowhere, taken where kn.fastestFamily measures it faster for a shape (choose.ts); two bit planes; the tables' subset sums of 4 activations fit a byte for a ≤ 4 bits
    supports: (wbits, abits) => wbits <= 2 && abits <= 4,
    packRef: (v, bits, n, k) => packPanelsRef(v, bits, n, k, 2),
  },
];

/** Families a build contains, preferred first. */
export function familiesOf(build: BuildName): GemmFamily[] {
  return GEMM_FAMILIES.filter((f) => f.builds.includes(build));
}

/** The preferred family of a build for wbits × abits. */
export function defaultFamily(build: BuildName, wbits: number, abits: number): GemmFamily {
  const f = familiesOf(build).find((x) => x.supports(wbits, abits));
  if (!f) throw new RangeError(`abits: no GEMM family of build ${build} supports w${wbits}a${abits}`);
  return f;
}
