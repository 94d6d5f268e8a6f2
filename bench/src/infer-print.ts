// The inference benchmark's tables, the same for a run in Node and one in Chromium: engines (batch 1
// and batch 32 ms, GMAC/s, the check against the float reference), bitswitch's speed-up over each
// peer, bitswitch per precision, and, for a list of thread counts, each engine's thread scaling.
import os from 'node:os';
import { F32_TOLERANCE, RATIO_ROWS, type InferResult, type PeerRow, type RuntimeRow } from './infer-run.ts';

const f = (v: number, d = 2) => v.toFixed(d);
const load = () => os.loadavg().map((v) => v.toFixed(2)).join(' ');

/**
 * Prints one thread count's tables. `where`: the machine and engine host, one line (CPU, cores,
 * Node or Chromium version, date).
 */
export function printInfer(r: InferResult, where: string, log: (line: string) => void = console.log): void {
  const [H, W, C] = r.inputShape;
  log(`ResNet-20 ${H}×${W}×${C}, ${r.macsPerImage} MACs/image, ${where}`);
  const pool = r.pool ? ` (worker pool: ${r.pool.calls} threaded GEMMs, ${r.pool.blocks - r.pool.callerBlocks} of ${r.pool.blocks} row blocks on workers)` : '';
  log(`threads ${r.threads}; runtime backend ${r.backend}${pool}; ${r.tfjs ?? 'tfjs not run'}`);
  for (const p of r.peers) log(`  ${p.name}: ${p.unavailable === undefined ? p.info : `not run here: ${p.unavailable}`}`);
  log(`\nengines, median / best run, load average ${load()}:`);
  log('| engine | batch 1 ms | batch 32 ms/img | GMAC/s (b32) | check against float reference |');
  log('|---|---|---|---|---|');
  const gmacs = (msPerImage: number) => f(r.macsPerImage / (msPerImage * 1e6), 1);
  for (const p of r.peers) {
    if (p.unavailable !== undefined) {
      log(`| ${p.name} | not run here: ${p.unavailable} | – | – | – |`);
      continue;
    }
    const chk = p.precision === 'f32' ? `max rel. error ${p.check.maxRelativeError.toExponential(1)} (≤ ${F32_TOLERANCE})` : `argmax ${f(p.check.argmaxAgreement * 100, 0)}%, max rel. error ${f(p.check.maxRelativeError, 3)} (${f(p.check.int8SimulationError!, 3)} to the int8 simulation)`;
    log(`| ${p.name} | ${f(p.latencyMs, 3)} / ${f(p.latencyBestMs, 3)} | ${f(p.batchMsPerImage, 3)} / ${f(p.batchBestMsPerImage, 3)} | ${gmacs(p.batchMsPerImage)} | ${chk} |`);
  }
  for (const x of r.rows) {
    log(`| bitswitch ${x.precision} | ${f(x.latencyMs, 3)} / ${f(x.latencyBestMs, 3)} | ${f(x.batchMsPerImage, 3)} / ${f(x.batchBestMsPerImage, 3)} | ${gmacs(x.batchMsPerImage)} | argmax ${f(x.argmaxAgreementWithFloat * 100, 0)}% |`);
  }
  if (!Number.isNaN(r.int8PeerDifference)) log(`int8 peers against each other: max rel. difference ${r.int8PeerDifference.toExponential(1)} (same calibration)`);
  const timed = r.peers.filter((p) => p.unavailable === undefined);
  if (timed.length) {
    log(`\nspeed-up of bitswitch over each peer (peer time / bitswitch time), median (best), load average ${load()}:`);
    log(`| bitswitch | ${timed.map((p) => `${p.name} b1 | b32`).join(' | ')} |`);
    log(`|---|${timed.map(() => '---|---').join('|')}|`);
    for (const x of r.rows.filter((y) => RATIO_ROWS.includes(y.precision))) {
      const cells = r.ratios.filter((y) => y.row === x.name).map((y) => `${f(y.batch1)} (${f(y.batch1Best)}) | ${f(y.batch32)} (${f(y.batch32Best)})`);
      log(`| ${x.precision} | ${cells.join(' | ')} |`);
    }
  }
  log(`\nbitswitch per precision, load average ${load()}:`);
  log('| precision | weight bytes | cold switch ms | warm switch ms |');
  log('|---|---|---|---|');
  for (const x of r.rows) log(`| ${x.precision} | ${x.weightBytes} | ${f(x.coldSwitchMs)} | ${f(x.warmSwitchMs)} |`);
  log(`stored model weights ${r.memory.storedBytes} bytes; packed weights cached for all precisions above: ${r.memory.cachedBytesAllPrecisions} bytes`);
  log('argmax columns: random weights, so low bits (and int8 peers) disagree with float more than a trained model would');
  if (r.familyChoices.length) {
    log(`GEMM family measured per layer shape (median ms of a ${r.familyChoices[0].rows}-row GEMM at load time):`);
    for (const c of r.familyChoices) log(`  w${c.wbits}a${c.abits} N ${c.n} K ${c.k}: ${c.family} (${c.times.map((t) => `${t.family.replace(/^qu8-qs\d-gemm-/, '')} ${f(t.ms, 3)}`).join(', ')})`);
  }
}

export interface Scaling { name: string; speedups: { threads: number; batch1: number; batch32: number }[] }

/** Each engine's speed-up at every later thread count over the first (time at the first / time at N); prints the table. */
export function printScaling(results: { threads: number; peers: PeerRow[]; rows: RuntimeRow[] }[], log: (line: string) => void = console.log): Scaling[] {
  const base = results[0];
  log(`\nthread scaling: time at ${base.threads} thread(s) / time at N, median, load average ${load()}:`);
  log(`| engine | ${results.slice(1).map((r) => `b1 ×${r.threads} | b32 ×${r.threads}`).join(' | ')} |`);
  log(`|---|${results.slice(1).map(() => '---|---').join('|')}|`);
  const scaling = [...base.peers, ...base.rows].map((r0) => ({
    name: r0.name,
    speedups: results.slice(1).map((r) => {
      const x = [...r.peers, ...r.rows].find((y) => y.name === r0.name);
      const ok = (y: PeerRow | RuntimeRow | undefined): y is Exclude<PeerRow, { unavailable: string }> | RuntimeRow => y !== undefined && !('unavailable' in y && y.unavailable !== undefined);
      return ok(r0) && ok(x)
        ? { threads: r.threads, batch1: r0.latencyMs / x.latencyMs, batch32: r0.batchMsPerImage / x.batchMsPerImage }
        : { threads: r.threads, batch1: NaN, batch32: NaN };
    }),
  }));
  const cell = (v: number) => (Number.isNaN(v) ? '–' : f(v));
  for (const s of scaling) log(`| ${s.name} | ${s.speedups.map((x) => `${cell(x.batch1)} | ${cell(x.batch32)}`).join(' | ')} |`);
  return scaling;
}
