/**
 * A real pino logger for benchmark runs that prints nothing (the bench's stdout is its
 * report) but counts its lines by level and message, so the report can say what the
 * actors complained about ("run not answered in time" × 12) without a flood of lines.
 */
import { createLogger, type Logger } from '../src/log.ts';
import type { BenchFigure } from './report.ts';

export interface LogTally {
  log: Logger;
  /** "level: message" -> count. */
  counts(): Record<string, number>;
}

export function tallyLogs(level = 'warn'): LogTally {
  const counts = new Map<string, number>();
  const write = (line: string) => {
    let entry: { level?: unknown; msg?: unknown; err?: unknown; error?: unknown };
    try {
      entry = JSON.parse(line) as typeof entry;
    } catch {
      entry = { level: 'unparsed', msg: line.slice(0, 120) };
    }
    // The error text is part of the key: "timeout" and "no responders" are different stories.
    const cause = entry.err ?? entry.error;
    const key = `${String(entry.level)}: ${String(entry.msg)}${cause === undefined ? '' : ` (${String(cause).slice(0, 80)})`}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  return { log: createLogger({ level, destination: { write } }), counts: () => Object.fromEntries(counts) };
}

/** One figure per distinct warning/error line, so the table says what went wrong and how often. */
export function logFigures(who: string, counts: Record<string, number>): BenchFigure[] {
  const entries = Object.entries(counts).sort(([, a], [, b]) => b - a);
  if (entries.length === 0) return [{ label: `${who} warning/error log lines`, value: 0, unit: 'lines' }];
  return entries.map(([line, count]) => ({ label: `${who} log: ${line}`, value: count, unit: 'lines' }));
}
