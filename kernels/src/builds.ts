// Which wasm builds this engine can run, and their bytes (embedded; no fs, so it works in browsers).
import { WASM_BASE64 } from './generated/wasm.ts';

export type BuildName = 'relaxed' | 'simd' | 'scalar';

/** All builds, best first. */
export const BUILDS: readonly BuildName[] = ['relaxed', 'simd', 'scalar'];

const bytesCache = new Map<string, Uint8Array<ArrayBuffer>>();

function decodeBase64(text: string): Uint8Array<ArrayBuffer> {
  const bin = atob(text);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

export function checkBuild(build: unknown): BuildName {
  if (!BUILDS.includes(build as BuildName)) {
    throw new RangeError(`build: expected one of ${BUILDS.join(', ')}, got ${String(build)}`);
  }
  return build as BuildName;
}

/** The wasm bytes of a build. */
export function buildBytes(build: BuildName): Uint8Array<ArrayBuffer> {
  return decoded(checkBuild(build));
}

/** The bytes of a build's shared-memory twin (imports env.memory, shared; for threads). */
export function sharedBuildBytes(build: BuildName): Uint8Array<ArrayBuffer> {
  return decoded(`${checkBuild(build)}-shared`);
}

/** The bytes of the trainer's fused kernels (SIMD; they import TensorFlow.js's wasm memory). */
export function trainingBytes(): Uint8Array<ArrayBuffer> {
  return decoded('training');
}

/** The bytes of an entry of src/generated/wasm.ts, decoded once. */
function decoded(key: string): Uint8Array<ArrayBuffer> {
  let bytes = bytesCache.get(key);
  if (!bytes) {
    const text = WASM_BASE64[key];
    if (!text) throw new Error(`kernels: build ${key} is missing from src/generated/wasm.ts; run \`pnpm build\``);
    bytes = decodeBase64(text);
    bytesCache.set(key, bytes);
  }
  return bytes;
}

/** Builds this engine validates, best first (relaxed needs e.g. Node 20's --experimental-wasm-relaxed-simd). */
export function availableBuilds(): BuildName[] {
  return BUILDS.filter((b) => WebAssembly.validate(buildBytes(b)));
}

/**
 * How this engine came to run relaxed SIMD: 'engine' (on by default: browsers, Node ≥ 22),
 * 'v8-flag' (Node 20: turned on when this module loaded), or 'unavailable' (the simd build runs).
 */
export type RelaxedSimdSupport = 'engine' | 'v8-flag' | 'unavailable';

/**
 * Node 20 ships relaxed SIMD behind `--experimental-wasm-relaxed-simd`. Where the relaxed build does
 * not validate and this is Node, set that V8 flag (v8.setFlagsFromString) and validate again; done
 * once as this module loads, so before anything validates or compiles a build. The relaxed build
 * uses one relaxed instruction, i16x8.relaxed_dot_i8x16_i7x16_s, with its i7 operand in 0..127, which
 * Node 20 computes exactly in both tiers; not i32x4.relaxed_dot_i8x16_i7x16_add_s, which Node 20's
 * baseline compiler (Liftoff) gets wrong (test/packaging/relaxed-simd.test.ts checks both).
 */
function enableRelaxedSimd(): RelaxedSimdSupport {
  const bytes = buildBytes('relaxed');
  if (WebAssembly.validate(bytes)) return 'engine';
  const p = (globalThis as { process?: { versions?: { node?: string }; getBuiltinModule?: (id: string) => unknown } }).process;
  const v8 = p?.versions?.node ? p.getBuiltinModule?.('node:v8') as { setFlagsFromString(flag: string): void } | undefined : undefined;
  if (!v8) return 'unavailable';
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return WebAssembly.validate(bytes) ? 'v8-flag' : 'unavailable';
}

const relaxedSupport = enableRelaxedSimd();

/** Whether relaxed SIMD runs here, and how (see RelaxedSimdSupport). */
export function relaxedSimdSupport(): RelaxedSimdSupport {
  return relaxedSupport;
}
