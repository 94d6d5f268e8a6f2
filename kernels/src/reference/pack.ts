// Scalar reference of the GEMM weight panels (layout: kernels/README.md, kernels/assembly/pack.ts).

/** Reference panel packing (layout in kernels/README.md): values [n][k] → tiles of nr columns. */
export function packPanelsRef(values: Int8Array, bits: number, n: number, k: number, path: 0 | 1 | 2 | 3): Uint8Array {
  if (path === 2) return packLutPanelsRef(values, n, k);
  const nr = path === 0 || path === 3 ? 8 : 16;
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
      // path 3 (dot4): quads of k per column, 4 columns per 16 bytes
      const idx = path === 3 ? (c >> 2) * 32 + nl * 4 + (c & 3) : path === 0 ? p * 16 + nl * 2 + j : p * 32 + (nl >> 3) * 16 + (nl & 7) * 2 + j;
      const byte = Math.floor(r / nr) * tileBytes + Math.floor(idx / perGroup) * 16 + (idx % 16);
      const plane = Math.floor((idx % perGroup) / 16);
      out[byte] |= (values[r * k + c] & ((1 << cb) - 1)) << (plane * cb);
    }
  }
  return out;
}

/**
 * Reference of the lut16 panels (path 2, weights of ≤ 2 bits, w = b0 − 2·b1): tiles of 16 columns,
 * 8·kp bytes each; k-group g = ⌊c/4⌋ takes 32 bytes, byte n_local holds the bits of plane b0 of the
 * group (bit c mod 4), byte 16 + n_local those of plane b1.
 */
export function packLutPanelsRef(values: Int8Array, n: number, k: number): Uint8Array {
  const kp = Math.ceil(k / 8) * 8;
  const tileBytes = 8 * kp;
  const out = new Uint8Array(Math.ceil(n / 16) * tileBytes);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < k; c++) {
      const v = values[r * k + c];
      const at = Math.floor(r / 16) * tileBytes + 32 * Math.floor(c / 4) + (r % 16);
      out[at] |= (v & 1) << (c % 4);
      out[at + 16] |= ((v >> 1) & 1) << (c % 4);
    }
  }
  return out;
}
