import { loadKernels } from '@bitswitch/kernels';
const kn = await loadKernels({ build: 'relaxed', threads: 1 } as any);
function rnd(n: number, max: number) { const a = new Uint8Array(n); for (let i = 0; i < n; i++) a[i] = (i * 2654435761 >>> 13) % (max + 1); return a; }
for (const [m, n, k] of [[25088, 16, 144], [6272, 32, 288], [1568, 64, 576]]) {
  for (const bits of [8, 4, 2]) {
    const w = new Int8Array(n * k).map((_, i) => ((i * 40503) % (2 ** bits)) - 2 ** (bits - 1));
    const pw = kn.packGemmWeights(w, bits, n, k);
    const a = rnd(m * k, 2 ** bits - 1);
    const outI = new Int32Array(m * n), outF = new Uint8Array(m * n);
    const ep = { wScale: new Float32Array(n).fill(0.01), aScale: 0.1, mul: new Float32Array(n).fill(1.1), add: new Float32Array(n).fill(0.2), relu: true, requant: { scale: 0.05, bits } };
    const time = (f: () => void) => { f(); const ts: number[] = []; for (let r = 0; r < 15; r++) { const t0 = performance.now(); f(); ts.push(performance.now() - t0); } ts.sort((x, y) => x - y); return ts[7]; };
    const tRaw = time(() => kn.gemm({ a, m, k, abits: bits, weights: pw, out: outI } as any));
    const tEp = time(() => kn.gemm({ a, m, k, abits: bits, weights: pw, epilogue: ep, out: outF } as any));
    console.log(`${m}x${n}x${k} w${bits} ${pw.family.name.slice(0, 40)} raw ${tRaw.toFixed(3)} ms ${(m * n * k / tRaw / 1e6).toFixed(1)} GMAC/s; requant ${tEp.toFixed(3)} ms ${(m * n * k / tEp / 1e6).toFixed(1)}`);
  }
}
kn.dispose();
