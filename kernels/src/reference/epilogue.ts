// Scalar reference of the fused GEMM epilogue (kernels/assembly/epilogue.ts).
import { roundHalfEven } from '@bitswitch/format';
import type { Epilogue } from '../types.ts';

const f32 = Math.fround;

/** The epilogue as the references take it: residual may be any array of m·n values. */
export type EpilogueRef = Omit<Epilogue, 'residual'> & { residual?: ArrayLike<number> };

/**
 * The GEMM epilogue in float32, one rounding per step: y = f32(acc)·f32(aScale·wScale[n]),
 * + bias, · mul, + add, + residual[m][n], ReLU; then either y, or eq. 4 re-quantization clip(round_half_even(y / s), 0, 2^b-1)
 * with y / s divided in float64 (format SPEC §6), as quantizeActivationsRef does. With `codes` (float
 * output only) the same eq. 4 codes of y with the codes' scale and bits also go into codes.out.
 */
export function epilogueRef(acc: ArrayLike<number>, m: number, n: number, ep: EpilogueRef): Float32Array | Uint8Array {
  const rq = ep.requant;
  const out = rq ? new Uint8Array(m * n) : new Float32Array(m * n);
  const aScale = f32(ep.aScale);
  const rs = rq ? f32(rq.scale) : 0;
  const hi = rq ? 2 ** rq.bits - 1 : 0;
  const cd = ep.codes;
  const cs = cd ? f32(cd.scale) : 0;
  const chi = cd ? 2 ** cd.bits - 1 : 0;
  for (let j = 0; j < n; j++) {
    const s = f32(aScale * f32(ep.wScale.length === 1 ? ep.wScale[0] : ep.wScale[j]));
    for (let i = 0; i < m; i++) {
      let y = f32(f32(acc[i * n + j]) * s);
      if (ep.bias) y = f32(y + f32(ep.bias[j]));
      if (ep.mul) y = f32(y * f32(ep.mul[j]));
      if (ep.add) y = f32(y + f32(ep.add[j]));
      if (ep.residual) y = f32(y + f32(ep.residual[i * n + j]));
      if (ep.relu) y = Math.max(y, 0);
      if (rq) {
        const q = roundHalfEven(y / rs);
        out[i * n + j] = q < 0 ? 0 : q > hi ? hi : q;
      } else {
        out[i * n + j] = y;
        if (cd) {
          const q = roundHalfEven(y / cs);
          cd.out[i * n + j] = q < 0 ? 0 : q > chi ? chi : q;
        }
      }
    }
  }
  return out;
}
