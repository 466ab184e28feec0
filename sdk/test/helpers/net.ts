/** Shared pieces of the network tests: servers on 127.0.0.1 port 0, raw sockets, bounded waits. */
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Server } from '../../src/index.js';
import type { ClientOptions, ServerOptions, Session } from '../../src/index.js';
import { fixtureKeys } from './keys.js';
import type { TestKeys } from './keys.js';

export interface TestServer {
  readonly server: Server;
  readonly keys: TestKeys;
  readonly port: number;
  readonly endpoint: string;
  /** A client for this server (fixture key, default set). */
  client(options?: ClientOptions): Client;
}

/** Starts a server on 127.0.0.1:0 with the fixture key (no worker pool unless asked). */
export async function startServer(
  options: ServerOptions = {},
  keys: TestKeys = fixtureKeys(),
): Promise<TestServer> {
  const server = Server.create('127.0.0.1:0', keys.privateKey, undefined, { workers: 0, ...options });
  await server.start();
  const port = server.address!.port;
  return {
    server,
    keys,
    port,
    endpoint: `127.0.0.1:${port}`,
    client: (clientOptions?: ClientOptions) => Client.create(keys.publicKey, {}, clientOptions),
  };
}

/** Echoes every message of every session (the ping-pong server), through the 'session' event. */
export function echoSessions(server: Server): void {
  server.on('session', (session) => void echo(session));
}

/**
 * Echoes one session's messages until the peer is done sending (its End or close), then
 * closes it (a half-closed session would linger otherwise); swallows the end's error.
 */
export async function echo(session: Session): Promise<void> {
  try {
    for await (const message of session) await session.write(message);
    await session.close();
  } catch {
    // The test looks at the other side.
  }
}

/** Polls `predicate` every 10 ms, at most `tries` times; throws if it never holds. */
export async function waitUntil(predicate: () => boolean, what: string, tries = 1000): Promise<void> {
  for (let i = 0; i < tries; i++) {
    if (predicate()) return;
    await sleep(10);
  }
  throw new Error(`gave up waiting until ${what}`);
}

/** A plain TCP connection (no secsess), for peers that misbehave. */
export async function rawConnect(port: number): Promise<Socket> {
  const socket = connect({ host: '127.0.0.1', port });
  await once(socket, 'connect');
  return socket;
}

/** Whether this machine can listen on ::1. */
export async function ipv6Available(): Promise<boolean> {
  const probe = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(0, '::1', () => resolve());
    });
    return true;
  } catch {
    return false;
  } finally {
    probe.close();
  }
}

/** Random bytes with a recognisable index in the first 4 bytes (when long enough). */
export function numbered(index: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + index * 7) & 0xff;
  if (size >= 4) b.writeUInt32BE(index, 0);
  return b;
}
