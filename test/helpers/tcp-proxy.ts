import net from 'node:net';
import { onTestFinished } from 'vitest';

export interface TcpProxy {
  host: string;
  port: number;
  /** Destroys every proxied connection; new ones are accepted and closed at once. */
  cut(): void;
  /** Forwards new connections again. */
  restore(): void;
  close(): Promise<void>;
}

/**
 * A loopback TCP proxy to `target`: lets a test take a shared server (MariaDB) "down" for
 * one client without stopping it. While cut, the listener stays bound, so the port is
 * never lost to another process and restore() needs no re-listen.
 */
export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const sockets = new Set<net.Socket>();
  let cut = false;
  const track = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
  };
  const server = net.createServer((client) => {
    track(client);
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(target.port, target.host);
    track(upstream);
    client.pipe(upstream);
    upstream.pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  const destroyAll = () => {
    for (const socket of sockets) socket.destroy();
  };
  let closed: Promise<void> | null = null;
  const close = () => {
    closed ??= new Promise<void>((resolve) => {
      cut = true;
      destroyAll();
      server.close(() => resolve());
    });
    return closed;
  };
  onTestFinished(close);
  return {
    host: '127.0.0.1',
    port,
    cut: () => {
      cut = true;
      destroyAll();
    },
    restore: () => {
      cut = false;
    },
    close,
  };
}
