import type { PoolOptions, RowDataPacket } from 'mysql2/promise';
import { describe, expect, it, onTestFinished } from 'vitest';
import { createCheckRegistry } from '../../src/checks/registry.ts';
import { redact } from '../../src/db/dsn.ts';
import { migrate } from '../../src/db/migrate.ts';
import { createStore, type Store, type Transition } from '../../src/db/store.ts';
import { createTransitionWriter, type TransitionWriterOptions } from '../../src/db/transition-writer.ts';
import { createLogger } from '../../src/log.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';
import { refusedPort } from '../helpers/servers.ts';
import { startTcpProxy } from '../helpers/tcp-proxy.ts';

const registry = createCheckRegistry();

type Db = Awaited<ReturnType<typeof freshDatabase>>;
type LogLine = Record<string, unknown> & { level: string; msg: string };

async function migratedDatabase(): Promise<Db> {
  const db = await freshDatabase();
  await migrate(db);
  return db;
}

/** gobearmon's DSN form for a test database, optionally through another host:port. */
function dsnOf(db: PoolOptions & { database: string }, via?: { host: string; port: number }): string {
  const host = via?.host ?? db.host ?? '127.0.0.1';
  const port = via?.port ?? db.port ?? 3306;
  return `${db.user}:${db.password ?? ''}@tcp(${host}:${port})/${db.database}`;
}

function capturedLog() {
  const lines: LogLine[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(JSON.parse(line)) } });
  return { log, lines, withMsg: (msg: string) => lines.filter((l) => l.msg === msg) };
}

function openStore(dsns: string[], log = capturedLog().log): Store {
  const store = createStore({ dsns, log, registry, connectTimeoutMs: 2000 });
  onTestFinished(() => store.close());
  return store;
}

function openWriter(options: TransitionWriterOptions) {
  const writer = createTransitionWriter(options);
  onTestFinished(() => writer.stop());
  return writer;
}

async function insertChecks(db: Db, values: string): Promise<void> {
  await withConnection(db, (c) => c.query(`INSERT INTO checks (id, name, type, data, check_interval, delay, status, enabled) VALUES ${values}`));
}

const TCP = `'{"address":"127.0.0.1:7"}'`;

async function events(db: Db) {
  return withConnection(db, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>('SELECT check_id, type, UNIX_TIMESTAMP(time) AS at FROM check_events ORDER BY id');
    return rows.map((r) => ({ checkId: r.check_id, type: r.type, at: Number(r.at) }));
  });
}

async function statuses(db: Db) {
  return withConnection(db, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>('SELECT id, status FROM checks ORDER BY id');
    return Object.fromEntries(rows.map((r) => [r.id, r.status]));
  });
}

const at = (iso: string) => new Date(iso);
const seconds = (iso: string) => Date.parse(iso) / 1000;

