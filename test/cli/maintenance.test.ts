import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.ts';
import { runBearmon } from '../helpers/bearmon.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';

/** A migrated database with one check; the CLI is told of no NATS it could reach, so writes only warn that the controller was not told. */
async function managed() {
  const db = await freshDatabase();
  await migrate(db);
  const env = {
    BEARMON_CONTROLLER_DATABASE: `${db.user}:${db.password ?? ''}@tcp(${db.host ?? '127.0.0.1'}:${db.port ?? 3306})/${db.database}`,
    BEARMON_NATS_URL: 'nats://127.0.0.1:1',
  };
  const rows = () => withConnection(db, async (c) => (await c.query<RowDataPacket[]>('SELECT name, check_id, kind, spec, time_zone, enabled FROM bearmon_maintenance ORDER BY id'))[0].map((r) => ({ ...r })));
  await withConnection(db, (c) => c.query(`INSERT INTO checks (name, type, data) VALUES ('web', 'http', '{"url":"http://127.0.0.1:9/"}')`));
  return { bearmon: (...args: string[]) => runBearmon(args, env), rows };
}

describe('bearmon maintenance add|list|rm', () => {
  it('adds one-off, weekly and cron windows, lists them and removes one by name', async () => {
    const { bearmon, rows } = await managed();
    expect(await bearmon('maintenance', 'add', '--name', 'upgrade', '--check', 'web', '--start', '2026-12-24T22:00', '--end', '2026-12-25T02:00', '--timezone', 'Europe/Berlin')).toMatchObject({ code: 0, stdout: '1\n' });
    expect(await bearmon('maintenance', 'add', '--name', 'weekend', '--days', 'sat,sun', '--at', '02:00', '--duration', '2h')).toMatchObject({ code: 0, stdout: '2\n' });
    expect(await bearmon('maintenance', 'add', '--name', 'backup', '--cron', '30 1 * * *', '--duration', '30m', '--timezone', 'America/New_York', '--disabled')).toMatchObject({ code: 0, stdout: '3\n' });
    expect(await rows()).toEqual([
      { name: 'upgrade', check_id: 1, kind: 'once', spec: '{"start":"2026-12-24T22:00","end":"2026-12-25T02:00"}', time_zone: 'Europe/Berlin', enabled: 1 },
      { name: 'weekend', check_id: null, kind: 'weekly', spec: '{"days":["sat","sun"],"start":"02:00","duration":"2h"}', time_zone: 'UTC', enabled: 1 },
      { name: 'backup', check_id: null, kind: 'cron', spec: '{"cron":"30 1 * * *","duration":"30m"}', time_zone: 'America/New_York', enabled: 0 },
    ]);
    const listed = JSON.parse((await bearmon('maintenance', 'list', '--json')).stdout) as { name: string; check: string | null; window: string }[];
    expect(listed.map((w) => [w.name, w.check, w.window])).toEqual([
      ['upgrade', 'web', 'once 2026-12-24T22:00 to 2026-12-25T02:00 (Europe/Berlin)'],
      ['weekend', null, 'weekly sat,sun 02:00 for 2h (UTC)'],
      ['backup', null, 'cron "30 1 * * *" for 30m (America/New_York)'],
    ]);
    expect(await bearmon('maintenance', 'rm', 'weekend')).toMatchObject({ code: 0, stdout: 'maintenance window weekend deleted\n' });
    expect((await rows()).map((r) => r.name)).toEqual(['upgrade', 'backup']);
  }, 90_000);

  it('refuses invalid input with exit 2, naming the field and the value, and writes nothing', async () => {
    const { bearmon, rows } = await managed();
    const cases: [string[], string][] = [
      [['--cron', '61 * * * *', '--duration', '1h'], 'cron: expected a cron expression of the start times such as "0 2 * * 0" (minute hour day month weekday) (value "61 * * * *")'],
      [['--days', 'sun', '--at', '02:00', '--duration', '2h', '--timezone', 'Mars/Olympus'], 'timezone: expected an IANA time zone such as Europe/Berlin or UTC (value "Mars/Olympus")'],
      [['--start', '2026-12-25T02:00', '--end', '2026-12-24T22:00'], 'end: expected a time after the start 2026-12-25T02:00 (value "2026-12-24T22:00")'],
      [['--check', 'nope', '--start', '2026-12-24T22:00', '--end', '2026-12-25T02:00'], 'check: no such check (value "nope")'],
    ];
    for (const [args, message] of cases) {
      const result = await bearmon('maintenance', 'add', '--name', 'bad', ...args);
      expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 2, stderr: `bearmon: ${message}\n` });
    }
    expect(await bearmon('maintenance', 'rm', 'nope')).toMatchObject({ code: 2, stderr: 'bearmon: window: no maintenance window with that id or name (value "nope")\n' });
    expect(await rows()).toEqual([]);
  }, 90_000);
});

