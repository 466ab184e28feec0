/**
 * Shared pieces of the datagram end-to-end tests: a DatagramServer on loopback that echoes
 * every message, a DatagramClient connected to it through the hostile relay
 * (udp-proxy.ts), numbered messages and bounded waits.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DatagramClient, DatagramServer } from '../../src/index.js';
import type { DatagramClientOptions, DatagramServerOptions, DatagramSession } from '../../src/index.js';
import type { ExecutionContext } from 'ava';
import { fixtureKeys } from './keys.js';
import type { TestKeys } from './keys.js';
import { startUdpProxy } from './udp-proxy.js';
import type { Datagram, UdpProxy, UdpTamper } from './udp-proxy.js';
import { numbered, waitUntil } from './net.js';

export { numbered, waitUntil } from './net.js';

/** PacketType.Record: the first byte of every record datagram. */
export const RECORD = 0x47;
/** Exempts everything but records from a fault tamper: the handshake goes through clean. */
export const notRecord = (d: Datagram): boolean => d.data[0] !== RECORD;
/** A record packet's epoch and seq (§D4 header). */
export const epochOf = (packet: Buffer): number => packet.readUInt32BE(9);
export const seqOf = (packet: Buffer): number => packet.readUIntBE(13, 6);

export interface Rig {
  readonly server: DatagramServer;
  readonly keys: TestKeys;
  readonly proxy: UdpProxy;
  /** The client's session (through the proxy). */
  readonly client: DatagramSession;
  /** The server's session for this client. */
  readonly peer: DatagramSession;
  /** Every message the client received, in arrival order. */
  readonly received: Buffer[];
  /** Every message the server received, in arrival order. */
  readonly echoed: Buffer[];
}

export interface RigOptions {
  readonly host?: string;
  readonly tamper?: UdpTamper;
  readonly server?: DatagramServerOptions;
  readonly client?: DatagramClientOptions;
  /** Whether the server echoes (default true). */
  readonly echo?: boolean;
}

/** Starts an echoing DatagramServer on `host`:0. */
export async function startDatagramServer(
  t: ExecutionContext,
  host = '127.0.0.1',
  options: DatagramServerOptions = {},
  keys: TestKeys = fixtureKeys(),
): Promise<DatagramServer> {
  const server = DatagramServer.create({ host, port: 0 }, keys.privateKey, undefined, {
    workers: 0,
    ...options,
  });
  await server.start();
  t.teardown(() => server.stop());
  return server;
}

/**
 * A server, a proxy in front of it and a client session through the proxy, open on both
 * sides (the server's 'session' has fired, so no record of the client is dropped as early).
 */
export async function rig(t: ExecutionContext, o: RigOptions = {}): Promise<Rig> {
  const host = o.host ?? '127.0.0.1';
  const keys = fixtureKeys();
  const server = await startDatagramServer(t, host, o.server, keys);
  const echoed: Buffer[] = [];
  const peerReady = new Promise<DatagramSession>((resolve) => {
    server.once('session', (session: DatagramSession) => {
      session.on('message', (m: Buffer) => {
        echoed.push(m);
        if (o.echo !== false && session.state === 'open') session.send(m);
      });
      resolve(session);
    });
  });
  const proxy = await startUdpProxy({
    target: { address: host, port: server.address!.port },
    tamper: o.tamper,
  });
  t.teardown(() => proxy.close());
  const dc = DatagramClient.create(keys.publicKey, undefined, o.client);
  const client = await dc.connect(proxy.endpoint);
  t.teardown(() => {
    if (client.state === 'open') client.close();
  });
  const received: Buffer[] = [];
  client.on('message', (m: Buffer) => received.push(m));
  const peer = await peerReady;
  return { server, keys, proxy, client, peer, received, echoed };
}

/** Sends messages `from`..`to - 1` (numbered, `size` bytes), yielding to the loop now and then. */
export async function sendNumbered(
  session: DatagramSession,
  from: number,
  to: number,
  size = 64,
): Promise<void> {
  for (let i = from; i < to; i++) {
    if (!session.send(numbered(i, size))) throw new Error(`send ${i} was dropped (queue full)`);
    if (i % 16 === 15) await sleep(1);
  }
}

/** Waits until the proxy has moved nothing for `quietPolls` polls of 10 ms (bounded). */
export async function settle(proxy: UdpProxy, quietPolls = 15): Promise<void> {
  let last = -1;
  let quiet = 0;
  await waitUntil(() => {
    const now = proxy.captured.length + proxy.stats.forwarded;
    quiet = now === last ? quiet + 1 : 0;
    last = now;
    return quiet >= quietPolls;
  }, 'the relay to go quiet');
}

/** The indexes of numbered messages, checking each is intact (`size` bytes as numbered() made it). */
export function indexes(messages: Buffer[], size = 64): number[] {
  return messages.map((m) => {
    const i = m.readUInt32BE(0);
    if (!m.equals(numbered(i, size))) throw new Error(`message ${i} arrived changed`);
    return i;
  });
}

/** Whether a list has no repeated value. */
export const unique = (xs: number[]): boolean => new Set(xs).size === xs.length;