describe('store: loadChecks', () => {
  it('returns the good rows with their values and each bad row as misconfigured, naming id and field', async () => {
    const db = await migratedDatabase();
    await insertChecks(
      db,
      `(1, 'web', 'http', '{"url":"http://127.0.0.1:8080/","expect_status":200}', 120, 3, 'offline', 1),
       (2, 'line', 'tcp', ${TCP}, 60, 0, 'online', 1),
       (3, 'broken json', 'http', '{"url":', 60, 1, 'online', 1),
       (4, 'gopher', 'gopher', '{}', 60, 1, 'online', 1),
       (5, 'no url', 'http', '{"method":"GET"}', 60, 1, 'online', 1),
       (6, 'string status', 'http', '{"url":"http://127.0.0.1/","expect_status":"200"}', 60, 1, 'online', 1),
       (7, 'zero interval', 'tcp', ${TCP}, 0, 1, 'online', 1),
       (8, 'negative delay', 'tcp', ${TCP}, 60, -1, 'online', 1),
       (9, 'disabled', 'gopher', 'not json', 0, -1, 'online', 0),
       (10, 'no status', 'tcp', ${TCP}, 30, 2, NULL, 1),
       (11, 'array data', 'tcp', '[1,2]', 60, 1, 'online', 1)`,
    );
    const { checks, misconfigured } = await openStore([dsnOf(db)]).loadChecks();

    expect(checks).toEqual([
      { id: 1, name: 'web', type: 'http', data: '{"url":"http://127.0.0.1:8080/","expect_status":200}', interval: 120, delay: 3, minRegions: 1, status: 'offline' },
      { id: 2, name: 'line', type: 'tcp', data: '{"address":"127.0.0.1:7"}', interval: 60, delay: 0, minRegions: 1, status: 'online' },
      { id: 10, name: 'no status', type: 'tcp', data: '{"address":"127.0.0.1:7"}', interval: 30, delay: 2, minRegions: 1, status: 'online' },
    ]);
    expect(misconfigured.map(({ id, name, field }) => ({ id, name, field }))).toEqual([
      { id: 3, name: 'broken json', field: 'data' },
      { id: 4, name: 'gopher', field: 'type' },
      { id: 5, name: 'no url', field: 'data.url' },
      { id: 6, name: 'string status', field: 'data.expect_status' },
      { id: 7, name: 'zero interval', field: 'check_interval' },
      { id: 8, name: 'negative delay', field: 'delay' },
      { id: 11, name: 'array data', field: 'data' },
    ]);
    const message = (id: number) => misconfigured.find((m) => m.id === id)!.message;
    expect(message(3)).toMatch(/^data: invalid JSON \(/);
    expect(message(4)).toBe('type: unknown check type "gopher"');
    expect(message(5)).toMatch(/^data\.url: .*\(value undefined\)$/);
    expect(message(6)).toMatch(/^data\.expect_status: .*\(value "200"\)$/);
    expect(message(7)).toBe('check_interval: expected at least 1 (value 0)');
    expect(message(8)).toBe('delay: expected at least 0 (value -1)');
    expect(message(11)).toBe('data: expected a JSON object (value "[1,2]")');
  });

  it('rows identical to a known check are taken as they are; a row that changed in any field is judged again', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', '{}', 60, 1, 'offline', 1), (2, 'other', 'tcp', '{}', 60, 1, 'online', 1), (3, 'bad status', 'tcp', '{}', 60, 1, 'online', 1)`);
    await withConnection(db, (c) => c.query("ALTER TABLE checks MODIFY status VARCHAR(16)"));
    await withConnection(db, (c) => c.query("UPDATE checks SET status = 'sideways' WHERE id = 3"));
    // The known definitions stand for what an earlier load validated (here deliberately not valid: '{}' has no address).
    const known = new Map([1, 2, 3].map((id) => [id, { id, name: id === 2 ? 'renamed' : id === 1 ? 'line' : 'bad status', type: 'tcp', data: '{}', interval: 60, delay: 1, minRegions: 1, status: 'online' as const }]));
    const { checks, misconfigured } = await openStore([dsnOf(db)]).loadChecks(known);
    // Check 1: unchanged, taken with its current status and not validated again.
    expect(checks).toEqual([expect.objectContaining({ id: 1, name: 'line', data: '{}', status: 'offline' })]);
    // Check 2 changed its name and check 3 has an invalid status: both judged, and found wanting.
    expect(misconfigured.map(({ id, field }) => ({ id, field }))).toEqual([
      { id: 2, field: 'data.address' },
      { id: 3, field: 'status' },
    ]);
  });

  it('reads min_regions (1..16); a value out of range is misconfigured, naming the field and the value', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'three', 'tcp', ${TCP}, 60, 1, 'online', 1), (2, 'zero', 'tcp', ${TCP}, 60, 1, 'online', 1), (3, 'many', 'tcp', ${TCP}, 60, 1, 'online', 1), (4, 'default', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    await withConnection(db, (c) => c.query('UPDATE checks SET min_regions = CASE id WHEN 1 THEN 3 WHEN 2 THEN 0 WHEN 3 THEN 17 ELSE min_regions END'));
    const store = openStore([dsnOf(db)]);
    const { checks, misconfigured } = await store.loadChecks();
    expect(checks.map(({ id, minRegions }) => ({ id, minRegions }))).toEqual([
      { id: 1, minRegions: 3 },
      { id: 4, minRegions: 1 },
    ]);
    expect(misconfigured.map(({ id, field, message }) => ({ id, field, message }))).toEqual([
      { id: 2, field: 'min_regions', message: 'min_regions: expected at least 1 (value 0)' },
      { id: 3, field: 'min_regions', message: 'min_regions: expected at most 16 (value 17)' },
    ]);
    // A known check whose min_regions changed is taken with the new value, not the known one.
    await withConnection(db, (c) => c.query('UPDATE checks SET min_regions = 2 WHERE id = 1'));
    const again = await store.loadChecks(new Map(checks.map((c) => [c.id, c])));
    expect(again.checks.map(({ id, minRegions }) => ({ id, minRegions }))).toEqual([
      { id: 1, minRegions: 2 },
      { id: 4, minRegions: 1 },
    ]);
  });

  it('reads a database not yet migrated to min_regions (schema 9) as one region per check', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    await withConnection(db, (c) => c.query('ALTER TABLE checks DROP COLUMN min_regions'));
    const { checks, misconfigured } = await openStore([dsnOf(db)]).loadChecks();
    expect(misconfigured).toEqual([]);
    expect(checks).toEqual([expect.objectContaining({ id: 1, minRegions: 1 })]);
  });

  it('falls back to the next DSN when the first refuses connections, and says so once', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    const { log, withMsg } = capturedLog();
    const dead = dsnOf(db, { host: '127.0.0.1', port: await refusedPort() });
    const store = openStore([dead, dsnOf(db)], log);

    for (let i = 0; i < 3; i++) expect((await store.loadChecks()).checks.map((c) => c.id)).toEqual([1]);
    expect(await store.recordTransition({ checkId: 1, to: 'offline', at: at('2026-01-01T00:00:00Z'), key: 'k1' })).toBe('written');

    const warnings = withMsg('database unreachable; trying the others');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ level: 'warn', database: redact(dead) });
    expect(String(warnings[0]!.error)).toMatch(/ECONNREFUSED/);
  });

  it('reports a query error other than a connection failure instead of trying the next DSN', async () => {
    const db = await migratedDatabase();
    await withConnection(db, (c) => c.query('DROP TABLE checks'));
    await expect(openStore([dsnOf(db)]).loadChecks()).rejects.toMatchObject({ code: 'ER_NO_SUCH_TABLE' });
  });
});

