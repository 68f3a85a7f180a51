import net from 'node:net';
import { onTestFinished } from 'vitest';

/** Starts a TCP server on a random loopback port; closed automatically after the test. */
export async function tcpServer(
  onConnection: (socket: net.Socket) => void,
  host = '127.0.0.1',
): Promise<{ port: number; server: net.Server; address: string }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    onConnection(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as net.AddressInfo).port;
  onTestFinished(() => closeServer(server, sockets));
  return { port, server, address: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` };
}

export function closeServer(server: net.Server, sockets: Iterable<net.Socket>): Promise<void> {
  for (const socket of sockets) socket.destroy();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A loopback port that nothing listens on (bound then released). */
export async function refusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