describe('bearmon apply: the maintenance section', () => {
  it('creates windows by name (check by name, or every check), applies twice with no change, exports them, and refuses a bad one naming file:line, field and value', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'bearmon-maintenance-'));
    const { bearmon, rows } = await managed();
    const good = join(dir, 'good.yaml');
    await writeFile(
      good,
      [
        'maintenance:',
        '  - { name: upgrade, check: web, start: "2026-12-24T22:00", end: "2026-12-25T02:00", timezone: Europe/Berlin }',
        '  - { name: weekend, days: [sat, sun], at: "02:00", duration: 2h }',
        '',
      ].join('\n'),
    );
    const applied = await bearmon('apply', good);
    expect(applied).toMatchObject({ code: 0, stdout: 'create maintenance "upgrade"\ncreate maintenance "weekend"\napplied: 2 to create, 0 to update, 0 to delete\n' });
    expect(await rows()).toEqual([
      { name: 'upgrade', check_id: 1, kind: 'once', spec: '{"start":"2026-12-24T22:00","end":"2026-12-25T02:00"}', time_zone: 'Europe/Berlin', enabled: 1 },
      { name: 'weekend', check_id: null, kind: 'weekly', spec: '{"days":["sat","sun"],"start":"02:00","duration":"2h"}', time_zone: 'UTC', enabled: 1 },
    ]);
    expect((await bearmon('apply', good)).stdout).toBe('applied: 0 to create, 0 to update, 0 to delete (nothing to do)\n');
    const exported = join(dir, 'exported.yaml');
    expect((await bearmon('export', '--out', exported)).code).toBe(0);
    expect((await bearmon('apply', exported)).stdout).toBe('applied: 0 to create, 0 to update, 0 to delete (nothing to do)\n');

    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, ['maintenance:', '  - { name: late, cron: "0 25 * * *", duration: 1h, timezone: Nowhere/Land }', '  - { name: gone, check: nope, start: "2026-01-01T00:00", end: "2026-01-01T01:00" }', ''].join('\n'));
    const refused = await bearmon('apply', bad);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain(`${bad}:2: maintenance window "late": timezone: expected an IANA time zone such as Europe/Berlin or UTC (value "Nowhere/Land")`);
    expect(refused.stderr).toContain(`${bad}:2: maintenance window "late": cron: expected a cron expression`);
    expect((await rows()).map((r) => r.name)).toEqual(['upgrade', 'weekend']);
    const unknown = join(dir, 'unknown.yaml');
    await writeFile(unknown, ['maintenance:', '  - { name: gone, check: nope, start: "2026-01-01T00:00", end: "2026-01-01T01:00" }', ''].join('\n'));
    expect(await bearmon('apply', unknown)).toMatchObject({ code: 2, stderr: expect.stringContaining(`${unknown}:2: maintenance window gone: check: no check named "nope" in the file or the database`) });
  }, 90_000);
});
