// What `train` prints while it runs: the per-epoch table, durations, and the progress events
// (a bar on a terminal, one line a minute in a log).
import cliProgress from 'cli-progress';
import { InterruptedError, WorkerDiedError, precisionName, type EpochInfo, type Trainer, type TrainEvents } from '@bitswitch/trainer';

/** Seconds as "1h02m", "3m05s" or "42s". */
export function formatDuration(seconds: number): string {
  const t = Math.max(0, Math.round(seconds));
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const sec = t % 60;
  return h ? `${h}h${String(m).padStart(2, '0')}m` : m ? `${m}m${String(sec).padStart(2, '0')}s` : `${sec}s`;
}

export const pct = (v: number | undefined) => (v === undefined ? '   -  ' : `${(100 * v).toFixed(2).padStart(6)}`);

/** One row of the per-epoch table: accuracy per precision. */
export function epochRow(e: EpochInfo, columns: string[]): string {
  return [String(e.epoch + 1).padStart(5), e.phase.padEnd(8), e.loss.toFixed(4).padStart(7), ...columns.map((c) => pct(e.accuracy[c]).padStart(Math.max(6, c.length))),
    e.imagesPerSec.toFixed(0).padStart(6), `${e.seconds.toFixed(0)}s`.padStart(6)].join('  ');
}

export function tableHeader(columns: string[]): string {
  return ['epoch', 'phase   ', '   loss', ...columns.map((c) => c.padStart(6)), ' img/s', '  time'].join('  ');
}

/**
 * Ctrl-C calls `requestStop` (the trainer stops after the step in progress and keeps its
 * checkpoint); a second Ctrl-C prints `quitMessage` and quits at once with status 130. `before`
 * runs first on each (stop a progress bar, show the cursor). Returns the handler's remover.
 */
export function stopOnCtrlC(requestStop: () => void, o: { before?: () => void; quitMessage?: string } = {}): () => void {
  let stopping = false;
  const onSigint = () => {
    o.before?.();
    if (stopping) {
      if (o.quitMessage) console.error(o.quitMessage);
      process.exit(130);
    }
    stopping = true;
    console.error('stopping after the current step (Ctrl-C again to quit now)…');
    requestStop();
  };
  process.on('SIGINT', onSigint);
  return () => { process.off('SIGINT', onSigint); };
}

/**
 * Runs the trainer to the end of its recipe with the per-epoch table and progress on stdout;
 * Ctrl-C stops after the step in progress and keeps the checkpoint (a second Ctrl-C quits at
 * once). Returns false when interrupted.
 */
export async function runWithProgress(trainer: Trainer, o: { out: string; progress?: boolean; logSteps?: boolean }): Promise<boolean> {
  const r = trainer.recipe;
  const columns = ['fp32', ...(r.epochs > 0 ? r.bits.map(precisionName) : [])];
  const showBar = o.progress !== false && process.stdout.isTTY;
  const bar = showBar ? new cliProgress.SingleBar({
    format: '{phase} epoch {ep}/{eps} |{bar}| {value}/{total} loss {loss} | {ips} img/s | ETA {eta_formatted}',
    etaBuffer: 20, hideCursor: true, clearOnComplete: true,
  }, cliProgress.Presets.shades_classic) : undefined;
  let barEpoch = -1;
  let lastLine = Date.now();
  let ipsAvg = 0;
  console.log(tableHeader(columns));
  for (const h of trainer.history) console.log(epochRow(h, columns));
  const events: TrainEvents = {
    onStep: (s) => {
      const ips = (1000 * s.images) / Math.max(s.ms, 1);
      ipsAvg = ipsAvg ? 0.9 * ipsAvg + 0.1 * ips : ips;
      if (o.logSteps) console.log(`step epoch=${s.epoch} step=${s.step} loss=${s.loss.toFixed(6)}`);
      // without a bar (a log file, a pipe): one line a minute with the whole run's ETA
      if (!bar && !o.logSteps && Date.now() - lastLine >= 60_000) {
        lastLine = Date.now();
        const left = (s.epochs - s.epoch - 1) * s.steps + (s.steps - s.step);
        console.log(`  epoch ${s.epoch + 1}/${s.epochs} step ${s.step}/${s.steps}  loss ${s.loss.toFixed(4)}  ${ipsAvg.toFixed(0)} img/s  run ETA ${formatDuration((left * s.images) / Math.max(ipsAvg, 1e-9))}`);
      }
      if (!bar) return;
      if (barEpoch !== s.epoch) {
        if (barEpoch >= 0) bar.stop();
        bar.start(s.steps, s.step - 1, { phase: s.phase, ep: s.epoch + 1, eps: s.epochs, loss: '-', ips: '-' });
        barEpoch = s.epoch;
      }
      bar.update(s.step, { loss: s.loss.toFixed(4), ips: ipsAvg.toFixed(0) });
    },
    onEpoch: (e) => {
      if (bar) { bar.stop(); barEpoch = -1; }
      console.log(epochRow(e, columns));
    },
  };
  // Ctrl-C: stop after the step in progress and keep the checkpoint; a second Ctrl-C quits at once
  const showCursor = () => { if (process.stdout.isTTY) process.stdout.write('\x1b[?25h'); };
  const resumeHint = `continue with: bitswitch ${process.argv[2] === 'pretrain' ? 'pretrain' : 'train'} --out ${o.out} --resume`;
  const removeSigint = stopOnCtrlC(() => trainer.requestStop(), { before: () => { bar?.stop(); showCursor(); }, quitMessage: `interrupted; ${resumeHint}` });
  try {
    await trainer.run(events);
    return true;
  } catch (e) {
    bar?.stop();
    showCursor();
    if (e instanceof InterruptedError) { console.error(`interrupted; ${resumeHint}`); process.exitCode = 130; return false; }
    if (e instanceof WorkerDiedError) throw new WorkerDiedError(`${e.message}; stopping. The last good checkpoint is ${trainer.checkpointPath} — ${resumeHint}`);
    throw e;
  } finally {
    removeSigint();
    await trainer.close();
  }
}
