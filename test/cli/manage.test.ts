import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { natsOptions } from '../../src/bus/connect.ts';
import { setupBus } from '../../src/bus/setup.ts';
import { migrate } from '../../src/db/migrate.ts';
import { runBearmon, startBearmon } from '../helpers/bearmon.ts';
import { freshDatabase, withConnection } from '../helpers/mysql.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

type Db = Awaited<ReturnType<typeof freshDatabase>>;

const dsnOf = (db: Db) => `${db.user}:${db.password ?? ''}@tcp(${db.host ?? '127.0.0.1'}:${db.port ?? 3306})/${db.database}`;

/** A migrated database; the CLI is told of no NATS it could reach (port 1), so writes only warn that the controller was not told. */
async function managedDatabase() {
  const db = await freshDatabase();
  await migrate(db);
  const env = { BEARMON_CONTROLLER_DATABASE: dsnOf(db), BEARMON_NATS_URL: 'nats://127.0.0.1:1' };
  const bearmon = (...args: string[]) => runBearmon(args, env);
  const rows = (sql: string) => withConnection(db, async (c) => (await c.query<RowDataPacket[]>(sql))[0].map((r) => ({ ...r })));
  const everything = async () => ({
    checks: await rows('SELECT id, name, type, data, check_interval, delay, enabled FROM checks ORDER BY id'),
    contacts: await rows('SELECT id, name, type, data FROM contacts ORDER BY id'),
    alerts: await rows('SELECT id, check_id, contact_id, type, enabled FROM alerts ORDER BY id'),
  });
  const exec = (sql: string) => withConnection(db, (c) => c.query(sql));
  return { db, env, bearmon, rows, exec, everything };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bearmon-manage-'));
});
const file = async (name: string, text: string) => {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
};

