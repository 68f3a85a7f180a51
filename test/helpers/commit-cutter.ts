import net from 'node:net';
import { onTestFinished } from 'vitest';

/**
 * A loopback proxy to MySQL that, once armed, lets the next COMMIT reach the server and then
 * cuts that connection before the server's answer gets back: a transaction that committed
 * while its client saw only "connection lost" — the real thing, where a test would
 * otherwise throw an error in process. Every other connection and packet is forwarded.
 */
export interface CommitCutter {
  host: string;
  port: number;
  /** Cut the connection that sends the next COMMIT, after the server has it. */
  arm(): void;
  /** COMMITs cut so far. */
  cuts(): number;
}

// A COM_QUERY packet (command byte 0x03) whose text is COMMIT.
const COMMIT = Buffer.from([0x03, ...Buffer.from('COMMIT')]);

export async function startCommitCutter(target: { host: string; port: number }): Promise<CommitCutter> {
  const sockets = new Set<net.Socket>();
  let armed = false;
  let cuts = 0;
  const server = net.createServer((client) => {
    const upstream = net.connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    let answering = true;
    upstream.on('data', (chunk) => void (answering && client.write(chunk)));
    client.on('data', (chunk) => {
      if (!armed || chunk.indexOf(COMMIT) < 0) return void upstream.write(chunk);
      armed = false;
      cuts += 1;
      // The server gets the COMMIT; its answer never reaches the client, whose connection then drops.
      answering = false;
      upstream.write(chunk, () => setTimeout(() => (client.destroy(), upstream.destroy()), 200));
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(
    () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  );
  return { host: '127.0.0.1', port: (server.address() as net.AddressInfo).port, arm: () => void (armed = true), cuts: () => cuts };
}