describe('store: recordTransition', () => {
  it('writes checks.status and one check_events row with the given time; the same key twice leaves one row', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1), (2, 'other', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    const store = openStore([dsnOf(db)]);
    const down: Transition = { checkId: 1, to: 'offline', at: at('2026-01-02T03:04:05Z'), key: 'check-1-offline-a' };

    expect(await store.recordTransition(down)).toBe('written');
    expect(await store.recordTransition(down)).toBe('already-written');
    expect(await events(db)).toEqual([{ checkId: 1, type: 'offline', at: seconds('2026-01-02T03:04:05Z') }]);
    expect(await statuses(db)).toEqual({ 1: 'offline', 2: 'online' });

    expect(await store.recordTransition({ checkId: 1, to: 'online', at: at('2026-01-02T03:10:00Z'), key: 'check-1-online-b' })).toBe('written');
    expect(await events(db)).toEqual([
      { checkId: 1, type: 'offline', at: seconds('2026-01-02T03:04:05Z') },
      { checkId: 1, type: 'online', at: seconds('2026-01-02T03:10:00Z') },
    ]);
    expect(await statuses(db)).toEqual({ 1: 'online', 2: 'online' });
  });

  it('records the transition even when its notifications cannot be queued, and reports that; long worker lists are cut to fit', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    await withConnection(db, async (c) => {
      await c.query("INSERT INTO contacts (id, type, data) VALUES (1, 'email', 'ops@example.com')");
      await c.query("INSERT INTO alerts (check_id, contact_id, type, enabled) VALUES (1, 1, 'both', 1)");
      // An outbox that cannot hold the message (as a database created latin1 would be).
      await c.query('ALTER TABLE bearmon_notifications CONVERT TO CHARACTER SET latin1');
    });
    const failures: { key: string; error: string }[] = [];
    const store = createStore({ dsns: [dsnOf(db)], log: capturedLog().log, registry, onOutboxError: (t, error) => failures.push({ key: t.key, error }) });
    onTestFinished(() => store.close());
    const workers = Array.from({ length: 100 }, (_, i) => `probe-${String(i).padStart(2, '0')}-${'x'.repeat(50)}`);

    expect(await store.recordTransition({ checkId: 1, to: 'offline', at: at('2026-01-02T03:04:05Z'), key: 'k-emoji', message: 'down 🔥', workers })).toBe('written');
    expect(await events(db)).toEqual([{ checkId: 1, type: 'offline', at: seconds('2026-01-02T03:04:05Z') }]);
    expect(failures).toEqual([{ key: 'k-emoji', error: expect.stringMatching(/Incorrect string value/) }]);

    expect(await store.recordTransition({ checkId: 1, to: 'online', at: at('2026-01-02T03:05:05Z'), key: 'k-plain', message: 'up', workers })).toBe('written');
    const rows = await withConnection(db, async (c) => (await c.query<RowDataPacket[]>('SELECT notification_key, workers FROM bearmon_notifications'))[0]);
    expect(rows.map((r) => String(r.notification_key))).toEqual(['k-plain/1']);
    const kept: string[] = JSON.parse(rows[0]!.workers);
    expect(JSON.stringify(kept).length).toBeLessThanOrEqual(2048);
    expect(kept.slice(0, 2)).toEqual(workers.slice(0, 2));
    expect(kept.at(-1)).toBe(`… ${workers.length - kept.length + 1} more`);
    expect(failures).toHaveLength(1);
  });

  it('never moves a check backwards: a transition older than its last event, or into the state it is already in, is superseded', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    const store = openStore([dsnOf(db)]);
    expect(await store.recordTransition({ checkId: 1, to: 'offline', at: at('2026-01-02T03:00:00Z'), key: 'down-1' })).toBe('written');
    expect(await store.recordTransition({ checkId: 1, to: 'online', at: at('2026-01-02T03:10:00Z'), key: 'up-1' })).toBe('written');
    // A dropped earlier write, re-derived at a take-over: older than the last event.
    expect(await store.recordTransition({ checkId: 1, to: 'offline', at: at('2026-01-02T03:05:00Z'), key: 'down-old' })).toBe('superseded');
    // The same change derived with another deciding result: the check is already online by its last event.
    expect(await store.recordTransition({ checkId: 1, to: 'online', at: at('2026-01-02T03:10:02Z'), key: 'up-other' })).toBe('superseded');
    expect(await events(db)).toEqual([
      { checkId: 1, type: 'offline', at: seconds('2026-01-02T03:00:00Z') },
      { checkId: 1, type: 'online', at: seconds('2026-01-02T03:10:00Z') },
    ]);
    expect(await statuses(db)).toEqual({ 1: 'online' });
    // Nothing of a superseded transition is kept: not even its key.
    const keys = await withConnection(db, async (c) => (await c.query<RowDataPacket[]>('SELECT transition_key FROM bearmon_transitions ORDER BY transition_key'))[0]);
    expect(keys.map((k) => String(k.transition_key))).toEqual(['down-1', 'up-1']);
    expect(await store.recordTransition({ checkId: 1, to: 'offline', at: at('2026-01-02T03:20:00Z'), key: 'down-2' })).toBe('written');
  });

  it('an event dated in the future (a poisoned row) cannot make later real transitions superseded (attack 2)', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    const store = openStore([dsnOf(db)]);
    // What a successor wrote before times were bounded: a 2037 offline event, then back online.
    await withConnection(db, (c) => c.query("INSERT INTO check_events (check_id, type, time) VALUES (1, 'offline', '2037-12-31 00:00:00')"));
    const now = Date.now();
    expect(await store.recordTransition({ checkId: 1, to: 'offline', at: new Date(now - 60_000), key: 'real-down' })).toBe('written');
    expect(await store.recordTransition({ checkId: 1, to: 'online', at: new Date(now - 30_000), key: 'real-up' })).toBe('written');
    expect(await statuses(db)).toEqual({ 1: 'online' });
    // The rule itself still holds for real events (the control): older than the last real one is superseded.
    expect(await store.recordTransition({ checkId: 1, to: 'offline', at: new Date(now - 45_000), key: 'stale' })).toBe('superseded');
  });

  it('refuses a transition of a deleted check and a key longer than the column, writing nothing', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    const store = openStore([dsnOf(db)]);
    await expect(store.recordTransition({ checkId: 99, to: 'offline', at: new Date(), key: 'gone' })).rejects.toMatchObject({
      name: 'CheckMissingError',
      checkId: 99,
    });
    await expect(store.recordTransition({ checkId: 1, to: 'offline', at: new Date(), key: 'k'.repeat(129) })).rejects.toMatchObject({
      name: 'InvalidRequestError',
    });
    expect(await events(db)).toEqual([]);
    const keys = await withConnection(db, async (c) => (await c.query<RowDataPacket[]>('SELECT * FROM bearmon_transitions'))[0]);
    expect(keys).toEqual([]);
  });
});

