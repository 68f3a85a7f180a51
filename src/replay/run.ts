import { StreamTrust } from '../bus/trust.ts';
import { parseLine, type InputLine, type NotifyLine, type ParsedLine } from '../log/lines.ts';
import { explainNotify, explainPartial, explainProbe, explainTransition, summaryTable, type CheckNames, type FlaggedWorker } from './explain.ts';
import { ReplayFold, type DerivedLine, type FoldOptions } from './fold.ts';

/** One input record: its text, where it came from ("line 12", "seq 4711"), and when it was logged if known. */
export interface LogRecord {
  text: string;
  where: string;
  time?: Date;
  /**
   * The NATS subject it was stored under (records of the stream). A record with a subject is
   * taken only as its subject and the view in force allow (src/bus/trust.ts); a file's lines
   * have none and are trusted as given (SPEC §6, §8).
   */
  subject?: string;
  seq?: number;
}

export type ReplayMode = 'ndjson' | 'explain' | 'summary';

export interface WindowOptions {
  /** Lines before this time only build up state; output and summaries start here. */
  since?: Date;
  /** Reading stops at the first line after this time. */
  until?: Date;
  /** Only lines about this check are applied. */
  checkId?: number;
  /**
   * Reading the stream: take view-0 controller lines while no view record has been seen
   * (a single controller without a viewserver). False when the stream holds views: then a
   * controller's line counts only under the view that names it.
   */
  viewless?: boolean;
}

export interface ReplayOptions extends FoldOptions, WindowOptions {
  mode: ReplayMode;
}

export interface ReplayIo {
  out: (text: string) => void;
  err: (text: string) => void;
}

/** A line's time for windowing: the stream's timestamp, else the line's own `at`. */
function timeOf(record: LogRecord, line: InputLine): number | undefined {
  return record.time?.getTime() ?? line.at;
}

export interface WindowedLine {
  line: InputLine;
  record: LogRecord;
  inWindow: boolean;
  /** True for the first line inside the window (callers emit window-start state then). */
  opensWindow: boolean;
}

/**
 * Parses records one at a time, synchronously, reports bad ones (with where they were) and
 * gives the good ones with their position relative to the window. `take` returns the line,
 * or undefined for a record that yields nothing, or STOP at the first line after the window
 * (reading ends there); `inWindow`/`opensWindow` then describe the line it returned.
 */
export class LineWindow {
  static readonly STOP = Symbol('stop');
  /** The last line taken is inside the window. */
  inWindow: boolean;
  /** The last line taken is the first inside the window (callers emit window-start state then). */
  opensWindow = false;
  private first = true;
  private readonly trust: StreamTrust;
  private readonly since: number | undefined;
  private readonly until: number | undefined;

  constructor(
    private readonly window: WindowOptions,
    private readonly onSkip: (where: string, error: string) => void,
    private readonly onNotify?: (line: NotifyLine, inWindow: boolean) => void,
    private readonly onUntrusted?: (where: string, reason: string) => void,
  ) {
    this.inWindow = window.since === undefined;
    this.since = window.since?.getTime();
    this.until = window.until?.getTime();
    // Replaying the stream: a single controller without a viewserver (view 0) is trusted until the log holds a view.
    this.trust = new StreamTrust({ viewless: window.viewless ?? true });
  }

  take(record: LogRecord): InputLine | undefined | typeof LineWindow.STOP {
    const text = record.text;
    if (text.length === 0 || (isSpace(text.charCodeAt(0)) && text.trim() === '')) return undefined;
    let parsed: ParsedLine;
    if (record.subject !== undefined) {
      const admitted = this.trust.admit(record.subject, text, record.seq ?? 0);
      if (admitted.kind === 'view') return undefined;
      if (admitted.kind === 'skip') {
        this.onUntrusted?.(record.where, `${admitted.reason}${admitted.detail ? ` (${admitted.detail})` : ''}`);
        return undefined;
      }
      parsed = admitted.parsed;
    } else parsed = parseLine(text);
    if (!parsed.ok) {
      this.onSkip(record.where, parsed.error);
      return undefined;
    }
    const line = parsed.line;
    const checkId = this.window.checkId;
    if (!line && 'notify' in parsed && parsed.notify && (checkId === undefined || parsed.notify.checkId === checkId)) {
      if (this.until !== undefined && parsed.notify.at > this.until) return LineWindow.STOP;
      this.onNotify?.(parsed.notify, this.inWindow);
    }
    if (!line || (checkId !== undefined && line.checkId !== checkId)) return undefined;
    const at = timeOf(record, line);
    if (this.until !== undefined && at !== undefined && at > this.until) return LineWindow.STOP;
    const opensWindow = !this.inWindow && at !== undefined && at >= this.since!;
    if (opensWindow) this.inWindow = true;
    this.opensWindow = opensWindow || (this.inWindow && this.first);
    this.first = false;
    return line;
  }
}

