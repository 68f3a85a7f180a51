import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { runViewserverProcess } from '../../src/actors/viewserver.ts';
import { loadConfig } from '../../src/config/load.ts';
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
  it('mails the admin when no controller candidate answers', async () => {
    const smtp = await startSmtpServer();
    const logs = captureLogs();
    const { config } = loadConfig({
      text: [
        '[nats]',
        `url = ${nats.url}`,
        '[viewserver]',
        'controller = nobody-answers',
        'heartbeatPeriod = 100',
        'heartbeatTimeout = 100',
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

    await expect.poll(() => smtp.mails.length).toBe(1);
    shutdown.abort();
    await running;

    const mail = smtp.mails[0]!;
    expect(mail.envelopeTo).toEqual(['ops-admin@example.com']);
    expect(mail.headers.subject).toBe('[bearmon] no controller: no candidate alive');
    expect(mail.text).toContain('Previous controller: -');
    expect(logs.matching(/^admin notice: no controller/)).toEqual([
      expect.objectContaining({ level: 'warn', role: 'viewserver', notice: { kind: 'no-controller', previous: null }, mail: 'sending' }),
    ]);
    // Reported once per loss, not once per heartbeat round.
    expect(smtp.mails).toHaveLength(1);
  });
});
