/**
 * Detection of a target that hangs (issue 12, "Benchmark"): a viewserver and three real
 * worker processes (`bin/bearmon`, own nats.conf users) watch one http check (timeout 3 s,
 * interval 2 s, delay 1, confirmations 3) of a loopback HTTP server in this process. Each
 * trial the server starts hanging (it accepts and never answers) at a random moment; timed
 * from that moment to the offline transition seen on bearmon.transition.> from an admin
 * connection. Then the server answers again and the check must come back online before the
 * next trial.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { connect } from '@nats-io/transport-node';
import { setupBus } from '../src/bus/setup.ts';
import { createBenchDatabase } from './database.ts';
import { startBenchNats } from './nats.ts';
import type { BenchReport } from './report.ts';
import { distributionFigures, sleep, within } from './stats.ts';

const BIN = fileURLToPath(new URL('../bin/bearmon', import.meta.url));
const WORKERS = ['w1', 'w2', 'w3'];
const TRIALS = 8;
const TARGET_S = 10;

export async function benchHanging(trials = TRIALS): Promise<BenchReport> {
  let hanging = false;
  const held: Socket[] = [];
  const target = http.createServer((req, res) => {
    if (hanging) return void held.push(req.socket);
    res.writeHead(200, { 'content-length': 3 }).end('ok\n');
  });
  target.listen(0, '127.0.0.1');
  await once(target, 'listening');
  const port = (target.address() as AddressInfo).port;

  const nats = await startBenchNats();
  const db = await createBenchDatabase();
  const children: ChildProcess[] = [];
  const admin = nats.login();
  const nc = await connect({ servers: admin.servers, user: admin.user, pass: admin.pass, name: 'bearmon-bench-hanging' });
  try {
    await setupBus(nc, { stream: 'BEARMON', retentionMs: 86_400_000, maxBytes: 1024 ** 3 });
    await db.replaceChecks([{ name: 'hangs', type: 'http', data: JSON.stringify({ url: `http://127.0.0.1:${port}/`, timeout: 3 }), interval: 2, delay: 1 }]);
    const env = (user: string) => {
      const login = nats.login(user);
      return {
        PATH: process.env.PATH!,
        BEARMON_NATS_URL: `nats://${login.servers}`,
        BEARMON_NATS_USER: login.user,
        BEARMON_NATS_PASSWORD: login.pass,
        BEARMON_NATS_STREAM: 'BEARMON',
        BEARMON_CONTROLLER_DATABASE: db.dsn,
        BEARMON_CONTROLLER_CONFIRMATIONS: '3',
        // Logs go to stderr, which the bench shares: only with BENCH_DEBUG beyond fatal ones.
        BEARMON_DEFAULT_LOGLEVEL: process.env.BENCH_DEBUG ? 'info' : 'fatal',
      };
    };
    const stdio = ['ignore', process.env.BENCH_DEBUG ? 2 : 'ignore', 'inherit'] as const;
    children.push(spawn(BIN, ['viewserver'], { env: env('viewserver'), stdio: [...stdio] }));
    for (const id of WORKERS) children.push(spawn(BIN, ['worker'], { env: { ...env(id), BEARMON_WORKER_ID: id }, stdio: [...stdio] }));

    let status = 'unknown';
    let results = 0;
    let onChange: (() => void) | undefined;
    nc.subscribe('bearmon.transition.>', {
      callback: (_e, m) => {
        status = m.json<{ to: string }>().to;
        onChange?.();
      },
    });
    nc.subscribe('bearmon.result.*.*', { callback: () => (results++, onChange?.()) });
    await nc.flush();
    const until = (predicate: () => boolean, ms: number, what: string) =>
      within(
        new Promise<void>((resolve) => {
          onChange = () => predicate() && resolve();
          onChange();
        }),
        ms,
        what,
      ).finally(() => (onChange = undefined));

    // A fresh check starts online: wait for the cluster to be running it.
    await until(() => results >= 3, 60_000, 'the first results');
    const detectionS: number[] = [];
    for (let trial = 0; trial < trials; trial++) {
      await sleep(Math.random() * 2_000); // any phase of the 2 s interval
      hanging = true;
      const began = performance.now();
      await until(() => status === 'offline', 60_000, `offline in trial ${trial + 1}`);
      detectionS.push((performance.now() - began) / 1000);
      hanging = false;
      for (const socket of held.splice(0)) socket.destroy();
      await until(() => status === 'online', 60_000, `online again in trial ${trial + 1}`);
    }
    const figures = distributionFigures('detection', detectionS, 's', { percentiles: [50] });
    const max = figures.at(-1)!;
    Object.assign(max, { target: `≤ ${TARGET_S}`, pass: max.value <= TARGET_S });
    return {
      name: 'hanging target: start of the hang → offline transition',
      method: `viewserver + 3 worker processes; one http check (timeout 3 s, interval 2 s, delay 1, confirmations 3) of a loopback server that stops answering at a random phase of the interval; ${trials} trials`,
      figures,
    };
  } finally {
    for (const child of children) child.kill('SIGTERM');
    await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? once(c, 'exit') : undefined)));
    await nc.close().catch(() => {});
    await db.drop().catch(() => {});
    await nats.stop().catch(() => {});
    for (const socket of held) socket.destroy();
    target.closeAllConnections();
    target.close();
  }
}
