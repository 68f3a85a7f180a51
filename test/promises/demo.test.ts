import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { isUp } from '../../src/demo/targets.ts';
import { spawnBearmon } from '../helpers/bearmon-lines.ts';
import { testServerOptions } from '../helpers/mysql.ts';

/**
 * README (Quick start): "`npm start` runs the local cluster ... an HTTP server whose
 * `/flapping` page is down for 30 s of every 70 s ... within two minutes "demo flapping
 * web" goes offline and comes back", each transition "followed by a `notify … delivered`
 * event and a `demo webhook received: …` line".
 *
 * `bin/bearmon start` (what `npm start` runs, default interval 5 s) on its own nats-server
 * and its own database `bearmon_demo` on the local MariaDB (the demo drops and recreates
 * it): a MySQL lock keeps two demo tests apart. Its state goes to a temporary folder.
 */

let stateHome: string;
beforeAll(async () => {
  stateHome = await mkdtemp(join(tmpdir(), 'bearmon-demo-state-'));
});
afterAll(async () => {
  if (stateHome) await rm(stateHome, { recursive: true, force: true });
});

const TWO_MINUTES = 120_000;

describe('README: the demo', () => {
  it('the flapping page is down for 30 s of every 70 s (40 s up, then 30 s down)', () => {
    const schedule = { upMs: 40_000, downMs: 30_000 };
    const up = (s: number) => isUp(schedule, 0, s * 1000);
    expect([0, 39.999, 40, 69.999, 70, 109.999, 110].map(up)).toEqual([true, true, false, false, true, true, false]);
  });

  it('`bearmon start`: within two minutes "demo flapping web" goes offline and comes back, each change notified through the demo webhook', async () => {
    const lock = await mysql.createConnection({ ...testServerOptions(), database: undefined });
    onTestFinished(() => lock.end());
    const [[got]] = await lock.query<mysql.RowDataPacket[]>("SELECT GET_LOCK('bearmon_demo_test', 300) AS ok");
    expect(got!.ok, 'another run of this test held the demo database for 5 minutes').toBe(1);
    onTestFinished(async () => void (await lock.query("SELECT RELEASE_LOCK('bearmon_demo_test')")));

    const started = Date.now();
    const demo = spawnBearmon(['start'], { XDG_STATE_HOME: stateHome }, { group: true });
    const flapping = (line: string) => /^demo webhook received: check \d+ \(demo flapping web\) is (offline|online)/.exec(line);
    const webhooks = () => demo.lines.map(flapping).filter((m) => m !== null).map((m) => m![1]);

    try {
      await expect.poll(webhooks, { timeout: TWO_MINUTES - (Date.now() - started), interval: 500 }).toEqual(['offline', 'online']);
    } catch (err) {
      const output = [...demo.lines.slice(-30), ...demo.stderr.slice(-10)].join('\n');
      throw new Error(`"demo flapping web" did not go offline and come back within two minutes (${(err as Error).message}); last output:\n${output}`);
    }
    const checkId = /check (\d+)/.exec(demo.lines.find((l) => flapping(l))!)![1];

    // Each transition is followed (before the next one) by its delivered notification and the webhook line.
    const events = () =>
      demo.lines
        .map((l) => {
          // Event lines name the check beside its id.
          if (new RegExp(`^\\S+  TRANSITION +check ${checkId} \\(demo flapping web\\) +- +(online->offline|offline->online) after \\d+ round\\(s\\)$`).test(l)) return `transition ${/(\w+->\w+)/.exec(l)![1]}`;
          if (new RegExp(`^\\S+  notify +check ${checkId} \\(demo flapping web\\) +\\d+ +delivered `).test(l)) return 'notify delivered';
          const hook = flapping(l);
          return hook ? `webhook ${hook[1]}` : undefined;
        })
        .filter((e) => e !== undefined);
    await expect.poll(() => events().length, { timeout: 20_000 }).toBeGreaterThanOrEqual(6);
    // The transition line comes off the bus and the webhook line from the demo target: either
    // may print first, so the order is checked within each kind, and across them only causally.
    const seq = events();
    const at = (event: string) => seq.indexOf(event);
    expect(seq.filter((e) => e.startsWith('transition')).slice(0, 2)).toEqual(['transition online->offline', 'transition offline->online']);
    expect(seq.filter((e) => e.startsWith('webhook')).slice(0, 2)).toEqual(['webhook offline', 'webhook online']);
    expect(seq.filter((e) => e === 'notify delivered').length).toBeGreaterThanOrEqual(2);
    // Told of the outage before the recovery happened, and of the recovery after the outage was over.
    expect(at('webhook offline')).toBeLessThan(at('transition offline->online'));
    expect(at('webhook online')).toBeGreaterThan(at('transition online->offline'));

    // Ctrl-C stops every process.
    expect(await demo.stop('SIGINT')).toEqual({ code: 0, signal: null });
    expect(demo.lines.at(-1)).toBe('bearmon local cluster stopped');
  }, 7 * 60_000);
});
