import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBearmon as bearmon, startBearmon } from '../helpers/bearmon.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';

/**
 * `bearmon worker` whose `[worker] id` is not the id its NATS user was made for: the
 * repository's nats.conf lets user w2 publish only under w2, so worker w1 logged in as w2
 * could never announce itself or publish a result. It must stop at once, exit 78, and say
 * which worker id and which NATS user — not log permission errors forever.
 */
let nats: NatsServerHandle;
beforeAll(async () => {
  nats = await startNatsServer();
});
afterAll(async () => {
  await nats?.stop();
});

describe('bearmon worker under another worker\'s NATS user', () => {
  it('exits 78 naming the worker id and the NATS user, and never reports itself started', async () => {
    // runBearmon waits for the process to end by itself: a worker that ran on would time the test out.
    const { code, stdout, stderr } = await bearmon(['worker'], { BEARMON_WORKER_ID: 'w1', BEARMON_NATS_URL: nats.urlFor('w2') });
    expect(code).toBe(78);
    expect(stdout).toBe('');
    const last = stderr.trimEnd().split('\n').at(-1)!;
    expect(last).toMatch(/^ {2}\[worker\] id = "w1": nats-server does not let NATS user "w2" (subscribe to "bearmon\.run\.w1\.\*"|publish to "bearmon\.worker\.w1"), so this worker can neither announce itself nor publish its results \(bearmon\.result\.w1\.\*\)/);
    expect(stderr).toContain('bearmon: invalid configuration:\n');
    expect(stderr).not.toContain('"msg":"worker started"');
  });

  it('the same worker id under its own user starts (the check above does not refuse every worker)', async () => {
    const worker = startBearmon(['worker'], { BEARMON_WORKER_ID: 'w1', BEARMON_NATS_URL: nats.urlFor('w1') });
    // Waits for the line itself (or the process's end), however long start-up takes on a busy machine.
    const outcome = await new Promise<string>((resolve) => {
      createInterface({ input: worker.child.stderr! }).on('line', (line) => line.includes('"msg":"worker started"') && resolve('started'));
      worker.child.once('exit', (code) => resolve(`exited ${code}`));
    });
    expect(outcome).toBe('started');
    expect(worker.logs.filter((l) => l.level === 'fatal')).toEqual([]);
  });
});
