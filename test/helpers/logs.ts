import { createLogger, type Logger } from '../../src/log.ts';

export interface CapturedLogs {
  log: Logger;
  lines: Record<string, unknown>[];
  /** Lines whose msg matches. */
  matching(pattern: RegExp): Record<string, unknown>[];
}

/** A real pino logger writing its JSON lines into memory, for assertions. */
export function captureLogs(level = 'debug'): CapturedLogs {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ level, destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  return { log, lines, matching: (pattern) => lines.filter((l) => pattern.test(String(l.msg))) };
}
