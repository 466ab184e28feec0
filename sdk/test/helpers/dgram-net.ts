/**
 * Real DatagramServers and raw UDP peers on loopback for the transport tests: an echo
 * server, sockets that send handshake packets by hand and collect every answer, and a
 * client handshake driven step by step (to hold a server's handshake slot open).
 */
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ExecutionContext } from 'ava';
import type { PublicKey } from '@secsess/keys';
import { DatagramServer } from '../../src/index.js';
import type { DatagramServerOptions, DatagramSession } from '../../src/index.js';
import { DatagramClientHandshake } from '../../src/protocol/datagram/client-handshake.js';
import type { ClientStep } from '../../src/protocol/datagram/client-handshake.js';
import { fixtureKeys } from './keys.js';

export type Host = '127.0.0.1' | '::1';

export const serverKeys = fixtureKeys('server-2048');
export const otherKeys = fixtureKeys('other-2048');
export const clientKeys = fixtureKeys('client-2048');

/** A started DatagramServer echoing every message; stopped at the end of the test. */
export async function echoServer(
  t: ExecutionContext,
  host: Host = '127.0.0.1',
  options: DatagramServerOptions = {},
  keys = [serverKeys.privateKey],
): Promise<{ server: DatagramServer; endpoint: string; sessions: DatagramSession[] }> {
  const server = DatagramServer.create(`${host === '::1' ? '[::1]' : host}:0`, keys, undefined, {
    workers: 1,
    ...options,
  });
  const sessions: DatagramSession[] = [];
  server.on('session', (session) => {
    sessions.push(session);
    session.on('message', (m) => {
      if (session.state === 'open') session.send(m);
    });
  });
  server.on('handshakeError', () => {});
  await server.start();
  t.teardown(() => server.stop());
  const port = server.address!.port;
  return { server, endpoint: host === '::1' ? `[::1]:${port}` : `${host}:${port}`, sessions };
}

/** The next message a session receives. */
export async function nextMessage(session: DatagramSession): Promise<Buffer> {
  const [m] = (await once(session, 'message')) as [Buffer];
  return m;
}

/** A raw UDP socket that keeps every packet it receives. */
export interface RawPeer {
  readonly socket: Socket;
  readonly port: number;
  readonly received: Buffer[];
  /** Sends `packet` to the server. */
  send(packet: Buffer): Promise<void>;
  /** Waits for the `n`-th packet received (1-based), at most ~5 s; null if none came. */
  answer(n?: number): Promise<Buffer | null>;
  close(): void;
}

export async function rawPeer(
  t: ExecutionContext,
  to: { host: string; port: number },
  bindAddress?: string,
): Promise<RawPeer> {
  const ipv6 = to.host.includes(':');
  const socket = createSocket(ipv6 ? 'udp6' : 'udp4');
  const received: Buffer[] = [];
  socket.on('message', (m: Buffer, _r: RemoteInfo) => received.push(m));
  await new Promise<void>((resolve) => socket.bind(0, bindAddress ?? (ipv6 ? '::1' : '127.0.0.1'), resolve));
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    socket.close();
  };
  t.teardown(close);
  return {
    socket,
    port: socket.address().port,
    received,
    send: (packet) =>
      new Promise<void>((resolve, reject) =>
        socket.send(packet, to.port, to.host, (err) => (err ? reject(err) : resolve())),
      ),
    answer: async (n = 1) => {
      for (let i = 0; i < 500 && received.length < n; i++) await sleep(10);
      return received[n - 1] ?? null;
    },
    close,
  };
}

/**
 * A client handshake driven by hand from `peer`: answers Cookies, stops at the ServerHello
 * (returns the 'open' step without sending the ClientFinished) or at the server's refusal
 * (throws its error). The server then holds a handshake slot until its handshake timeout.
 */
export async function handshakeUntilServerHello(
  peer: RawPeer,
  serverKey: PublicKey = serverKeys.publicKey,
): Promise<ClientStep> {
  const hs = new DatagramClientHandshake({ serverKey });
  let seen = peer.received.length;
  await peer.send(hs.start(performance.now()));
  for (let round = 0; round < 8; round++) {
    const packet = await peer.answer(seen + 1);
    if (!packet) throw new Error('no answer from the server');
    seen++;
    const step = hs.receive(packet, performance.now());
    if (step.kind === 'send') await peer.send(step.packet);
    else if (step.kind === 'open') return step;
  }
  throw new Error('the handshake did not reach a ServerHello');
}
