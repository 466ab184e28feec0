/**
 * What datagram sessions publish on the diagnostics channels (observe/channels.ts, README
 * "Diagnostics channels"), with `transport: 'datagram'`: a session's open (DatagramServer's
 * `'session'`, `DatagramClient.connect()` resolving, either side of a §D9 channel) and
 * close, the handshake as a tracing channel (server: from the Hello that passed admission to
 * the session or the failure — a Hello the stateless gate refuses before admission is only a
 * `'handshakeError'`; client: each `connect()` attempt, to the open session or its error), and
 * every epoch move each way (`generation` = the new epoch, §D5). Refusals and trust
 * decisions go through observe/publish.ts, as the stream transport's do.
 *
 * Every function checks `hasSubscribers` before it builds anything, so nobody listening
 * costs a property read. Payloads name endpoints, suites and fingerprints, never keys.
 */
import type { PublicKey } from '@secsess/keys';
import type { Suite } from '../protocol/index.js';
import { formatEndpoint } from '../common/endpoint.js';
import type { Endpoint } from '../common/endpoint.js';
import {
  handshakeChannel,
  keyUpdateChannel,
  sessionCloseChannel,
  sessionOpenChannel,
} from '../observe/channels.js';
import type { HandshakeContext, Role, SessionCloseMessage, SessionOpenMessage } from '../observe/channels.js';
import { fingerprintOf, hostPort, suiteName } from '../observe/publish.js';
import { publishKeyUpdate } from '../observe/stream-session.js';
import type { SessionError } from '../protocol/index.js';
import type { DatagramSessionCounters } from './session-types.js';

/** What the messages read of a session (a DatagramSession; an interface to keep imports one way). */
export interface ObservedSession {
  readonly suite: Suite;
  readonly serverKey: PublicKey | null;
  readonly clientKey: PublicKey | null;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly counters: DatagramSessionCounters;
}

/** An address and port as `address:port`, IPv6 in brackets. */
export function addressLabel(remote: Address): string {
  return hostPort(remote.address, remote.port);
}

/** An address and port, as a socket's `address()` or a packet's source gives them. */
export interface Address {
  readonly address: string;
  readonly port: number;
}

/**
 * Where the local address comes from, read only for a payload: a label function, or the
 * socket itself (its `address()`), so that nobody listening costs no closure and no string.
 */
export type LocalAddress = (() => string) | { address(): Address };

function localLabel(local: LocalAddress): string {
  return typeof local === 'function' ? local() : addressLabel(local.address());
}

/** A bound socket's address as a label; `''` when there is none (the server has stopped). */
export function endpointLabel(endpoint: Endpoint | null): string {
  return endpoint ? formatEndpoint(endpoint) : '';
}

/**
 * `secsess:session:open` for a session established now; `local` is only called if somebody
 * listens. The server side of a §D9 channel opens before its client's port is known: its
 * `remote` then ends in `:0`.
 */
export function publishOpen(session: ObservedSession, role: Role, local: LocalAddress): void {
  if (!sessionOpenChannel.hasSubscribers) return;
  const message: SessionOpenMessage = {
    session,
    role,
    transport: 'datagram',
    local: localLabel(local),
    remote: addressLabel({ address: session.remoteAddress, port: session.remotePort }),
    suite: suiteName(session.suite),
    serverKey: fingerprintOf(session.serverKey),
    clientKey: fingerprintOf(session.clientKey),
    resumed: false,
  };
  sessionOpenChannel.publish(message);
}

/**
 * `secsess:session:close` for a session that was established at `openedAt`
 * (performance.now()) and ended with `code`, `reason` and `error`. Bytes are whole Record
 * packets; records are Record packets sent (retransmissions included) and records opened.
 */
export function publishClose(
  session: ObservedSession,
  role: Role,
  openedAt: number,
  end: { readonly code: number; readonly reason: string; readonly error: SessionError | null },
): void {
  if (!sessionCloseChannel.hasSubscribers) return;
  const c = session.counters;
  const message: SessionCloseMessage = {
    session,
    role,
    transport: 'datagram',
    remote: addressLabel({ address: session.remoteAddress, port: session.remotePort }),
    code: end.code,
    reason: end.reason,
    error: end.error?.code ?? null,
    durationMs: performance.now() - openedAt,
    bytesSent: c.bytesSent,
    bytesReceived: c.bytesReceived,
    recordsSent: c.recordsSent,
    recordsReceived: c.recordsReceived,
  };
  sessionCloseChannel.publish(message);
}

/**
 * `secsess:session:keyupdate`: a direction of `session` moved to epoch `epoch` (§D5).
 * Published in a microtask: the session calls this between sealing a record and sending
 * it (or opening one and delivering it), and a subscriber that sends must not get ahead.
 */
export function publishEpoch(
  session: object,
  role: Role,
  direction: 'send' | 'receive',
  epoch: number,
): void {
  if (!keyUpdateChannel.hasSubscribers) return;
  queueMicrotask(() => publishKeyUpdate(session, role, 'datagram', direction, epoch));
}

/** One handshake's trace: ended once, by its session or its error; later calls do nothing. */
export interface HandshakeTrace {
  done(session: ObservedSession): void;
  fail(error: unknown): void;
}

const ignore = (): void => {};

/**
 * Starts the trace of a handshake (`tracing:secsess:handshake:start` now, `:end` at once,
 * `:asyncStart`/`:asyncEnd` — after `:error` on failure — when it ends), or returns null
 * when nobody subscribes: then the handshake is not traced even if somebody subscribes
 * before it ends (an APM sees whole handshakes only). As observe/stream-session.ts's
 * HandshakeTrace, for a DatagramSession (no resumption, no local address of its own).
 */
export function startHandshakeTrace(role: Role, local: LocalAddress, remote: Address): HandshakeTrace | null {
  if (!handshakeChannel.hasSubscribers) return null;
  const context: HandshakeContext = {
    role,
    transport: 'datagram',
    local: localLabel(local),
    remote: addressLabel(remote),
  };
  let settle: { resolve(s: ObservedSession): void; reject(e: unknown): void } | null = null;
  const ended = new Promise<ObservedSession>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // The traced promise's rejection is the trace's `error`, and is handled here.
  void handshakeChannel.tracePromise(() => ended, context).then(ignore, ignore);
  return {
    done(session) {
      if (!settle) return;
      context.suite = suiteName(session.suite);
      context.resumed = false;
      context.serverKey = fingerprintOf(session.serverKey);
      context.clientKey = fingerprintOf(session.clientKey);
      context.session = session;
      settle.resolve(session);
      settle = null;
    },
    fail(error) {
      settle?.reject(error);
      settle = null;
    },
  };
}
