/**
 * Pairs of datagram sessions over real node:dgram sockets on loopback, keyed by
 * `datagramContexts(secret, role)` (no handshake: that is the transports' job), with an
 * optional in-test relay between them that may drop, duplicate, hold back (reorder) and
 * replay packets. The sessions are the real ones; only the owner's part (routing Record
 * packets by socket) is played here.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { once } from 'node:events';
import { datagramContexts } from '../../src/protocol/datagram/contexts.js';
import type {
  DatagramContextOptions,
  DatagramInbound,
  DatagramOutbound,
} from '../../src/protocol/datagram/contexts.js';
import { createDatagramSession } from '../../src/datagram/datagram-session.js';
import type { DatagramSession } from '../../src/datagram/datagram-session.js';
import type { DatagramSessionInit } from '../../src/datagram/session-types.js';
import { contextOptions, resolveDatagramSessionOptions } from '../../src/datagram/session-options.js';
import type { DatagramSessionOptions } from '../../src/datagram/session-options.js';

export type Host = '127.0.0.1' | '::1';
export type Role = 'client' | 'server';

/** One side: its socket (replaceable: a client "moving"), contexts, session, and what it sent. */
export interface Side {
  readonly role: Role;
  socket: Socket;
  readonly outbound: DatagramOutbound;
  readonly inbound: DatagramInbound;
  session: DatagramSession;
  /** Every packet the session handed to `transmit`, in order. */
  readonly transmitted: Buffer[];
  /** While true, `done()` callbacks are kept (the socket "is still sending"). */
  hold: boolean;
  readonly held: (() => void)[];
  /** Times onEnd was called. */
  ended: number;
  /** Events seen. */
  readonly closes: [number, string][];
  readonly errors: Error[];
}

/** What the relay does with one packet: the packets to forward now (none: dropped). */
export type RelayRule = (packet: Buffer, direction: 'c2s' | 's2c', index: number) => Buffer[];

export interface PairOptions {
  readonly host?: Host;
  readonly secret?: Buffer;
  /** Options of both sessions (and their contexts), then each side's own. */
  readonly options?: DatagramSessionOptions;
  readonly client?: DatagramSessionOptions;
  readonly server?: DatagramSessionOptions;
  /** Context options beyond the session options (e.g. a suite). */
  readonly context?: DatagramContextOptions;
  /** Put a relay between the sides, applying this rule to every packet. */
  readonly relay?: RelayRule;
  /** Extra init fields per side (resend, handshakeDone). */
  readonly clientInit?: (sides: {
    outbound: DatagramOutbound;
    inbound: DatagramInbound;
  }) => Partial<DatagramSessionInit>;
  readonly serverInit?: (sides: {
    outbound: DatagramOutbound;
    inbound: DatagramInbound;
  }) => Partial<DatagramSessionInit>;
}

export interface Pair {
  readonly client: Side;
  readonly server: Side;
  /** The relay's own socket address, when there is one. */
  readonly relay: Relay | null;
  /** Sends raw bytes to a side's socket from a fresh socket (or `from`). */
  inject(to: Side, packet: Buffer, from?: Socket): Promise<void>;
  /** Gives the client a new socket (a new port): its later packets come from there. */
  moveClient(): Promise<Socket>;
  close(): Promise<void>;
}

export interface Relay {
  readonly socket: Socket;
  /** Every packet the relay received, per direction, in order. */
  readonly seen: { c2s: Buffer[]; s2c: Buffer[] };
  /** Forwards `packet` now in `direction` (a replay, a held packet). */
  forward(packet: Buffer, direction: 'c2s' | 's2c'): void;
}

const family = (host: Host): 'IPv4' | 'IPv6' => (host === '::1' ? 'IPv6' : 'IPv4');

export async function bind(host: Host): Promise<Socket> {
  const socket = createSocket(host === '::1' ? 'udp6' : 'udp4');
  socket.bind(0, host);
  await once(socket, 'listening');
  return socket;
}

function sendTo(socket: Socket, packet: Buffer, port: number, host: string, done?: () => void): void {
  socket.send(packet, port, host, () => done?.());
}

