/**
 * `bearmon maintenance add|list|rm`: maintenance windows (bearmon_maintenance), managed like
 * checks. While a window covers a check, its transitions are recorded and its notifications
 * held until the window ends (src/maintenance/windows.ts, docs/OPERATIONS.md).
 *
 * Exit codes (docs/CLI.md): 0 done; 2 bad input (the message names field and value; nothing
 * is written); 3 the database could not be reached.
 */
import type { Command } from 'commander';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';

type GlobalConfig = () => { config: Config; log: Logger };

export interface MaintenanceAddOptions {
  name: string;
  check?: string;
  start?: string;
  end?: string;
  days?: string;
  at?: string;
  cron?: string;
  duration?: string;
  timezone: string;
  disabled?: boolean;
  json?: boolean;
}

export function registerMaintenanceCommands(program: Command, globalConfig: GlobalConfig): void {
  const run =
    (action: (config: Config, log: Logger, ...args: unknown[]) => Promise<void>) =>
    async (...args: unknown[]) => {
      const { InputError } = await import('./manage-actions.ts');
      const { config, log } = globalConfig();
      try {
        await action(config, log, ...args);
      } catch (err) {
        if (!(err instanceof InputError)) throw err;
        process.stderr.write(`bearmon: ${err.message}\n`);
        process.exitCode = err.exitCode;
      }
    };
  const maintenance = program.command('maintenance').description('maintenance windows: notifications are held while one covers a check');
  maintenance
    .command('add')
    .description('add a window; prints its id (exit 2: a field is invalid, nothing written)')
    .requiredOption('--name <name>', 'unique name')
    .option('--check <check>', 'only this check (id or name); default every check')
    .option('--start <time>', 'one-off: start, e.g. 2026-12-24T22:00 (in --timezone) or 2026-12-24T21:00Z')
    .option('--end <time>', 'one-off: end')
    .option('--days <days>', 'weekly: days, e.g. sat,sun')
    .option('--at <HH:MM>', 'weekly: start time of day')
    .option('--cron <expression>', 'recurring: cron expression of the start times, e.g. "0 2 * * 0"')
    .option('--duration <duration>', 'weekly or cron: how long each occurrence lasts, e.g. 90m, 2h')
    .option('--timezone <zone>', 'IANA time zone of the times', 'UTC')
    .option('--disabled', 'add it without applying it yet')
    .option('--json', 'print the new window as JSON')
    .action(run((config, log, options) => maintenanceAdd(config, log, options as MaintenanceAddOptions)));
  maintenance
    .command('list')
    .description('list windows, and whether each is in force now')
    .option('--json', 'print a JSON array')
    .action(run((config, log, options) => maintenanceList(config, log, options as { json?: boolean })));
  maintenance
    .command('rm <window>')
    .description('delete a window by id or name (notifications it holds are decided when it would have ended)')
    .action(run((config, log, ref) => maintenanceRm(config, log, ref as string)));
}

/** The window the options describe: its kind from the options given. */
export function windowInput(options: MaintenanceAddOptions): { kind: unknown; spec: Record<string, unknown> } {
  if (options.cron !== undefined) return { kind: 'cron', spec: { cron: options.cron, duration: options.duration } };
  if (options.days !== undefined || options.at !== undefined) return { kind: 'weekly', spec: { days: options.days, start: options.at, duration: options.duration } };
  if (options.start !== undefined || options.end !== undefined) return { kind: 'once', spec: { start: options.start, end: options.end } };
  return { kind: undefined, spec: {} };
}

async function database(config: Config, log: Logger) {
  const [{ createCluster }, { inTransaction, withPooledConnection }] = await Promise.all([import('../db/cluster.ts'), import('../db/sql.ts')]);
  const timeout = 15_000;
  const cluster = createCluster({ dsns: config.controller.database, log, connectionLimit: 1, queryTimeoutMs: timeout });
  type Conn = Parameters<Parameters<typeof withPooledConnection>[1]>[0];
  const query = async (c: Conn, sql: string, values: unknown[] = []) => (await c.query({ sql, timeout }, values))[0];
  return {
    read: <T>(work: (q: (sql: string, values?: unknown[]) => Promise<unknown>) => Promise<T>) => cluster.run((pool) => withPooledConnection(pool, (c) => work((sql, v) => query(c, sql, v)))),
    write: async <T>(work: (q: (sql: string, values?: unknown[]) => Promise<unknown>) => Promise<T>) =>
      (await cluster.run((pool) => inTransaction(pool, async (c) => ({ value: await work((sql, v) => query(c, sql, v)) }), () => true, timeout)))!.value,
    close: () => cluster.close(),
  };
}

type Row = Record<string, unknown>;

