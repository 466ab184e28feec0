/**
 * What the {@link Server} tells its user: its events, where a connection came from, and the
 * words its debug lines use for them.
 */
import type { EventEmitter } from 'node:events';
import { ErrorCode } from '../protocol/index.js';
import type { SessionError } from '../protocol/index.js';
import { keyProbeOf } from '../protocol/key-probe.js';
import type { KeyProbe } from '../protocol/key-probe.js';
import { debug, describeError, emitUncaught, warnListenerFailed } from '../common/debug.js';
import { kListenerRejected } from '../stream/session-types.js';
import type { Session } from '../stream/session.js';
import type { RefusalLimit } from './handshake-limiter.js';
import { publishRefused } from '../observe/publish.js';
import { kMetrics } from './server-metrics.js';
import type { Counted, ServerMetricsRecorder } from './server-metrics.js';

/** @internal The server as these functions see it: its events, and its counters (server-metrics.ts). */
export type MeteredServer = EventEmitter<ServerEvents> & { readonly [kMetrics]: ServerMetricsRecorder };

/** What `server.reload()` resolves with: the fingerprints in force, and the authorized_keys change (null without a file). */
export interface ServerReload {
  readonly fingerprints: string[];
  readonly authorized: { readonly added: number; readonly removed: number } | null;
}

/** Where a failed handshake came from. */
export interface RemoteInfo {
  readonly address: string | undefined;
  readonly port: number | undefined;
  readonly family: string | undefined;
}

/** Events of {@link Server}. */
export interface ServerEvents {
  /** The server is listening (`start()` resolved). */
  listening: [];
  /** A session was established and nobody was waiting in `acceptClient()`. */
  session: [session: Session];
  /** A client's handshake failed (wrong key, suite mismatch, timeout, garbage…). */
  handshakeError: [error: SessionError, remote: RemoteInfo];
  /**
   * A connection was turned away by a load limit, before any RSA work; `limit` names the
   * option. The client was sent ServerBusy (it sees ERR_SERVER_BUSY). Never also a
   * `'handshakeError'`.
   */
  refused: [limit: RefusalLimit, remote: RemoteInfo];
  /**
   * A connection asked for the server's key (KeyRequest) and ended without a ClientHello,
   * in a way an honest client does — not an attack. `kind` says which:
   * `'keyRequestOnly'` (it took the key and hung up: `secsess-keygen probe`, or a client
   * fetching the key to name it in an error) or `'serverKeyRefused'` (its trust policy
   * refused the key and it said so with the plaintext Alert HandshakeFailed: strict trust
   * and an unknown host, a changed or revoked key). Never also a `'handshakeError'`.
   */
  probe: [kind: KeyProbe, remote: RemoteInfo];
  /** The listening socket failed after `start()` (emitted only if listened to). */
  error: [error: Error];
  /** `stop()` finished. */
  close: [];
}

/** What a debug line says of each key probe. */
export const PROBE_TEXT: Record<KeyProbe, string> = {
  keyRequestOnly: 'key request only (the client took the server key and hung up)',
  serverKeyRefused: 'the client refused the server key',
};

/** `address:port` (IPv6 in brackets) for debug lines. */
export function remoteLabel(remote: RemoteInfo): string {
  return remote.family === 'IPv6' ? `[${remote.address}]:${remote.port}` : `${remote.address}:${remote.port}`;
}

/** @internal Emits `'refused'`, with its debug line. */
export function emitRefused(server: MeteredServer, limit: RefusalLimit, remote: RemoteInfo): void {
  server[kMetrics].refused(limit);
  debug('server: refused %s: limit %s', remoteLabel(remote), limit);
  publishRefused(server, 'stream', limit, remote.address, remote.port);
  server.emit('refused', limit, remote);
}

/**
 * @internal Reports a failed handshake: `'refused'` if a load limit (`limit`) ended it, `'probe'` if
 * it was an honest client's key probe, else `'handshakeError'`.
 */
export function reportHandshakeFailure(
  server: MeteredServer,
  err: SessionError,
  remote: RemoteInfo,
  limit: RefusalLimit | undefined,
): void {
  if (limit) {
    emitRefused(server, limit, remote);
    return;
  }
  const probe = keyProbeOf(err);
  if (probe) {
    server[kMetrics].probe();
    debug('server: probe from %s: %s', remoteLabel(remote), PROBE_TEXT[probe]);
    server.emit('probe', probe, remote);
    return;
  }
  server[kMetrics].failed(err.code);
  debug('server: handshake with %s failed: %s', remoteLabel(remote), describeError(err));
  server.emit('handshakeError', err, remote);
}

/**
 * @internal A session not let in after its handshake: `denied` by authorization (a failed
 * handshake with its code, and `'handshakeError'`), or closed while it was authorized (no
 * denial: failed with ERR_SESSION_CLOSED, as its trace, and no event: nothing to tell). While
 * the server stops, neither counts as a failure nor is emitted, as no failed handshake is then.
 */
export function reportNotAuthorized(
  server: MeteredServer,
  session: Counted,
  denied: SessionError | null,
  remote: RemoteInfo,
  stopping: boolean,
): void {
  server[kMetrics].notAccepted(session, stopping ? null : (denied ?? LEFT));
  if (denied && !stopping) server.emit('handshakeError', denied, remote);
}

/** What a client that left during authorization counts as. */
const LEFT = { code: ErrorCode.SESSION_CLOSED } as const;

/**
 * @internal Where a rejected async listener of the server goes: a `'session'` listener fails that
 * session alone (see Session); another event's goes to `'error'` if someone listens there,
 * else it is printed as a process warning. An `'error'` listener's own rejection is never
 * emitted again (it would loop), and nothing is thrown: a client that triggers an event
 * never takes the process down through it.
 */
export function routeListenerRejection(
  server: EventEmitter<ServerEvents>,
  err: Error,
  event: unknown,
  args: unknown[],
): void {
  if (event === 'session') {
    (args[0] as Session)[kListenerRejected](err);
  } else if (event !== 'error' && server.listenerCount('error') > 0) {
    server.emit('error', err);
  } else {
    warnListenerFailed(`a secsess server's '${String(event)}' event`, err);
  }
}

/** Emits `'session'`; false if nobody listens (the server's accept queue then keeps the session). */
export function emitSession(server: EventEmitter<ServerEvents>, session: Session): boolean {
  if (server.listenerCount('session') === 0) return false;
  emitUncaught(server, 'session', session);
  return true;
}
