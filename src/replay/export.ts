import type { InputLine, NotifyLine } from '../log/lines.ts';
import { ReplayFold } from './fold.ts';
import { windowed, type LogRecord, type ReplayIo, type WindowOptions } from './run.ts';

/** A parsed line back in the replay format (times as RFC 3339). */
export function formatInputLine(line: InputLine): string {
  const deadline = line.type === 'assign' && line.deadline !== undefined ? { deadline: new Date(line.deadline).toISOString() } : {};
  return JSON.stringify({ ...line, ...(line.at !== undefined ? { at: new Date(line.at).toISOString() } : {}), ...deadline });
}

/**
 * Writes the log (or a window of it) in the replay format, so that
 * `bearmon log export … | bearmon replay -` round-trips. With a window start, the state
 * before it is folded (same machines, same confirmations) and written as one `check` line
 * per check carrying its status at that moment, so the export replays on its own.
 */
export async function exportLog(
  records: AsyncIterable<LogRecord>,
  options: WindowOptions & { confirmations: number },
  io: ReplayIo,
): Promise<number> {
  const fold = new ReplayFold({ confirmations: options.confirmations });
  let skipped = 0;
  const skip = (where: string, error: string) => {
    skipped += 1;
    io.err(`${where}: skipped: ${error}`);
  };
  // Notification outcomes travel along, so `replay --explain` of an export still shows them.
  const onNotify = (line: NotifyLine, inWindow: boolean) => inWindow && io.out(JSON.stringify({ ...line, at: new Date(line.at).toISOString() }));
  // Only what the stream's trust rules take is exported: the export replays like the stream.
  let untrusted = 0;
  const distrust = (where: string, reason: string) => {
    untrusted += 1;
    if (untrusted <= 20) io.err(`${where}: not trusted: ${reason}`);
  };
  // The fold keeps no names; the window-start check lines get theirs from here.
  const names = new Map<number, string>();
  for await (const { line, record, inWindow, opensWindow } of windowed(records, options, skip, onNotify, distrust)) {
    if (line.type === 'check' && line.name !== undefined) names.set(line.checkId, line.name);
    if (opensWindow && options.since) {
      for (const check of fold.currentChecks(options.since.getTime())) {
        const name = names.get(check.checkId);
        io.out(formatInputLine(name === undefined ? check : { ...check, name }));
      }
    }
    const { error } = fold.apply(line);
    if (error) skip(record.where, error);
    else if (inWindow) io.out(formatInputLine(line));
  }
  if (skipped > 0) io.err(`${skipped} record(s) skipped`);
  if (untrusted > 0) io.err(`${untrusted} record(s) not trusted (subject, publisher or view does not allow them)`);
  return skipped;
}