/** Whether a UTF-16 code unit may start a line that is all white space (what String.prototype.trim removes). */
function isSpace(code: number): boolean {
  return code <= 32 || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a) || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff;
}

/**
 * Parses records, reports bad ones on stderr (with where they were) and yields the good
 * ones with their position relative to the window. Shared by replay and log export.
 */
export async function* windowed(
  records: AsyncIterable<LogRecord>,
  window: WindowOptions,
  onSkip: (where: string, error: string) => void,
  onNotify?: (line: NotifyLine, inWindow: boolean) => void,
  onUntrusted?: (where: string, reason: string) => void,
): AsyncGenerator<WindowedLine> {
  const lines = new LineWindow(window, onSkip, onNotify, onUntrusted);
  for await (const record of records) {
    const line = lines.take(record);
    if (line === LineWindow.STOP) break;
    if (line) yield { line, record, inWindow: lines.inWindow, opensWindow: lines.opensWindow };
  }
}

const PRINTERS: Record<ReplayMode, (line: DerivedLine, names: CheckNames) => string | undefined> = {
  ndjson: (line) => JSON.stringify(line),
  explain: (line, names) =>
    line.type === 'transition' ? `${explainTransition(line, names)}\n` : line.type === 'partial' ? explainPartial(line, names) : line.type === 'probe' ? explainProbe(line, names) : undefined,
  summary: () => undefined,
};

/**
 * Drives the fold over a log and prints what it derives. A bad record is reported on
 * stderr with where it was and skipped; the run goes on. Returns the number skipped.
 * `records` gives records one by one or in batches (arrays), as `fileRecordBatches` does.
 */
export async function replay(records: AsyncIterable<LogRecord | LogRecord[]>, options: ReplayOptions, io: ReplayIo): Promise<number> {
  const fold = new ReplayFold(options);
  let skipped = 0;
  const skip = (where: string, error: string) => {
    skipped += 1;
    io.err(`${where}: skipped: ${error}`);
  };
  let untrusted = 0;
  const distrust = (where: string, reason: string) => {
    untrusted += 1;
    if (untrusted <= 20) io.err(`${where}: not trusted: ${reason}`);
  };
  // Names for --explain, from the check lines (kept here, not in the fold: only the printout needs them).
  const names = new Map<number, string>();
  // --summary lists the workers flagged as faulty probes during the window (and when released).
  const flagged: FlaggedWorker[] = [];
  // Notification outcomes are observations, not derivable: --explain prints them as they come.
  const onNotify = options.mode === 'explain' ? (line: NotifyLine, inWindow: boolean) => inWindow && io.out(explainNotify(line, names)) : undefined;
  const window = new LineWindow(options, skip, onNotify, distrust);
  const print = PRINTERS[options.mode];
  /** One record through the window and the fold; false at the end of the window. */
  const take = (record: LogRecord): boolean => {
    const line = window.take(record);
    if (line === LineWindow.STOP) return false;
    if (!line) return true;
    if (line.type === 'check' && line.name !== undefined) names.set(line.checkId, line.name);
    if (window.opensWindow && options.since) fold.startWindow(options.since.getTime());
    // From the stream, a result is dated no later than its receipt there (as the controller's own fold does).
    const received = line.type === 'result' && record.subject !== undefined && record.time ? { ...line, receivedAt: record.time.getTime() } : line;
    const { lines, error } = fold.apply(received);
    if (error) skip(record.where, error);
    if (!window.inWindow) return true;
    for (const derived of lines) {
      if (derived.type === 'probe') noteProbe(flagged, derived);
      const text = print(derived, names);
      if (text !== undefined) io.out(text);
    }
    return true;
  };
  // A source may give records in batches (a file: one per chunk read), taken without an await each.
  reading: for await (const item of records) {
    if (Array.isArray(item)) {
      for (const record of item) if (!take(record)) break reading;
    } else if (!take(item)) break;
  }
  const summaries = fold.summaries();
  if (options.mode === 'summary') io.out(summaryTable(summaries, options, flagged));
  if (options.mode === 'ndjson') for (const summary of summaries) io.out(JSON.stringify(summary));
  if (skipped > 0) io.err(`${skipped} record(s) skipped`);
  // Untrusted records are the log working as designed (a forged or stale line ignored), not a fault of the replay.
  if (untrusted > 0) io.err(`${untrusted} record(s) not trusted (subject, publisher or view does not allow them)`);
  return skipped;
}

function noteProbe(flagged: FlaggedWorker[], line: Extract<DerivedLine, { type: 'probe' }>): void {
  if (line.verdict === 'flagged') {
    flagged.push({ worker: line.worker, at: line.at, samples: line.samples, ratio: line.ratio, excluded: line.excluded });
    return;
  }
  for (let i = flagged.length - 1; i >= 0; i--) {
    const open = flagged[i]!;
    if (open.worker === line.worker && open.released === undefined) {
      open.released = line.at;
      return;
    }
  }
}
