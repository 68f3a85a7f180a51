/**
 * How often one kind of line may be logged: at most `perWindow` lines per key in each
 * window (10 a minute by default), so a flood of bad messages is counted (by the caller's
 * metric) but cannot flood the log. Returns whether this occurrence should be logged.
 */
export function createLogLimiter(now: () => number, options: { perWindow?: number; windowMs?: number } = {}): (key: string) => boolean {
  const perWindow = options.perWindow ?? 10;
  const windowMs = options.windowMs ?? 60_000;
  const seen = new Map<string, { since: number; count: number }>();
  return (key) => {
    const at = now();
    const entry = seen.get(key);
    if (!entry || at - entry.since > windowMs) {
      seen.set(key, { since: at, count: 1 });
      return true;
    }
    return ++entry.count <= perWindow;
  };
}