/** Two sessions on `host`, client and server, sockets bound to port 0. */
export async function sessionPair(o: PairOptions = {}): Promise<Pair> {
  const host = o.host ?? '127.0.0.1';
  const secret = o.secret ?? randomBytes(32);
  const cSocket = await bind(host);
  const sSocket = await bind(host);
  const relaySocket = o.relay ? await bind(host) : null;
  const port = (s: Socket): number => s.address().port;
  // Where each side sends: the relay if any, else the other side.
  const clientTarget = relaySocket ? port(relaySocket) : port(sSocket);
  const serverTarget = relaySocket ? port(relaySocket) : port(cSocket);

  const makeSide = (role: Role, socket: Socket, target: number): Side => {
    const options = resolveDatagramSessionOptions({
      ...o.options,
      ...(role === 'client' ? o.client : o.server),
    });
    const { outbound, inbound } = datagramContexts(secret, role, {
      ...contextOptions(options),
      ...o.context,
    });
    const side: Side = {
      role,
      socket,
      outbound,
      inbound,
      session: null as unknown as DatagramSession,
      transmitted: [],
      hold: false,
      held: [],
      ended: 0,
      closes: [],
      errors: [],
    };
    const extra = (role === 'client' ? o.clientInit : o.serverInit)?.({ outbound, inbound }) ?? {};
    side.session = createDatagramSession({
      role,
      outbound,
      inbound,
      remote: { address: host, port: target, family: family(host) },
      transmit(packet, remote, done) {
        side.transmitted.push(packet);
        sendTo(side.socket, packet, remote.port, remote.address, () => {
          if (side.hold) side.held.push(done);
          else done();
        });
      },
      options,
      info: { suite: outbound.suite, serverKey: null, clientKey: null },
      onEnd: () => {
        side.ended++;
      },
      ...extra,
    });
    side.session.on('close', (code, reason) => side.closes.push([code, reason]));
    return side;
  };
  const client = makeSide('client', cSocket, clientTarget);
  const server = makeSide('server', sSocket, serverTarget);
  const route = (side: Side) => (msg: Buffer, rinfo: RemoteInfo) => side.session.receive(msg, rinfo);
  cSocket.on('message', route(client));
  sSocket.on('message', route(server));

  let relay: Relay | null = null;
  if (relaySocket) {
    const seen = { c2s: [] as Buffer[], s2c: [] as Buffer[] };
    let clientPort = port(cSocket);
    const forward = (packet: Buffer, direction: 'c2s' | 's2c'): void =>
      sendTo(relaySocket, packet, direction === 'c2s' ? port(sSocket) : clientPort, host);
    relaySocket.on('message', (msg, rinfo) => {
      const direction = rinfo.port === port(sSocket) ? 's2c' : 'c2s';
      if (direction === 'c2s') clientPort = rinfo.port;
      const index = seen[direction].push(msg) - 1;
      for (const p of o.relay!(msg, direction, index)) forward(p, direction);
    });
    relay = { socket: relaySocket, seen, forward };
  }

  const sockets = [cSocket, sSocket, ...(relaySocket ? [relaySocket] : [])];
  return {
    client,
    server,
    relay,
    async inject(to, packet, from) {
      const socket = from ?? (await bind(host));
      if (!from) sockets.push(socket);
      await new Promise<void>((resolve) => sendTo(socket, packet, port(to.socket), host, resolve));
    },
    async moveClient() {
      const socket = await bind(host);
      sockets.push(socket);
      socket.on('message', route(client));
      client.socket = socket;
      return socket;
    },
    async close() {
      client.session.destroy();
      server.session.destroy();
      const closing = (s: Socket): Promise<void> =>
        new Promise<void>((resolve) => {
          try {
            s.close(() => resolve());
          } catch {
            resolve(); // closed already (a test closed it)
          }
        });
      await Promise.all(sockets.map(closing));
    },
  };
}

/** Reads `n` messages from a session's async iterator. */
export async function take(session: DatagramSession, n: number): Promise<Buffer[]> {
  const out: Buffer[] = [];
  if (n === 0) return out;
  for await (const m of session) {
    out.push(m);
    if (out.length === n) break;
  }
  return out;
}
