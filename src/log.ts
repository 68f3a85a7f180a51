import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export interface LogOptions {
  level?: string;
  /** Fields on every line, e.g. { role: 'worker', workerId: 'w1' }. */
  base?: Record<string, unknown>;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  destination?: DestinationStream;
}

/**
 * One JSON object per line. Secrets never reach a log line: any field named like a
 * password or token is redacted wherever it appears.
 */
export function createLogger(options: LogOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { ...options.base },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: {
        paths: ['password', 'authToken', 'token', '*.password', '*.authToken', '*.token', '*.*.password', '*.*.authToken'],
        censor: '***',
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
