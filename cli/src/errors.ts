// How the bitswitch command reports a failure: one line `bitswitch <command>: <what> — <how to fix>`.
// Bad input (flags, files, data) exits 1; anything else is a bug in bitswitch and exits 2,
// with its stack trace under --debug.

/** Errors whose message already tells the user what to change. */
const INPUT_ERRORS = new Set(['RangeError', 'FormatError', 'InfeasibleBudgetError', 'DivergenceError', 'WorkerDiedError']);

/** File-system failures, in words, with what to do about them. */
const ERRNO: Record<string, string> = {
  ENOENT: 'no such file or folder — check the path',
  EISDIR: 'is a folder — expected a file',
  ENOTDIR: 'part of the path is a file, not a folder — check the path',
  EEXIST: 'already exists — choose another path',
  EACCES: 'permission denied — choose a path you can write to',
  EPERM: 'operation not permitted — choose a path you can write to',
  ENOSPC: 'no space left on the device — free some space or choose another disk',
};

export interface ErrorReport { text: string; code: 1 | 2 }

/**
 * The line to print for `e` and the exit code; `debug` appends the stack of an unexpected failure.
 * `path` names the file for a file-system error that does not carry one (reading a folder).
 */
export function errorReport(e: unknown, prefix: string, debug: boolean, path?: string): ErrorReport {
  const err = e instanceof Error ? e : new Error(String(e));
  if (INPUT_ERRORS.has(err.name) || err instanceof RangeError) return { text: `${prefix}: ${err.message}`, code: 1 };
  const errno = err as NodeJS.ErrnoException;
  if (errno.code && errno.code in ERRNO) {
    return { text: `${prefix}: ${errno.path ?? path ?? err.message.split(',')[0]}: ${ERRNO[errno.code]}`, code: 1 };
  }
  const trace = debug ? `\n${err.stack ?? ''}` : ' (run again with --debug for the stack trace)';
  return { text: `${prefix}: unexpected failure: ${err.message}${trace}`, code: 2 };
}
