// float32 GEMM for the float first/last layers: out[m][n] = epilogue(Σ_k a[m·lda + k]·W[n][k]), each
// output summed in k order with one float32 rounding per multiply and per add (no FMA), so the scalar
// reference reproduces it exactly. Panels: tiles of 8 columns, [tile][k][8] float32.
import { epilogueTile, setTileFloat } from './epilogue';

const NR = 8;

/** Packs float32 weights [n][k] into tiles of 8 columns (missing columns are 0). */
export function packPanelsF32(src: usize, n: i32, k: i32, dst: usize): void {
  const tiles = (n + NR - 1) / NR;
  memory.fill(dst, 0, <usize>(tiles * k * NR) << 2);
  for (let r = 0; r < n; r++) {
    const base = dst + (<usize>((r / NR) * k * NR + (r % NR)) << 2);
    for (let c = 0; c < k; c++) store<f32>(base + (<usize>(c * NR) << 2), load<f32>(src + (<usize>(r * k + c) << 2)));
  }
}

function kernel4x8F32(a0: usize, a1: usize, a2: usize, a3: usize, w: usize, k: i32, tile: usize): void {
  if (ASC_FEATURE_SIMD) {
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    // Monomorphic hot loop, written out like the integer microkernels (microkernels/: the same
    // 4×2 register tile with another multiply-add): eight accumulators stay in registers only when
    // the body is spelled out; AssemblyScript cannot inline a multiply-add passed as a function.
    for (let c = 0; c < k; c++) {
      const w0 = v128.load(w);
      const w1 = v128.load(w, 16);
      w += 32;
      let x = v128.load32_splat(a0); a0 += 4;
      c00 = f32x4.add(c00, f32x4.mul(x, w0));
      c01 = f32x4.add(c01, f32x4.mul(x, w1));
      x = v128.load32_splat(a1); a1 += 4;
      c10 = f32x4.add(c10, f32x4.mul(x, w0));
      c11 = f32x4.add(c11, f32x4.mul(x, w1));
      x = v128.load32_splat(a2); a2 += 4;
      c20 = f32x4.add(c20, f32x4.mul(x, w0));
      c21 = f32x4.add(c21, f32x4.mul(x, w1));
      x = v128.load32_splat(a3); a3 += 4;
      c30 = f32x4.add(c30, f32x4.mul(x, w0));
      c31 = f32x4.add(c31, f32x4.mul(x, w1));
    }
    v128.store(tile, c00); v128.store(tile, c01, 16);
    v128.store(tile, c10, 32); v128.store(tile, c11, 48);
    v128.store(tile, c20, 64); v128.store(tile, c21, 80);
    v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  } else {
    memory.fill(tile, 0, 4 * NR * 4);
    for (let c = 0; c < k; c++) {
      for (let r = 0; r < 4; r++) {
        const x = load<f32>((r == 0 ? a0 : r == 1 ? a1 : r == 2 ? a2 : a3) + (<usize>c << 2));
        const t = tile + (<usize>(r * NR) << 2);
        for (let j = 0; j < NR; j++) {
          const at = t + (<usize>j << 2);
          store<f32>(at, load<f32>(at) + x * load<f32>(w + (<usize>(c * NR + j) << 2)));
        }
      }
    }
  }
}

/** float32 GEMM with the epilogue set by setEpilogue (scale 0 = raw float32 output). lda in floats; scratch ≥ 128 bytes. */
export function gemmF32(a: usize, lda: i32, m: i32, k: i32, w: usize, n: i32, scratch: usize, out: usize): void {
  const tiles = (n + NR - 1) / NR;
  const step = <usize>lda << 2;
  setTileFloat(true);
  for (let t = 0; t < tiles; t++) {
    const panel = w + (<usize>(t * k * NR) << 2);
    const n0 = t * NR;
    const cols = min(NR, n - n0);
    for (let m0 = 0; m0 < m; m0 += 4) {
      const rows = min(4, m - m0);
      const a0 = a + <usize>m0 * step;
      kernel4x8F32(a0, rows > 1 ? a0 + step : a0, rows > 2 ? a0 + 2 * step : a0, rows > 3 ? a0 + 3 * step : a0, panel, k, scratch);
      epilogueTile(scratch, NR, m0, n0, rows, cols, out, n);
    }
  }
  setTileFloat(false);
}
