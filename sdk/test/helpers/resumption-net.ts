/**
 * Resumption over real sockets (README "Resumption"): servers with ticket keys on
 * 127.0.0.1 port 0, and a counting TCP relay in front of a server, so that a test can show
 * a refused ticket and its full handshake used one connection.
 */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { Server } from '../../src/index.js';
import type { ServerOptions, Session } from '../../src/index.js';
import { fixtureKeys } from './keys.js';
import { echo } from './net.js';

export const keys = fixtureKeys();
export const clientKeys = fixtureKeys('client-2048');

/** A server holding the fixture key and `options` (echoing), started on 127.0.0.1:0. */
export async function ticketServer(
  options: ServerOptions,
): Promise<{ server: Server; port: number; sessions: Session[] }> {
  const server = Server.create('127.0.0.1:0', keys.privateKey, undefined, { workers: 0, ...options });
  const sessions: Session[] = [];
  server.on('session', (session) => {
    sessions.push(session);
    void echo(session);
  });
  await server.start();
  return { server, port: server.address!.port, sessions };
}

/** A relay to 127.0.0.1:`port` that counts the connections it carries. */
export async function countingRelay(port: number): Promise<{
  readonly port: number;
  connections(): number;
  close(): Promise<void>;
}> {
  let count = 0;
  const sockets = new Set<Socket>();
  const relay = createServer((inbound) => {
    count++;
    const outbound = connect(port, '127.0.0.1');
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        sockets.delete(s);
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound);
    outbound.pipe(inbound);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  return {
    port: (relay.address() as { port: number }).port,
    connections: () => count,
    close: async () => {
      for (const s of sockets) s.destroy();
      relay.close();
      await once(relay, 'close');
    },
  };
}

/** Writes `text`, reads the echo: the session carries messages. */
export async function roundTrip(session: Session, text: string): Promise<string> {
  await session.write(text);
  return String(await session.read());
}
