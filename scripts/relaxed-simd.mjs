// Preloaded by the package scripts (node --import ./scripts/relaxed-simd.mjs …): Node 20 runs
// relaxed SIMD only behind --experimental-wasm-relaxed-simd, a flag Node ≥ 22 rejects on its command
// line ("bad option") since relaxed SIMD is on there. Turning it on here, and only where a module
// with one relaxed instruction does not validate, serves both before anything compiles wasm.
import v8 from 'node:v8';

const zeros = new Array(16).fill(0);
// (func (drop (i8x16.relaxed_swizzle (v128.const 0) (v128.const 0))))
const body = [0x00, 0xfd, 0x0c, ...zeros, 0xfd, 0x0c, ...zeros, 0xfd, 0x80, 0x02, 0x1a, 0x0b];
const module = Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x04, 0x01, 0x60, 0x00, 0x00,
  0x03, 0x02, 0x01, 0x00, 0x0a, body.length + 2, 0x01, body.length, ...body]);

if (!WebAssembly.validate(module)) v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
