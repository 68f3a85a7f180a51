/**
 * `bearmon history rebuild [--since DURATION|TIME]`: the rollups again from the result
 * log (src/history/rebuild.ts). The command's edge: parses the option, opens NATS and
 * MySQL from the configuration, prints one line.
 */
import { connectBus } from '../bus/connect.ts';
import type { Config } from '../config/schema.ts';
import { createCluster } from '../db/cluster.ts';
import { errorMessage } from '../db/errors.ts';
import { rebuildHistory, type RebuildReport } from '../history/rebuild.ts';
import { createLogger, type Logger } from '../log.ts';
import { showValue } from '../validation.ts';

/** Exit codes of `bearmon history rebuild`. */
export const HISTORY_EXIT = { ok: 0, badInput: 2, failed: 3 } as const;

export interface HistoryRebuildOptions {
  since?: string;
  json?: boolean;
}

export interface HistoryDeps {
  config: Config;
  /** Default: silent, or debug lines on stderr with `[default] debug`; stdout holds only the result. */
  log?: Logger;
  out?: (line: string) => void;
  err?: (line: string) => void;
  now?: () => number;
}

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const RFC3339 = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/;

/** `6h`, `7d`, `90m`, `30s` before `now`, or an RFC 3339 time; an error naming the option and value otherwise. */
export function parseSince(value: string, now: number): Date {
  const relative = /^(\d+)([smhd])$/.exec(value);
  if (relative) {
    const ms = Number(relative[1]) * UNIT_MS[relative[2] as keyof typeof UNIT_MS];
    if (Number.isSafeInteger(ms)) return new Date(now - ms);
  }
  const at = RFC3339.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(at)) throw new RangeError(`--since: expected a duration such as 6h or 7d, or an RFC 3339 time such as 2026-01-01T00:00:00Z (value ${showValue(value)})`);
  if (at > now) throw new RangeError(`--since: expected a time in the past (value ${showValue(value)})`);
  return new Date(at);
}

const iso = (ms: number) => new Date(ms).toISOString();

function describe(report: RebuildReport): string {
  const { fine, hourly } = report.range;
  if (!fine && !hourly) return 'nothing to rebuild: the result log holds no whole bucket that has settled (buckets of the last 2 minutes are left to the controller)';
  const ranges = [hourly ? `hourly ${iso(hourly.from)} .. ${iso(hourly.to)}` : undefined, fine ? `fine ${iso(fine.from)} .. ${iso(fine.to)}` : undefined].filter(Boolean).join(', ');
  const clipped = report.range.clippedToLog !== undefined ? ` (the log goes back only to ${iso(report.range.clippedToLog)})` : '';
  return `rebuilt ${ranges}${clipped}: ${report.results} result(s) from ${report.records} record(s); rows deleted ${report.deleted.hourly} hourly, ${report.deleted.fine} fine; rows written ${report.written.hourly} hourly, ${report.written.fine} fine${report.untrusted > 0 ? `; ${report.untrusted} record(s) not trusted` : ''}`;
}

/** Returns the exit code: 0 rebuilt (also: nothing to do), 2 bad option, 3 the log or the database failed. */
export async function historyRebuildCommand(options: HistoryRebuildOptions, deps: HistoryDeps): Promise<number> {
  const out = deps.out ?? ((line: string) => void process.stdout.write(`${line}\n`));
  const err = deps.err ?? ((line: string) => void process.stderr.write(`${line}\n`));
  const now = deps.now ?? Date.now;
  let since: Date | undefined;
  try {
    since = options.since === undefined ? undefined : parseSince(options.since, now());
  } catch (e) {
    err(`bearmon: history rebuild: ${(e as Error).message}`);
    return HISTORY_EXIT.badInput;
  }
  const log = deps.log ?? createLogger({ level: deps.config.default.debug ? 'debug' : 'silent', destination: { write: (line: string) => void process.stderr.write(line) } });
  const cluster = createCluster({ dsns: deps.config.controller.database, log, connectionLimit: 2 });
  let nc;
  try {
    nc = await connectBus(deps.config.nats, 'bearmon-history');
    const report = await rebuildHistory({ nc, stream: deps.config.nats.stream, cluster, log, since, now });
    out(options.json ? JSON.stringify(report) : describe(report));
    return HISTORY_EXIT.ok;
  } catch (e) {
    const message = /stream not found/i.test((e as Error).message)
      ? `the result log stream ${deps.config.nats.stream} does not exist on ${deps.config.nats.url.join(', ')}`
      : errorMessage(e);
    err(`bearmon: history rebuild: ${message}`);
    return HISTORY_EXIT.failed;
  } finally {
    await nc?.close().catch(() => {});
    await cluster.close();
  }
}
