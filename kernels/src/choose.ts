// Choosing a GEMM family for one weight shape by measurement. Every family is exact (the same int32
// sums, the same epilogue), so the choice changes speed only. Where a build has several families
// for wbits × abits (e.g. lut16 and dot8 for 2-bit weights), each packs random weights of the shape
// and runs the GEMM on `rows` rows of random codes with a re-quantizing epilogue, the families
// taking turns (so a change of load or clock hits all alike) after a warm-up round that lets the
// engine compile each kernel; the fastest median wins, among the families whose int32 sums equal the
// general family's on the same operands. Decisions are kept per candidate set and
// (n, k): a network measures each layer shape once, and widths with the same candidates (e.g. w6a6
// and w4a4: dot8 or dot16) share the measurement of the first.
import { seededRandom } from '@bitswitch/format';
import { familiesOf, type GemmFamily } from './families.ts';
import type { Kernels } from './kernels.ts';

/** One measured choice: the widths it was measured at, the families tried with their median ms per GEMM, and the winner. */
export interface FamilyChoice {
  wbits: number; abits: number; n: number; k: number; rows: number;
  times: { family: string; ms: number }[];
  family: string;
  /** Warm-up rounds before the timed ones beyond the usual one: only the instance's first measurement has them. */
  warmRounds: number;
}

/** Rows of A per timed GEMM: large enough for a stable per-row cost, small enough to take ~0.05 ms. */
export const CHOICE_ROWS = 128;
/** Timed rounds (after one warm-up round); each family's median counts. */
const REPS = 5;
/** First measurement of a Kernels instance: warm-up rounds until this many in a row are no faster than the best so far (3 % margin), */
const WARM_STEADY = 8;
/** … or this long at most. */
const WARM_MAX_MS = 300;

export class FamilyChooser {
  private readonly choices = new Map<string, FamilyChoice>();
  /** Whether the engine has run this instance's GEMMs long enough to optimize them (first measurement). */
  private warm = false;

  constructor(private readonly kn: Kernels) {}

  /** Every measured choice so far. */
  get measured(): FamilyChoice[] { return [...this.choices.values()]; }

  /** The family to pack w`wbits` × a`abits` weights [n][k] with: the only one, or the fastest measured. */
  choose(wbits: number, abits: number, n: number, k: number): GemmFamily {
    const candidates = familiesOf(this.kn.build).filter((f) => f.supports(wbits, abits));
    if (candidates.length < 2) return candidates[0];
    const key = `${candidates.map((f) => f.name).join()}/${n}/${k}`;
    let c = this.choices.get(key);
    if (!c) {
      // on the calling thread: a pool hand-off costs as much as these small GEMMs and varies more
      c = this.kn.onCallingThread(() => this.measure(candidates, wbits, abits, n, k));
      this.choices.set(key, c);
    }
    return candidates.find((f) => f.name === c!.family)!;
  }

  private measure(candidates: GemmFamily[], wbits: number, abits: number, n: number, k: number): FamilyChoice {
    const rand = seededRandom(n * 7919 + k);
    const w = new Int8Array(n * k);
    for (let i = 0; i < w.length; i++) w[i] = Math.floor(rand() * 2 ** wbits) - 2 ** (wbits - 1);
    const rows = CHOICE_ROWS;
    const a = new Uint8Array(rows * k);
    for (let i = 0; i < a.length; i++) a[i] = Math.floor(rand() * 2 ** abits);
    const out = new Uint8Array(rows * n);
    const epilogue = { wScale: [0.01], aScale: 0.1, relu: true, requant: { scale: 0.05, bits: abits } };
    const packed = candidates.map((f) => this.kn.packGemmWeights(w, wbits, n, k, { abits, family: f.name }));
    const ms: number[][] = candidates.map(() => []);
    let warmRounds = 0;
    const round = () => packed.map((weights) => {
      const t0 = performance.now();
      this.kn.gemm({ a, m: rows, k, weights, abits, epilogue, out, checkA: false });
      return performance.now() - t0;
    });
    try {
      if (!this.warm) {
        // The first choice of a Kernels instance meets its GEMM code in the engine's baseline tier,
        // where the families' speeds differ from the optimized code's (and the optimized code replaces
        // it mid-measurement): rounds until the round time has stopped falling, then measure.
        const t0 = performance.now();
        let best = Infinity;
        let steady = 0;
        while (steady < WARM_STEADY && performance.now() - t0 < WARM_MAX_MS) {
          const t = round().reduce((x, y) => x + y, 0);
          warmRounds++;
          steady = t < best * 0.97 ? 0 : steady + 1;
          best = Math.min(best, t);
        }
        this.warm = true;
      }
      round(); // each family's first call on this shape
      for (let r = 0; r < REPS; r++) round().forEach((t, i) => ms[i].push(t));
      // After the timed rounds (the engine's optimizing tier by now), each family's int32 sums on
      // these operands: a family that disagrees with the build's general family (any widths, plain
      // SIMD) is not chosen, whatever a probe said of its instruction.
      const general = candidates.findIndex((f) => f.supports(8, 8) && f.path === 0);
      if (general >= 0) {
        const sums = (i: number) => this.kn.gemm({ a, m: rows, k, weights: packed[i], abits, checkA: false }) as Int32Array;
        const want = sums(general);
        candidates.forEach((_, i) => {
          if (i !== general && !sameInts(sums(i), want)) ms[i] = [Infinity];
        });
      }
    } finally {
      for (const p of packed) p.dispose();
    }
    const times = candidates.map((f, i) => ({ family: f.name, ms: ms[i].sort((x, y) => x - y)[ms[i].length >> 1] }));
    // ties keep the table's order (its preferred family first)
    const best = times.reduce((b, t) => (t.ms < b.ms ? t : b));
    return { wbits, abits, n, k, rows, times, family: best.family, warmRounds };
  }
}

function sameInts(x: Int32Array, y: Int32Array): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