describe('bearmon check|contact|alert', () => {
  it('adds, lists, shows, edits, disables and removes by name or id; every write says the controller was not told when none answers', async () => {
    const { bearmon, rows } = await managedDatabase();
    const added = await bearmon('check', 'add', '--name', 'web', '--type', 'http', '--data', '{"url":"http://127.0.0.1:8080/"}', '--interval', '30s', '--delay', '2');
    expect(added).toMatchObject({ code: 0, stdout: '1\n' });
    expect(added.stderr).toMatch(/the controller was not told/);
    expect(await rows('SELECT name, type, data, check_interval, delay, enabled, status FROM checks')).toEqual([
      { name: 'web', type: 'http', data: '{"url":"http://127.0.0.1:8080/"}', check_interval: 30, delay: 2, enabled: 1, status: 'online' },
    ]);
    expect((await bearmon('check', 'add', '--name', 'db', '--type', 'tcp', '--data', '{"address":"127.0.0.1:3306"}', '--disabled', '--json')).stdout).toBe(
      '{"id":2,"name":"db","type":"tcp","data":{"address":"127.0.0.1:3306"},"interval":60,"delay":1,"regions":1,"enabled":false}\n',
    );
    expect((await bearmon('contact', 'add', '--name', 'ops', '--type', 'email', '--data', ' ops@example.test '))).toMatchObject({ code: 0, stdout: '1\n' });
    expect(await bearmon('alert', 'add', '--check', 'web', '--contact', 'ops', '--type', 'offline')).toMatchObject({ code: 0, stdout: '1\n' });
    expect(await bearmon('alert', 'add', '--check', '2', '--contact', '1')).toMatchObject({ code: 0, stdout: '2\n' });

    const list = await bearmon('check', 'list');
    expect(list.code).toBe(0);
    expect(list.stdout.split('\n')[0]).toMatch(/^ID {2}NAME {2}TYPE {2}INTERVAL {2}DELAY {2}ENABLED {2}STATUS {2}DATA$/);
    expect(list.stdout).toMatch(/^ 1 {2}web {3}http {7}30s {6}2 {2}yes {6}online {2}\{"url":"http:\/\/127\.0\.0\.1:8080\/"\}$/m);
    const json = JSON.parse((await bearmon('check', 'list', '--json')).stdout);
    expect(json.map((c: { name: string; enabled: boolean }) => [c.name, c.enabled])).toEqual([['web', true], ['db', false]]);

    const shown = JSON.parse((await bearmon('check', 'show', 'web', '--json')).stdout);
    expect(shown).toMatchObject({ id: 1, name: 'web', data: { url: 'http://127.0.0.1:8080/' }, alerts: [{ id: 1, check: 'web', contact: 'ops', type: 'offline', enabled: true }] });
    expect((await bearmon('check', 'show', '1')).stdout).toMatch(/^alerts:\nID {2}CHECK {4}CONTACT {2}TYPE {5}ENABLED\n 1 {2}1 \(web\) {2}1 \(ops\) {2}offline {2}yes$/m);

    expect(await bearmon('check', 'edit', 'web', '--name', 'website', '--interval', '5m')).toMatchObject({ code: 0, stdout: 'check 1 (website) updated\n' });
    expect(await rows('SELECT name, check_interval, data FROM checks WHERE id = 1')).toEqual([{ name: 'website', check_interval: 300, data: '{"url":"http://127.0.0.1:8080/"}' }]);
    expect(await bearmon('check', 'disable', 'website')).toMatchObject({ code: 0, stdout: 'check 1 (website) disabled\n' });
    expect(await bearmon('check', 'enable', '2')).toMatchObject({ code: 0, stdout: 'check 2 (db) enabled\n' });
    expect(await rows('SELECT id, enabled FROM checks ORDER BY id')).toEqual([{ id: 1, enabled: 0 }, { id: 2, enabled: 1 }]);

    expect(JSON.parse((await bearmon('contact', 'list', '--json')).stdout)).toEqual([{ id: 1, name: 'ops', type: 'email', data: 'ops@example.test' }]);
    expect(await bearmon('contact', 'edit', 'ops', '--data', 'oncall@example.test')).toMatchObject({ code: 0 });
    expect(JSON.parse((await bearmon('alert', 'list', '--check', 'db', '--json')).stdout)).toEqual([{ id: 2, checkId: 2, contactId: 1, check: 'db', contact: 'ops', type: 'both', enabled: true, remindEvery: null, remindMax: null }]);

    expect(await bearmon('check', 'rm', 'website')).toMatchObject({ code: 0, stdout: 'check 1 (website) deleted, with 1 alert(s)\n' });
    expect(await bearmon('contact', 'rm', 'ops')).toMatchObject({ code: 0, stdout: 'contact 1 (ops) deleted, with 1 alert(s)\n' });
    expect(await rows('SELECT id FROM alerts')).toEqual([]);
    expect(await rows('SELECT id, name FROM checks')).toEqual([{ id: 2, name: 'db' }]);
  }, 60_000);

  it('refuses each invalid field with exit 2, naming the field and the value, and writes nothing', async () => {
    const { bearmon, everything } = await managedDatabase();
    await bearmon('check', 'add', '--name', 'web', '--type', 'tcp', '--data', '{"address":"127.0.0.1:80"}');
    await bearmon('contact', 'add', '--name', 'ops', '--type', 'http', '--data', 'http://127.0.0.1:9/hook');
    const before = await everything();
    const http = '{"url":"http://127.0.0.1/"}';
    const cases: [string[], RegExp][] = [
      [['check', 'add', '--name', 'x', '--type', 'http', '--data', http, '--interval', '0'], /^bearmon: interval: expected at least 1 \(value "0"\)$/],
      [['check', 'add', '--name', 'x', '--type', 'http', '--data', http, '--interval', 'soon'], /^bearmon: interval: expected whole seconds or a duration such as 30s, 5m, 1h \(value "soon"\)$/],
      [['check', 'add', '--name', 'x', '--type', 'http', '--data', http, '--delay', '-1'], /^bearmon: delay: expected an integer \(value "-1"\)$/],
      [['check', 'add', '--name', 'x', '--type', 'gopher', '--data', http], /^bearmon: type: unknown check type "gopher"$/],
      [['check', 'add', '--name', 'x', '--type', 'http', '--data', '{"url":'], /^bearmon: data: invalid JSON .*\(value "\{\\"url\\":"\)$/],
      [['check', 'add', '--name', 'x', '--type', 'http', '--data', '{"url":"ftp://127.0.0.1/"}'], /^bearmon: data\.url: unsupported protocol "ftp:", expected http or https \(value "ftp:\/\/127\.0\.0\.1\/"\)$/],
      [['check', 'add', '--name', '42', '--type', 'http', '--data', http], /^bearmon: name: expected a name that is not all digits .*\(value "42"\)$/],
      [['check', 'add', '--name', 'x'.repeat(65), '--type', 'http', '--data', http], /^bearmon: name: expected at most 64 characters/],
      [['check', 'add', '--name', 'web', '--type', 'http', '--data', http], /^bearmon: name: a check named "web" exists already \(id 1\)/],
      [['check', 'edit', 'web', '--data', '{"address":"nohost"}'], /^bearmon: data\.address: /],
      [['check', 'edit', 'web'], /^bearmon: nothing to change/],
      [['check', 'show', 'ghost'], /^bearmon: check: no check named "ghost"$/],
      [['check', 'rm', '99'], /^bearmon: check: no check with id 99$/],
      [['contact', 'add', '--name', 'm', '--type', 'email', '--data', 'not-an-address'], /^bearmon: data: expected an e-mail address .*\(value "not-an-address"\)$/],
      [['contact', 'add', '--name', 'm', '--type', 'sms', '--data', '555'], /^bearmon: data: expected an E\.164 phone number .*\(value "555"\)$/],
      [['contact', 'add', '--name', 'm', '--type', 'pager', '--data', 'x'], /^bearmon: type: unknown contact type "pager"$/],
      [['contact', 'add', '--name', 'm', '--type', 'slack', '--data', 'hooks.slack.com/services/T0/B0/x'], /^bearmon: data: expected an absolute http:\/\/ or https:\/\/ URL \(value "hooks\.slack\.com\/services\/T0\/B0\/x"\)$/],
      // A bot token is named but never echoed.
      [['contact', 'add', '--name', 'm', '--type', 'telegram', '--data', '{"token":"123:short","chat_id":1}'], /^bearmon: data\.token: expected a bot token .*\(value "\*\*\*"\)$/],
      [['alert', 'add', '--check', 'ghost', '--contact', 'ops'], /^bearmon: check: no check named "ghost"$/],
      [['alert', 'add', '--check', 'web', '--contact', 'ops', '--type', 'sometimes'], /^bearmon: type: expected online, offline, both or partial \(value "sometimes"\)$/],
    ];
    for (const [args, message] of cases) {
      const result = await bearmon(...args);
      expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(result.stderr.trim(), args.join(' ')).toMatch(message);
    }
    expect(await everything()).toEqual(before);
  }, 90_000);
});

