// Scalar reference of the GEMM weight panels (layout: kernels/README.md, kernels/assembly/pack.ts).

/** Reference panel packing (layout in kernels/README.md): values [n][k] → tiles of nr columns. */
export function packPanelsRef(values: Int8Array, bits: number, n: number, k: number, path: 0 | 1): Uint8Array {
  const nr = path === 0 ? 8 : 16;
  const kp = Math.ceil(k / 8) * 8;
  const cb = bits > 4 ? 8 : bits > 2 ? 4 : 2;
  const tiles = Math.ceil(n / nr);
  const tileBytes = (kp * nr * cb) / 8;
  const perGroup = (16 * 8) / cb; // panel values per 16-byte group
  const out = new Uint8Array(tiles * tileBytes);
  for (let r = 0; r < n; r++) {
    const nl = r % nr;
    for (let c = 0; c < k; c++) {
      const p = c >> 1;
      const j = c & 1;
      const idx = path === 0 ? p * 16 + nl * 2 + j : p * 32 + (nl >> 3) * 16 + (nl & 7) * 2 + j;
      const byte = Math.floor(r / nr) * tileBytes + Math.floor(idx / perGroup) * 16 + (idx % 16);
      const plane = Math.floor((idx % perGroup) / 16);
      out[byte] |= (values[r * k + c] & ((1 << cb) - 1)) << (plane * cb);
    }
  }
  return out;
}
