import { describe, expect, it } from 'vitest';
import { createLogger, lazyLogger } from '../../src/log.ts';

// The CLI's logger (src/cli/config.ts) is made on first use so a command that logs nothing
// never loads pino; what it writes must be what createLogger's logger writes.
describe('lazyLogger', () => {
  const capture = () => {
    const lines: Record<string, unknown>[] = [];
    return { lines, destination: { write: (line: string) => void lines.push(JSON.parse(line)) } };
  };
  const strip = ({ time: _time, ...rest }: Record<string, unknown>) => rest;

  it('writes the lines createLogger writes: levels, fields, children, redaction', () => {
    const eager = capture();
    const lazy = capture();
    for (const [log, _] of [
      [createLogger({ level: 'info', destination: eager.destination }), eager],
      [lazyLogger({ level: 'info', destination: lazy.destination }), lazy],
    ] as const) {
      log.debug('hidden');
      log.info({ password: 'secret', n: 1 }, 'hello');
      log.child({ role: 'worker' }).warn('from a child');
      expect(log.isLevelEnabled('debug')).toBe(false);
      log.level = 'debug';
      log.debug('now shown');
    }
    expect(lazy.lines.map(strip)).toEqual(eager.lines.map(strip));
    expect(lazy.lines.map((l) => l.msg)).toEqual(['hello', 'from a child', 'now shown']);
    expect(lazy.lines[0]!.password).toBe('***');
  });

  it('makes nothing until it is used', () => {
    let made = 0;
    const log = lazyLogger({ destination: { write: () => void made++ } });
    expect(made).toBe(0);
    log.info('one');
    expect(made).toBe(1);
  });
});
