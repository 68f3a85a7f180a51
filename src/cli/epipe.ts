/**
 * `bearmon log export | head -2`: once `head` has read its lines it closes the pipe, and
 * the next write to stdout fails with EPIPE. Node ignores SIGPIPE and reports the failure
 * as an 'error' event on process.stdout; with no listener that event is an uncaught
 * exception: a stack trace on stderr and exit 1 for a pipeline that did what was asked.
 *
 * The reader going away means nobody wants the rest of the data, so the command ends at
 * once, quietly, with exit 0 (a shell reports a process killed by SIGPIPE as 141; 0 keeps
 * `set -o pipefail` scripts working).
 */

/** The errors of an output whose reader has gone: a closed pipe or socket, a closed descriptor (`>&-`). */
const READER_GONE = new Set(['EPIPE', 'ECONNRESET', 'EBADF']);

let installed = false;

export function isReaderGone(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && READER_GONE.has(code);
}

/**
 * Installs the handlers (once per process; later calls do nothing). stdout: the reader is
 * gone, so is the command's purpose: exit 0 at once, printing nothing. stderr: errors and
 * logs are dropped from then on, but the command goes on (its stdout may still be read).
 * Any other error on either stream is not ours to hide: it is thrown as it would have been.
 */
export function installEpipeHandler(exit: (code: number) => never = process.exit): void {
  if (installed) return;
  installed = true;
  process.stdout.on('error', (err) => {
    if (!isReaderGone(err)) throw err;
    exit(0);
  });
  process.stderr.on('error', (err) => {
    if (!isReaderGone(err)) throw err;
  });
}