describe('transition writer', () => {
  it('keeps transitions while MySQL is unreachable, logs the outage once, and writes each exactly once after', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    const proxy = await startTcpProxy({ host: db.host ?? '127.0.0.1', port: db.port ?? 3306 });
    const { log, lines, withMsg } = capturedLog();
    const store = openStore([dsnOf(db, proxy)], log);
    await store.loadChecks(); // the pool now holds a live connection through the proxy, which the cut kills

    proxy.cut();
    const writer = openWriter({ store, log, retry: { initialMs: 5, maxMs: 50 } });
    const down: Transition = { checkId: 1, to: 'offline', at: at('2026-03-01T10:00:00Z'), key: 'c1-down' };
    const up: Transition = { checkId: 1, to: 'online', at: at('2026-03-01T10:05:00Z'), key: 'c1-up' };
    writer.enqueue(down);
    writer.enqueue(up);
    writer.enqueue(down); // the same transition again while queued: kept once

    await expect.poll(() => withMsg('MySQL still unreachable').length, { timeout: 20_000 }).toBeGreaterThanOrEqual(3);
    expect(writer.pending()).toEqual([down, up]);
    expect(await events(db)).toEqual([]);
    expect(await statuses(db)).toEqual({ 1: 'online' });

    proxy.restore();
    await writer.drain();
    expect(writer.pending()).toEqual([]);
    expect(await events(db)).toEqual([
      { checkId: 1, type: 'offline', at: seconds('2026-03-01T10:00:00Z') },
      { checkId: 1, type: 'online', at: seconds('2026-03-01T10:05:00Z') },
    ]);
    expect(await statuses(db)).toEqual({ 1: 'online' });
    expect(withMsg('MySQL unreachable: keeping transitions and retrying')).toMatchObject([{ level: 'error', pending: 2 }]);
    expect(withMsg('MySQL reachable again')).toMatchObject([{ level: 'info', pending: 2 }]);
    expect(withMsg('transition recorded').map((l) => [l.checkId, l.to, l.outcome])).toEqual([
      [1, 'offline', 'written'],
      [1, 'online', 'written'],
    ]);
    expect(lines.filter((l) => l.level === 'error')).toHaveLength(1);
  });

  it('drops a transition of a deleted check with a log line naming it, and writes the others', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'gone', 'tcp', ${TCP}, 60, 1, 'online', 1), (2, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    await withConnection(db, (c) => c.query('DELETE FROM checks WHERE id = 1'));
    const { log, withMsg } = capturedLog();
    const writer = openWriter({ store: openStore([dsnOf(db)], log), log, retry: { initialMs: 60_000, maxMs: 60_000 } });

    writer.enqueue({ checkId: 1, to: 'offline', at: at('2026-03-01T10:00:00Z'), key: 'c1' });
    writer.enqueue({ checkId: 2, to: 'offline', at: at('2026-03-01T10:00:01Z'), key: 'c2' });
    await writer.drain();

    expect(await events(db)).toEqual([{ checkId: 2, type: 'offline', at: seconds('2026-03-01T10:00:01Z') }]);
    expect(withMsg('transition dropped: it could not be recorded')).toMatchObject([
      { level: 'error', checkId: 1, key: 'c1', attempts: 1, error: 'check 1 no longer exists in checks' },
    ]);
  });

  it('retries a failing SQL write without holding up other checks, then drops it, leaving no partial write', async () => {
    const db = await migratedDatabase();
    await insertChecks(db, `(1, 'refused', 'tcp', ${TCP}, 60, 1, 'online', 1), (2, 'line', 'tcp', ${TCP}, 60, 1, 'online', 1)`);
    // A per-check SQL failure inside the transaction, after checks.status was updated.
    await withConnection(db, (c) =>
      c.query(`CREATE TRIGGER refuse_check_1 BEFORE INSERT ON check_events FOR EACH ROW
                 IF NEW.check_id = 1 THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused for check 1'; END IF`),
    );
    const { log, withMsg } = capturedLog();
    const store = openStore([dsnOf(db)], log);
    const c1: Transition = { checkId: 1, to: 'offline', at: at('2026-03-01T10:00:00Z'), key: 'c1' };
    const c2: Transition = { checkId: 2, to: 'offline', at: at('2026-03-01T10:00:01Z'), key: 'c2' };

    // A minute between tries: check 2 is written while check 1 waits for its second try.
    const slow = openWriter({ store, log, retry: { initialMs: 60_000, maxMs: 60_000 }, maxAttempts: 3 });
    slow.enqueue(c1);
    slow.enqueue(c2);
    // Both first tries go at once (no retry delay before a first try): only MySQL's round trips bound them.
    await expect.poll(() => withMsg('transition recorded').map((l) => l.checkId), { timeout: timeoutFor() }).toEqual([2]);
    expect(slow.pending()).toEqual([c1]);
    expect(withMsg('transition not recorded; retrying later')).toMatchObject([{ level: 'warn', checkId: 1, attempts: 1 }]);
    await slow.stop();

    const fast = openWriter({ store, log, retry: { initialMs: 1, maxMs: 5 }, maxAttempts: 3 });
    fast.enqueue(c1);
    await fast.drain();
    expect(withMsg('transition dropped: it could not be recorded')).toMatchObject([{ level: 'error', checkId: 1, attempts: 3 }]);
    expect(String(withMsg('transition dropped: it could not be recorded')[0]!.error)).toMatch(/refused for check 1/);

    expect(await events(db)).toEqual([{ checkId: 2, type: 'offline', at: seconds('2026-03-01T10:00:01Z') }]);
    expect(await statuses(db)).toEqual({ 1: 'online', 2: 'offline' });
    const keys = await withConnection(db, async (c) => (await c.query<RowDataPacket[]>('SELECT transition_key FROM bearmon_transitions'))[0]);
    expect(keys.map((r) => String(r.transition_key))).toEqual(['c2']);
  });
});

