/**
 * Loopback targets for the check benchmark, run in a child process (forked by bench/checks.ts)
 * so serving load does not compete with the client on the event loop being measured.
 * Reports its ports over IPC and exits when the parent disconnects.
 */
import { once } from 'node:events';
import http from 'node:http';
import net from 'node:net';

async function listen(server: net.Server): Promise<number> {
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 });
  await once(server, 'listening');
  return (server.address() as net.AddressInfo).port;
}

const httpServer = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 3 });
  res.end('ok\n');
});
httpServer.on('clientError', (_err, socket) => socket.destroy());

const tcpServer = net.createServer((socket) => {
  socket.on('error', () => {});
  socket.end();
});

const ports = { http: await listen(httpServer), tcp: await listen(tcpServer) };
process.send?.({ ready: ports });
process.on('disconnect', () => process.exit(0));
