import { connect } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { openViewBucket, runViewserverProcess } from '../../src/actors/viewserver.ts';
import { natsOptions } from '../../src/bus/connect.ts';
import { subject } from '../../src/bus/subjects.ts';
import { loadConfig } from '../../src/config/load.ts';
import { timeoutFor } from '../helpers/bounds.ts';
import { captureLogs } from '../helpers/logs.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { startSmtpServer } from '../helpers/smtp-server.ts';

let nats: NatsServerHandle;

beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('viewserver admin notice', () => {
  it('mails the admin once when no controller candidate answers, however many heartbeat rounds go by', async () => {
    const PERIOD_MS = 100;
    const TIMEOUT_MS = 100;
    const smtp = await startSmtpServer();
    const logs = captureLogs();
    // What only admin may do (`bearmon setup`): the view's bucket. The viewserver runs under its own role.
    const admin = await connect(natsOptions([nats.url]));
    onTestFinished(() => admin.close());
    await openViewBucket(admin);
    // The candidate's pings, seen here and never answered (each one times out). Rounds never
    // overlap, so a ping means the previous round, its decision and any notice are done.
    let pings = 0;
    const sub = admin.subscribe(subject.ping('nobody-answers'), { callback: () => void pings++ });
    onTestFinished(() => sub.unsubscribe());
    await admin.flush();
    const { config } = loadConfig({
      text: [
        '[nats]',
        `url = ${nats.urlFor('viewserver')}`,
        '[viewserver]',
        'controller = nobody-answers',
        `heartbeatPeriod = ${PERIOD_MS}`,
        `heartbeatTimeout = ${TIMEOUT_MS}`,
        '[smtp]',
        'host = 127.0.0.1',
        `port = ${smtp.port}`,
        'from = monitor@example.net',
        'admin = ops-admin@example.com',
      ].join('\n'),
    });
    const shutdown = new AbortController();
    const running = runViewserverProcess(config, logs.log, shutdown.signal);
    onTestFinished(() => shutdown.abort());

    // The first round starts at once; its ping times out, no candidate is left: the notice is mailed.
    await expect.poll(() => smtp.mails.length, { timeout: timeoutFor(TIMEOUT_MS) }).toBe(1);
    // The control: three more rounds begin, so at least two whole rounds decided again with
    // still no candidate alive — each would have logged (and mailed) a notice of its own.
    const seen = pings;
    await expect.poll(() => pings, { timeout: timeoutFor(3 * (PERIOD_MS + TIMEOUT_MS)) }).toBeGreaterThanOrEqual(seen + 3);
    // Every notice is logged when it is decided, mailed or held: reported once per loss, not once per round.
    expect(logs.matching(/^admin notice: no controller/)).toEqual([
      expect.objectContaining({ level: 'warn', role: 'viewserver', notice: { kind: 'no-controller', previous: null }, mail: 'sending' }),
    ]);
    shutdown.abort();
    await running; // waits for every mail in flight

    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0]!;
    expect(mail.envelopeTo).toEqual(['ops-admin@example.com']);
    expect(mail.headers.subject).toBe('[bearmon] no controller: no candidate alive');
    expect(mail.text).toContain('Previous controller: -');
  });
});
