import { subject } from '../../src/bus/subjects.ts';
import type { StreamRecord } from '../../src/controller/log-state.ts';

type Line = { type: string; checkId?: number; worker?: string; [key: string]: unknown };

/** The subject a line is stored under in the result log: results under their worker, the rest under the controller that logged them. */
export function subjectOf(line: Line, controller: string): string {
  const checkId = Number(line.checkId ?? 1);
  switch (line.type) {
    case 'result':
      return subject.result(String(line.worker), checkId);
    case 'check':
      return subject.check(controller, checkId);
    case 'assign':
    case 'expire':
      return subject.assign(controller, checkId);
    case 'notify':
      return subject.notify(controller, checkId);
    case 'transition':
      return subject.transition(controller, checkId);
    default:
      return subject.decision(controller, checkId);
  }
}

/**
 * Lines as the stream would hold them: each under its publisher's subject, controller lines
 * stamped with `view`; with `view` > 0, the view record naming `controller` comes first.
 */
export function asRecords(lines: (Line | string)[], options: { controller?: string; view?: number } = {}): StreamRecord[] {
  const controller = options.controller ?? 'ctl';
  const view = options.view ?? 0;
  const records: StreamRecord[] = [];
  if (view > 0) records.push({ subject: subject.view('current'), text: JSON.stringify({ type: 'view', view, controller, at: '2026-01-01T00:00:00Z' }), seq: 0 });
  for (const line of lines) {
    if (typeof line === 'string') records.push({ subject: subject.decision(controller, 1), text: line, seq: 0 });
    else records.push({ subject: subjectOf(line, controller), text: JSON.stringify(line.type === 'result' ? line : { ...line, view }), seq: 0 });
  }
  return records.map((r, i) => ({ ...r, seq: i + 1 }));
}