describe('view fencing of transition writes', () => {
  it('refuses a write from an older view once a newer view has written, and never lowers the fence', async () => {
    const { createStore } = await import('../../src/db/store.ts');
    const { migrate } = await import('../../src/db/migrate.ts');
    const { freshDatabase, withConnection } = await import('../helpers/mysql.ts');
    const { createCheckRegistry } = await import('../../src/checks/registry.ts');
    const { captureLogs } = await import('../helpers/logs.ts');
    const db = await freshDatabase();
    await migrate(db);
    await withConnection(db, (c) => c.query(`INSERT INTO checks (name, type, data) VALUES ('a', 'tcp', '{"address":"127.0.0.1:1"}')`));
    const store = createStore({ dsns: [`${db.user}:${db.password}@tcp(${db.host}:${db.port})/${db.database}`], log: captureLogs().log, registry: createCheckRegistry() });
    try {
      expect(await store.recordTransition({ checkId: 1, to: 'offline', at: new Date('2026-01-01T00:00:00Z'), key: 'k1', view: 5 })).toBe('written');
      await expect(store.recordTransition({ checkId: 1, to: 'online', at: new Date('2026-01-01T00:01:00Z'), key: 'k2', view: 4 })).rejects.toThrow(
        'write refused: view 4 has been replaced by view 5',
      );
      expect(await store.recordTransition({ checkId: 1, to: 'online', at: new Date('2026-01-01T00:02:00Z'), key: 'k3', view: 5 })).toBe('written');
      const rows = await withConnection(db, async (c) => (await c.query('SELECT type FROM check_events ORDER BY id'))[0]);
      expect(rows).toEqual([{ type: 'offline' }, { type: 'online' }]);
      const fence = await withConnection(db, async (c) => (await c.query('SELECT view FROM bearmon_fence'))[0]);
      expect(fence).toEqual([{ view: 5 }]);
    } finally {
      await store.close();
    }
  });
});
