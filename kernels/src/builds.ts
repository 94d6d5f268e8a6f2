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