const GOOD = `# what a newcomer writes
contacts:
  - name: ops-hook
    type: http
    data: http://127.0.0.1:9/hook
  - name: ops-mail
    type: email
    data: ops@example.test
checks:
  - name: web
    type: http
    data: { url: "http://127.0.0.1:8080/", expect_status: 200 }
    interval: 30s
  - name: db
    type: tcp
    data: { address: "127.0.0.1:3306" }
    delay: 2
    enabled: false
alerts:
  - { check: web, contact: ops-hook }
  - { check: db, contact: ops-mail, type: offline }
`;

describe('bearmon apply and export', () => {
  it('dry-run writes nothing; apply creates; applying again changes nothing; export → apply is a no-op; --prune deletes what is no longer declared', async () => {
    const { bearmon, everything, rows, exec } = await managedDatabase();
    const path = await file('good.yaml', GOOD);

    const empty = await everything();
    const dry = await bearmon('apply', '--dry-run', path);
    expect(dry.code).toBe(0);
    expect(dry.stdout.split('\n').filter(Boolean)).toEqual([
      'would create contact "ops-hook"',
      'would create contact "ops-mail"',
      'would create check "web"',
      'would create check "db"',
      'would create alert "web → ops-hook"',
      'would create alert "db → ops-mail"',
      'plan: 6 to create, 0 to update, 0 to delete',
    ]);
    expect(await everything()).toEqual(empty);

    expect((await bearmon('apply', path)).stdout).toMatch(/^applied: 6 to create, 0 to update, 0 to delete$/m);
    expect(await everything()).toEqual({
      checks: [
        { id: 1, name: 'web', type: 'http', data: '{"url":"http://127.0.0.1:8080/","expect_status":200}', check_interval: 30, delay: 1, enabled: 1 },
        { id: 2, name: 'db', type: 'tcp', data: '{"address":"127.0.0.1:3306"}', check_interval: 60, delay: 2, enabled: 0 },
      ],
      contacts: [
        { id: 1, name: 'ops-hook', type: 'http', data: 'http://127.0.0.1:9/hook' },
        { id: 2, name: 'ops-mail', type: 'email', data: 'ops@example.test' },
      ],
      alerts: [
        { id: 1, check_id: 1, contact_id: 1, type: 'both', enabled: 1 },
        { id: 2, check_id: 2, contact_id: 2, type: 'offline', enabled: 1 },
      ],
    });
    const applied = await everything();
    const again = await bearmon('apply', '--json', path);
    expect(JSON.parse(again.stdout)).toEqual({ dryRun: false, create: 0, update: 0, delete: 0, steps: [] });
    expect(again.stderr).not.toMatch(/controller/); // nothing written, nothing to tell
    expect(await everything()).toEqual(applied);

    // A row written as gobearmon's front-end would (escaped slashes, no contact name) round-trips too.
    await exec(`INSERT INTO contacts (type, data) VALUES ('email', 'legacy@example.test')`);
    await exec(`UPDATE checks SET data = '{"expect_status":200,"url":"http:\\\\/\\\\/127.0.0.1:8080\\\\/"}' WHERE id = 1`);
    const exported = await bearmon('export');
    expect(exported.code).toBe(0);
    expect(exported.stdout).toMatch(/^ {2}- name: contact-3\n {4}type: email\n {4}data: legacy@example\.test$/m);
    const roundTrip = await bearmon('apply', await file('exported.yaml', exported.stdout));
    expect(roundTrip.stdout).toBe('applied: 0 to create, 0 to update, 0 to delete (nothing to do)\n');

    // The file drops db and its alert: without --prune they stay, with it they go (alerts first).
    const smaller = await file('smaller.yaml', GOOD.replace(/ {2}- name: db\n(?: {4}.*\n)+/, '').replace(/ {2}- \{ check: db.*\n/, ''));
    expect((await bearmon('apply', smaller)).stdout).toMatch(/nothing to do/);
    const pruned = await bearmon('apply', '--prune', smaller);
    expect(pruned.stdout.split('\n').filter(Boolean)).toEqual([
      'delete alert "db → ops-mail" (#2)',
      'delete check "db" (#2)',
      'delete contact "contact-3" (#3)',
      'applied: 0 to create, 0 to update, 3 to delete',
    ]);
    expect((await rows('SELECT name FROM checks')).map((r) => r.name)).toEqual(['web']);
    expect((await rows('SELECT name FROM contacts')).map((r) => r.name)).toEqual(['ops-hook', 'ops-mail']);
  }, 90_000);

  it('an invalid file is refused whole with file:line, the object and the field, and writes nothing', async () => {
    const { bearmon, everything } = await managedDatabase();
    await bearmon('apply', await file('base.yaml', GOOD));
    const before = await everything();
    const cases: [string, string, RegExp[]][] = [
      ['syntax.yaml', 'checks:\n  - name: a\n    type: [tcp\n', [/syntax\.yaml:\d+: /]],
      ['unknown-type.yaml', 'checks:\n  - name: a\n    type: gopher\n    data: {}\n', [/unknown-type\.yaml:3: check "a": type: unknown check type "gopher"/]],
      ['missing-field.yaml', 'checks:\n  - name: a\n    type: tcp\n', [/missing-field\.yaml:2: check "a": data: expected the check parameters/]],
      ['bad-field.yaml', 'checks:\n  - name: a\n    type: http\n    data:\n      url: ftp://127.0.0.1/\n', [/bad-field\.yaml:5: check "a": data\.url: unsupported protocol "ftp:"/]],
      ['typo.yaml', 'checks:\n  - name: a\n    type: tcp\n    data: { address: "127.0.0.1:1" }\n    intervall: 5\n', [/typo\.yaml:5: check "a": intervall: unknown field/]],
      ['duplicate.yaml', 'checks:\n  - name: a\n    type: tcp\n    data: { address: "127.0.0.1:1" }\n  - name: a\n    type: tcp\n    data: { address: "127.0.0.1:2" }\n', [/duplicate\.yaml:5: check "a": duplicate name \(also at line 2\)/]],
      ['unknown-check.yaml', 'alerts:\n  - { check: web, contact: ops-hook }\n  - check: ghost\n    contact: ops-hook\n', [/unknown-check\.yaml:3: alert ghost → ops-hook: check: no check named "ghost" in the file or the database/]],
      ['section.yaml', 'monitors: []\n', [/section\.yaml:1: unknown section "monitors"/]],
    ];
    for (const [name, text, messages] of cases) {
      const result = await bearmon('apply', await file(name, text));
      expect({ name, code: result.code, stdout: result.stdout }).toEqual({ name, code: 2, stdout: '' });
      expect(result.stderr).toMatch(/is not valid, nothing written/);
      for (const message of messages) expect(result.stderr, name).toMatch(message);
    }
    // Valid objects beside an invalid one are not written either: one transaction, judged whole first.
    const mixed = await bearmon('apply', await file('mixed.yaml', GOOD.replace('checks:\n', 'checks:\n  - name: new\n    type: tcp\n    data: { address: "127.0.0.1:1" }\n  - name: bad\n    type: tcp\n    data: {}\n')));
    expect(mixed.code).toBe(2);
    expect(await everything()).toEqual(before);
  }, 90_000);
});

describe('a running controller picks up applied changes', () => {
  let nats: NatsServerHandle;
  beforeAll(async () => {
    nats = await startNatsServer();
  });
  afterAll(async () => {
    await nats?.stop();
  });

  it('apply asks the controller to reload and its status then shows the new check', async () => {
    const { db } = await managedDatabase();
    const env = { BEARMON_CONTROLLER_DATABASE: dsnOf(db), BEARMON_NATS_STREAM: 'BEARMON_MANAGE' };
    const admin = await connect(natsOptions([nats.url]));
    onTestFinished(() => admin.close());
    await setupBus(admin, { stream: env.BEARMON_NATS_STREAM, retentionMs: 86_400_000, maxBytes: 64 * 1024 ** 2 });
    const worker = startBearmon(['worker', '--controller'], { ...env, BEARMON_NATS_URL: nats.urlFor('w1'), BEARMON_WORKER_ID: 'w1' });
    const operator = { ...env, BEARMON_NATS_URL: nats.urlFor('operator') };
    await expect.poll(async () => (await runBearmon(['status', '--json'], operator)).code, { timeout: 30_000, interval: 250 }).toBe(0);

    const result = await runBearmon(['apply', await file('live.yaml', 'checks:\n  - name: live-one\n    type: tcp\n    data: { address: "127.0.0.1:1" }\n')], operator);
    expect(result).toMatchObject({ code: 0 });
    expect(result.stderr).toMatch(/^the controller reloaded: 1 checks monitored$/m);
    const status = JSON.parse((await runBearmon(['status', '--json'], operator)).stdout);
    expect(status.checks).toEqual([expect.objectContaining({ id: 1, name: 'live-one', type: 'tcp' })]);
    worker.child.kill('SIGTERM');
  }, 60_000);
});

describe('alert reminders', () => {
  it('alert add --remind-every/--remind-max writes them; export and apply carry remindEvery and remindMax; bad or lone values are refused', async () => {
    const { bearmon, rows } = await managedDatabase();
    await bearmon('check', 'add', '--name', 'web', '--type', 'tcp', '--data', '{"address":"127.0.0.1:80"}');
    await bearmon('contact', 'add', '--name', 'ops', '--type', 'http', '--data', 'http://127.0.0.1:9/hook');
    const refused: [string[], RegExp][] = [
      [['--remind-every', '30s', '--remind-max', '3'], /^bearmon: remindEvery: expected at least 60 \(value "30s"\)$/],
      [['--remind-every', '30m', '--remind-max', '5000'], /^bearmon: remindMax: expected at most 1000 \(value "5000"\)$/],
      [['--remind-max', '3'], /^bearmon: remindEvery: missing \(how often to remind, with remindMax\)$/],
      [['--remind-every', '30m'], /^bearmon: remindMax: missing \(how many reminders at most, with remindEvery\)$/],
    ];
    for (const [args, message] of refused) {
      const result = await bearmon('alert', 'add', '--check', 'web', '--contact', 'ops', ...args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr.trim()).toMatch(message);
    }
    expect(await rows('SELECT id FROM alerts')).toEqual([]);

    const added = await bearmon('alert', 'add', '--check', 'web', '--contact', 'ops', '--remind-every', '30m', '--remind-max', '3', '--json');
    expect(JSON.parse(added.stdout)).toEqual({ id: 1, checkId: 1, contactId: 1, type: 'both', enabled: true, remindEvery: 1800, remindMax: 3 });
    expect(await rows('SELECT remind_every, remind_max FROM alerts')).toEqual([{ remind_every: 1800, remind_max: 3 }]);

    const exported = await bearmon('export');
    expect(exported.stdout).toMatch(/^ {2}- check: web\n {4}contact: ops\n {4}type: both\n {4}enabled: true\n {4}remindEvery: 30m\n {4}remindMax: 3$/m);
    expect((await bearmon('apply', await file('reminders.yaml', exported.stdout))).stdout).toBe('applied: 0 to create, 0 to update, 0 to delete (nothing to do)\n');

    const fewer = await file('fewer.yaml', exported.stdout.replace('remindMax: 3', 'remindMax: 5'));
    expect((await bearmon('apply', fewer)).stdout).toMatch(/^applied: 0 to create, 1 to update, 0 to delete$/m);
    expect(await rows('SELECT remind_every, remind_max FROM alerts')).toEqual([{ remind_every: 1800, remind_max: 5 }]);
  }, 120_000);
});

describe('regions and partial alerts', () => {
  it('check add|edit --regions and YAML regions: write min_regions; export writes it only when not 1; alert type partial round-trips; bad values are refused', async () => {
    const { bearmon, rows, everything } = await managedDatabase();
    const regions = async () => (await rows('SELECT name, min_regions FROM checks ORDER BY id')).map((r) => [r.name, r.min_regions]);
    expect(await bearmon('check', 'add', '--name', 'web', '--type', 'tcp', '--data', '{"address":"127.0.0.1:80"}', '--regions', '2')).toMatchObject({ code: 0, stdout: '1\n' });
    expect(await bearmon('check', 'add', '--name', 'db', '--type', 'tcp', '--data', '{"address":"127.0.0.1:3306"}')).toMatchObject({ code: 0, stdout: '2\n' });
    expect(await regions()).toEqual([['web', 2], ['db', 1]]);
    expect(await bearmon('check', 'edit', 'db', '--regions', '3')).toMatchObject({ code: 0, stdout: 'check 2 (db) updated\n' });
    expect(await regions()).toEqual([['web', 2], ['db', 3]]);
    expect(JSON.parse((await bearmon('check', 'show', 'web', '--json')).stdout)).toMatchObject({ name: 'web', regions: 2 });
    expect((await bearmon('check', 'show', 'web')).stdout).toMatch(/^regions +2$/m);

    await bearmon('contact', 'add', '--name', 'ops', '--type', 'http', '--data', 'http://127.0.0.1:9/hook');
    expect(await bearmon('alert', 'add', '--check', 'web', '--contact', 'ops', '--type', 'partial')).toMatchObject({ code: 0, stdout: '1\n' });
    expect(JSON.parse((await bearmon('alert', 'list', '--json')).stdout)).toEqual([expect.objectContaining({ id: 1, type: 'partial' })]);
    expect((await bearmon('alert', 'list')).stdout).toMatch(/^ 1 {2}1 \(web\) {2}1 \(ops\) {2}partial {2}yes$/m);

    // Back to one region for db: export leaves the default out, so older exports stay as they were.
    await bearmon('check', 'edit', 'db', '--regions', '1');
    const exported = await bearmon('export');
    expect(exported.stdout).toMatch(/^ {2}- name: web\n {4}type: tcp\n {4}data:\n {6}address: 127\.0\.0\.1:80\n {4}interval: 60\n {4}delay: 1\n {4}regions: 2\n {4}enabled: true$/m);
    expect(exported.stdout.match(/regions:/g)).toHaveLength(1);
    expect(exported.stdout).toMatch(/^ {4}type: partial$/m);
    const path = await file('regions.yaml', exported.stdout);
    expect((await bearmon('apply', path)).stdout).toBe('applied: 0 to create, 0 to update, 0 to delete (nothing to do)\n');

    // A changed YAML regions is an update of that field alone; an alert's type partial is applied.
    const changed = await file('regions-changed.yaml', exported.stdout.replace('regions: 2', 'regions: 4').replace('type: partial', 'type: both'));
    const applied = await bearmon('apply', changed);
    expect(applied.stdout.split('\n').filter(Boolean)).toEqual(['update check "web" (#1): regions', 'update alert "web → ops" (#1): type', 'applied: 0 to create, 2 to update, 0 to delete']);
    expect(await regions()).toEqual([['web', 4], ['db', 1]]);
    expect((await bearmon('apply', path)).stdout).toMatch(/^applied: 0 to create, 2 to update, 0 to delete$/m);
    expect(await rows('SELECT type FROM alerts')).toEqual([{ type: 'partial' }]);

    const before = { ...(await everything()), regions: await regions() };
    for (const value of ['0', '17', 'two', '-1']) {
      const message = new RegExp(`^bearmon: regions: expected (an integer|at least 1|at most 16) \\(value "${value}"\\)$`);
      for (const args of [
        ['check', 'add', '--name', 'x', '--type', 'tcp', '--data', '{"address":"127.0.0.1:1"}', `--regions=${value}`],
        ['check', 'edit', 'web', `--regions=${value}`],
      ]) {
        const result = await bearmon(...args);
        expect({ args, code: result.code, stdout: result.stdout }).toEqual({ args, code: 2, stdout: '' });
        expect(result.stderr.trim(), args.join(' ')).toMatch(message);
      }
      const yaml = await bearmon('apply', await file('bad-regions.yaml', `checks:\n  - name: web\n    type: tcp\n    data: { address: "127.0.0.1:80" }\n    regions: ${value}\n`));
      expect({ value, code: yaml.code, stdout: yaml.stdout }).toEqual({ value, code: 2, stdout: '' });
      expect(yaml.stderr).toMatch(new RegExp(`bad-regions\\.yaml:5: check "web": regions: expected (an integer|at least 1|at most 16) \\(value "?${value}"?\\)`));
    }
    expect({ ...(await everything()), regions: await regions() }).toEqual(before);
  }, 120_000);
});

describe("the README's quick start", () => {
  it('its YAML file is what apply reads: three objects to create, then nothing', async () => {
    const readme = await (await import('node:fs/promises')).readFile(new URL('../../README.md', import.meta.url), 'utf8');
    const yaml = /```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(yaml).toBeDefined();
    const { bearmon } = await managedDatabase();
    const path = await file('quick-start.yaml', yaml!);
    expect((await bearmon('apply', '--dry-run', path)).stdout).toMatch(/^plan: 3 to create, 0 to update, 0 to delete$/m);
    expect((await bearmon('apply', path)).stdout).toMatch(/^applied: 3 to create, 0 to update, 0 to delete$/m);
    expect((await bearmon('apply', path)).stdout).toMatch(/nothing to do/);
  }, 60_000);
});
