/**
 * What the {@link DatagramServer} tells its user: its events, the limits that refuse a
 * Hello, and its counters (packets in, answers out by kind, refusals, RSA work started),
 * which let an operator — and the tests — see that a flood of spoofed or cookie-less
 * packets costs the server no RSA and no state.
 */
import type { SessionError } from '../protocol/index.js';
import type { RefusalLimit } from '../server/handshake-limiter.js';
import type { DatagramSession } from './datagram-session.js';
import type { DatagramAddress } from './datagram-socket.js';

/**
 * What refused a Hello with ServerBusy: an option — `maxSessions` (sessions and handshakes
 * together), `maxHandshakes`, `maxHandshakesPerAddress`, `maxPendingDecrypts`,
 * `handshakeRate` — or `noListener`: the server has no `'session'` listener, so a session
 * would be closed as soon as it opened (a datagram server has no accept queue).
 */
export type DatagramRefusalLimit =
  Exclude<RefusalLimit, 'maxConnections'> | 'maxSessions' | 'maxSessionsPerAddress' | 'noListener';

/** Events of {@link DatagramServer}. */
export interface DatagramServerEvents {
  /** The socket is bound (`start()` resolved); `server.address` has the real port. */
  listening: [];
  /**
   * A handshake completed and the client is authorized. A datagram server has no accept
   * queue: without a listener a Hello is refused with ServerBusy (`'refused'`, limit
   * `noListener`) before any RSA; a session that completes after the last listener was
   * removed is closed at once (code 1001).
   */
  session: [session: DatagramSession];
  /**
   * A handshake failed after its source showed a valid cookie: refused ClientHello (suite,
   * version, unknown key), bad ClientFinished, client key refused (ERR_NOT_AUTHORIZED)…
   * Cookie-less and malformed packets are only counted: they are not handshakes yet.
   */
  handshakeError: [error: SessionError, remote: DatagramAddress];
  /** A Hello was refused with ServerBusy by a load limit (or for want of a `'session'` listener), before any RSA work. */
  refused: [limit: DatagramRefusalLimit, remote: DatagramAddress];
  /** The socket failed after `start()` (emitted only if listened to). */
  error: [error: Error];
  /** `stop()` finished. */
  close: [];
}

/** What a {@link DatagramServer} counted since it was created. */
export interface DatagramServerCounters {
  /** UDP packets received. */
  readonly packets: number;
  /** Packets dropped unanswered: unknown type, malformed, a conn_id of nothing. */
  readonly dropped: number;
  /** Cookie packets sent (a KeyRequest or Hello without a valid cookie: no state, no RSA). */
  readonly cookies: number;
  /** KeyResponse packets sent. */
  readonly keyResponses: number;
  /**
   * Alerts sent: Alert packets for a refused ClientHello (not ServerBusy), and the one
   * Alert record a client gets when its ClientFinished opened but was refused after RSA.
   */
  readonly alerts: number;
  /** Hellos refused with ServerBusy by a load limit or `noListener` (`'refused'`). */
  readonly refused: number;
  /** RSA decryptions started (one per admitted Hello), wherever they ran. */
  readonly decrypts: number;
  /** Sessions opened. */
  readonly sessions: number;
  /** Handshakes that failed after a valid cookie (`'handshakeError'`). */
  readonly handshakeErrors: number;
  /** Handshakes dropped for want of a ClientFinished within `handshakeTimeout`. */
  readonly handshakeTimeouts: number;
  /** Answers not sent because they would have been larger than the packet they answered. */
  readonly oversizeAnswers: number;
  /** Packets handed to the socket (answers and session records). */
  readonly sent: number;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** @internal */
export const kCount = Symbol('count');

/** @internal The server's counters, counted in place; `snapshot()` copies them. */
export class DatagramCounters {
  readonly #c: Mutable<DatagramServerCounters> = {
    packets: 0,
    dropped: 0,
    cookies: 0,
    keyResponses: 0,
    alerts: 0,
    refused: 0,
    decrypts: 0,
    sessions: 0,
    handshakeErrors: 0,
    handshakeTimeouts: 0,
    oversizeAnswers: 0,
    sent: 0,
  };

  [kCount](name: keyof DatagramServerCounters): void {
    this.#c[name]++;
  }

  snapshot(): DatagramServerCounters {
    return { ...this.#c };
  }
}
