import { decode, viewMessage } from './messages.ts';
import { parseLine, type LineHeader, type ParsedLine } from '../log/lines.ts';
import { parseLoggedSubject, subject as subjects, type LoggedSubject } from './subjects.ts';

/**
 * Who may say what in the result log (SPEC §8). Reading the stream, a line counts only as
 * its subject and the view in force allow:
 * - a result only from bearmon.result.<worker>.<check>, naming that worker and check, and
 *   answering a run (an assignment id);
 * - a controller's line (check, assign, expire, recorded, notify) only from
 *   bearmon.<family>.<controller>.<check> where <controller> is the one the view in force
 *   names and the line carries that view's number;
 * - the view in force only from bearmon.view.current, which only the viewserver may publish,
 *   and only ever growing.
 * nats.conf binds each subject's name token to one credential, so a stolen worker
 * credential can speak only as itself: one vote of C, and never the controller's voice
 * unless the viewserver names it. Everything else is skipped with a reason, counted.
 * Pure: the caller feeds records in stream order.
 */
export interface ViewInForce {
  view: number;
  controller: string | null;
  /** Stream sequence of the view record (0: not from the stream). */
  seq: number;
}

export interface TrustOptions {
  /**
   * No viewserver (a single `bearmon worker --controller`, view 0): until a view record
   * appears, controller lines of view 0 are taken from any controller subject. Under a
   * viewserver this is false: before the first view record nothing speaks for a controller.
   */
  viewless: boolean;
}

export type SkipReason =
  | 'foreign subject'
  | 'bad view record'
  | 'older view'
  | 'result names another worker or check'
  | 'result answers no run'
  | 'not the controller of the view in force'
  | 'no view in force'
  | 'line of another view'
  | 'line names another check'
  | 'type not allowed on this subject'
  | 'unreadable';

export type Admission =
  | { kind: 'view'; view: ViewInForce; changed: boolean }
  | { kind: 'line'; parsed: Extract<ParsedLine, { ok: true }>; from: LoggedSubject }
  | { kind: 'skip'; reason: SkipReason; detail?: string };

/** Line types each logged family may carry. */
const TYPES_BY_FAMILY: Record<LoggedSubject['family'], ReadonlySet<string>> = {
  result: new Set(['result']),
  assign: new Set(['assign', 'expire']),
  check: new Set(['check']),
  decision: new Set(['pending', 'round', 'cancelled', 'rejected', 'partial', 'probe', 'recorded']),
  transition: new Set(['transition']),
  notify: new Set(['notify']),
};

const VIEW_SUBJECT = subjects.view('current');

export class StreamTrust {
  private inForce: ViewInForce | undefined;
  /** Skips by reason since this trust was made (metrics, logs, `replay` stderr). */
  readonly skipped = new Map<SkipReason, number>();

  constructor(
    readonly options: TrustOptions,
    initial?: ViewInForce,
  ) {
    this.inForce = initial;
  }

  /** The view in force after the records judged so far. */
  view(): ViewInForce | undefined {
    return this.inForce;
  }

  /** Judges one stored record (subject, payload, stream sequence). */
  admit(subject: string, text: string, seq: number): Admission {
    if (subject === VIEW_SUBJECT) return this.viewRecord(text, seq);
    const from = parseLoggedSubject(subject);
    if (!from) return this.skip('foreign subject', subject);
    // Cheap before parsing: a flood under another name costs a string compare, not a JSON.parse.
    if (from.family !== 'result') {
      const refused = this.controllerRefusal(from.publisher);
      if (refused) return this.skip(refused, `${subject} (view ${this.inForce?.view ?? 'none'} names ${this.inForce?.controller ?? 'nobody'})`);
    }
    const parsed = parseLine(text);
    if (!parsed.ok) return this.skip('unreadable', parsed.error);
    const refused = this.lineRefusal(from, parsed.header, parsed);
    if (refused) return this.skip(refused, `${subject}: ${parsed.header.type || 'no type'}`);
    return { kind: 'line', parsed, from };
  }

  private viewRecord(text: string, seq: number): Admission {
    const decoded = decode(viewMessage, text);
    if (!decoded.ok) return this.skip('bad view record', decoded.error);
    const { view, controller } = decoded.value;
    if (this.inForce && view <= this.inForce.view) {
      // The viewserver says the current view again now and then: not a fault.
      if (view === this.inForce.view && controller === this.inForce.controller) return { kind: 'view', view: this.inForce, changed: false };
      return this.skip('older view', `view ${view} after view ${this.inForce.view}`);
    }
    this.inForce = { view, controller, seq };
    return { kind: 'view', view: this.inForce, changed: true };
  }

  private controllerRefusal(publisher: string): SkipReason | undefined {
    if (!this.inForce) return this.options.viewless ? undefined : 'no view in force';
    return publisher === this.inForce.controller ? undefined : 'not the controller of the view in force';
  }

  private lineRefusal(from: LoggedSubject, header: LineHeader, parsed: Extract<ParsedLine, { ok: true }>): SkipReason | undefined {
    if (!TYPES_BY_FAMILY[from.family].has(header.type)) return 'type not allowed on this subject';
    if (from.family === 'result') {
      const line = parsed.line;
      if (!line || line.type !== 'result' || line.worker !== from.publisher || line.checkId !== from.checkId) return 'result names another worker or check';
      return line.assignment === undefined ? 'result answers no run' : undefined;
    }
    if (header.checkId !== from.checkId) return 'line names another check';
    const view = header.view ?? 0;
    if (!this.inForce) return view === 0 ? undefined : 'line of another view';
    return view === this.inForce.view ? undefined : 'line of another view';
  }

  private skip(reason: SkipReason, detail?: string): Admission {
    this.skipped.set(reason, (this.skipped.get(reason) ?? 0) + 1);
    return { kind: 'skip', reason, detail };
  }
}

/** "3 × not the controller of the view in force, 1 × unreadable" for logs and stderr. */
export function describeSkips(skipped: ReadonlyMap<string, number>): string {
  return [...skipped].map(([reason, count]) => `${count} × ${reason}`).join(', ');
}