export async function maintenanceAdd(config: Config, log: Logger, options: MaintenanceAddOptions): Promise<void> {
  const [{ InputError, tellController }, { judgeWindow }] = await Promise.all([import('./manage-actions.ts'), import('../maintenance/windows.ts')]);
  const { kind, spec } = windowInput(options);
  if (kind === undefined) throw new InputError('kind: give --start and --end (one-off), --days, --at and --duration (weekly) or --cron and --duration (value none)');
  const db = await database(config, log);
  try {
    const made = await db.write(async (q) => {
      let checkId: number | null = null;
      if (options.check !== undefined) {
        const ref = options.check.trim();
        const checks = (await q(/^\d+$/.test(ref) ? 'SELECT id FROM checks WHERE id = ?' : 'SELECT id FROM checks WHERE name = ?', [ref])) as Row[];
        if (checks.length !== 1) throw new InputError(`check: ${checks.length === 0 ? 'no such check' : 'several checks have this name: give the id'} (value ${JSON.stringify(ref)})`);
        checkId = Number(checks[0]!.id);
      }
      const judged = judgeWindow({ name: options.name, checkId, kind, spec, timeZone: options.timezone, enabled: !options.disabled });
      if (!judged.ok) throw new InputError(judged.problems.map((p) => p.message).join('; '));
      const w = judged.window;
      const taken = (await q('SELECT id FROM bearmon_maintenance WHERE name = ?', [w.name])) as Row[];
      if (taken.length > 0) throw new InputError(`name: a window named ${JSON.stringify(w.name)} exists already (id ${taken[0]!.id}) (value ${JSON.stringify(w.name)})`);
      const result = (await q('INSERT INTO bearmon_maintenance (name, check_id, kind, spec, time_zone, enabled) VALUES (?, ?, ?, ?, ?, ?)', [
        w.name,
        w.checkId,
        w.kind,
        JSON.stringify(w.spec),
        w.timeZone,
        w.enabled ? 1 : 0,
      ])) as { insertId: number };
      return { id: result.insertId, ...w };
    });
    // Printed once committed: an id on stdout is a window that exists.
    process.stdout.write(options.json ? `${JSON.stringify(made)}\n` : `${made.id}\n`);
  } finally {
    await db.close();
  }
  // The controller reads windows in each transition's transaction: a reload only refreshes `bearmon status`.
  process.stderr.write(`${await tellController(config)}\n`);
}

export async function maintenanceList(config: Config, log: Logger, options: { json?: boolean }): Promise<void> {
  const [{ judgeWindow, occurrenceAt, describeWindow }, { renderTable }] = await Promise.all([import('../maintenance/windows.ts'), import('./table.ts')]);
  const db = await database(config, log);
  try {
    const rows = (await db.read((q) =>
      q('SELECT m.id, m.name, m.check_id, c.name AS check_name, m.kind, m.spec, m.time_zone, m.enabled FROM bearmon_maintenance m LEFT JOIN checks c ON c.id = m.check_id ORDER BY m.id'),
    )) as Row[];
    const now = new Date();
    const listed = rows.map((r) => {
      const judged = judgeWindow({ name: String(r.name), checkId: r.check_id === null ? null : Number(r.check_id), kind: String(r.kind), spec: String(r.spec), timeZone: String(r.time_zone) });
      const occurrence = judged.ok ? occurrenceAt(judged.window, now) : null;
      return {
        id: Number(r.id),
        name: String(r.name),
        checkId: r.check_id === null ? null : Number(r.check_id),
        check: r.check_id === null ? null : String(r.check_name ?? 'missing'),
        kind: String(r.kind),
        spec: safeJson(String(r.spec)),
        timeZone: String(r.time_zone),
        enabled: Number(r.enabled) !== 0,
        activeUntil: Number(r.enabled) !== 0 && occurrence ? occurrence.until.toISOString() : null,
        window: judged.ok ? describeWindow(judged.window) : `invalid: ${judged.problems.map((p) => p.message).join('; ')}`,
      };
    });
    if (options.json) return void process.stdout.write(`${JSON.stringify(listed, null, 2)}\n`);
    process.stdout.write(
      `${renderTable(
        ['ID', 'NAME', 'CHECK', 'WINDOW', 'ENABLED', 'NOW'],
        listed.map((w) => [w.id, w.name, w.checkId === null ? 'all' : `${w.checkId} (${w.check})`, w.window, w.enabled ? 'yes' : 'no', w.activeUntil ? `in force until ${w.activeUntil}` : '-']),
        { align: ['right'] },
      )}\n`,
    );
  } finally {
    await db.close();
  }
}

export async function maintenanceRm(config: Config, log: Logger, ref: string): Promise<void> {
  const { InputError, tellController } = await import('./manage-actions.ts');
  const db = await database(config, log);
  try {
    const trimmed = ref.trim();
    const deleted = (await db.write((q) => q(/^\d+$/.test(trimmed) ? 'DELETE FROM bearmon_maintenance WHERE id = ?' : 'DELETE FROM bearmon_maintenance WHERE name = ?', [trimmed]))) as { affectedRows: number };
    if (deleted.affectedRows === 0) throw new InputError(`window: no maintenance window with that id or name (value ${JSON.stringify(trimmed)})`);
    process.stdout.write(`maintenance window ${trimmed} deleted\n`);
  } finally {
    await db.close();
  }
  process.stderr.write(`${await tellController(config)}\n`);
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
