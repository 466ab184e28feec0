/**
 * The server's admission of untrusted connections, decided before a byte is read (see
 * SECURITY.md): `maxConnections`, the handshake slots (handshake-limiter.ts: `maxHandshakes`,
 * `maxHandshakesPerAddress`, eviction of peers without a hello) and the per-source
 * `handshakeRate` (handshake-rate.ts). A refused connection gets the 6-byte plaintext
 * ServerBusy alert and is dropped; a ClientHello over the rate or past `maxPendingDecrypts`
 * is refused the same way, before any RSA work. Which limit refused a session is kept
 * here, so the server reports it as `'refused'` rather than `'handshakeError'`.
 */
import type { Socket } from 'node:net';
import { AlertCode, ErrorCode, HandshakeError, encodeAlertFrame } from '../protocol/index.js';
import { debug } from '../common/debug.js';
import { HANDSHAKE_RATE_SOURCES } from '../common/defaults.js';
import { kAbortHandshake, kHelloReceived } from '../stream/session-types.js';
import type { Session } from '../stream/session.js';
import { HandshakeLimiter } from './handshake-limiter.js';
import type { Admission, RefusalLimit } from './handshake-limiter.js';
import { HandshakeRate } from './handshake-rate.js';
import type { ResolvedServerOptions } from './server-options.js';

/** What a refused client receives: a plaintext ServerBusy alert (PROTOCOL.md §8). */
const BUSY_ALERT = encodeAlertFrame(AlertCode.ServerBusy);

export class ConnectionAdmission {
  /** Connections in their handshake. */
  readonly handshaking: HandshakeLimiter<Session>;
  readonly #rate: HandshakeRate;
  readonly #maxConnections: number;
  /** The limit that refused a session after it was made (eviction, rate, decrypt queue). */
  readonly #refusedBy = new WeakMap<Session, RefusalLimit>();

  constructor(options: ResolvedServerOptions) {
    this.handshaking = new HandshakeLimiter(options, (session) => !session[kHelloReceived]);
    this.#rate = new HandshakeRate(options, HANDSHAKE_RATE_SOURCES);
    this.#maxConnections = options.maxConnections;
  }

  /** Whether `handshakeRate` is on. */
  get rateEnabled(): boolean {
    return this.#rate.enabled;
  }

  /**
   * Whether `maxConnections` is reached, with `others` connections held besides those in
   * their handshake (established sessions, connections still sending a PROXY header).
   */
  connectionsFull(others: number): boolean {
    const max = this.#maxConnections;
    return max > 0 && this.handshaking.size + others >= max;
  }

  /**
   * The decision for a new connection from `address` (behind a trusted proxy: the client's,
   * from its PROXY header), with `others` connections held besides the handshakes (see
   * `connectionsFull`). A handshake evicted to make room is ended here (its peer gets ServerBusy).
   */
  admit(address: string | undefined, others: number): Admission<Session> {
    const admission = this.connectionsFull(others)
      ? ({ admitted: false, limit: 'maxConnections' } as const)
      : !this.#rate.allows(address)
        ? ({ admitted: false, limit: 'handshakeRate' } as const)
        : this.handshaking.admit(address);
    if (admission.admitted && admission.evict) this.#refuseHandshake(admission.evict, admission.limit);
    return admission;
  }

  /**
   * Takes a `handshakeRate` token for the ClientHello `session` just received, or refuses
   * it (throws ServerBusy: the core sends the plaintext alert) before any RSA work.
   */
  takeRateToken(session: Session): void {
    // The address the socket had at accept (Node caches it), or the one its PROXY header
    // gave: the one the limiter counted.
    if (this.#rate.take(session.remoteAddress)) return;
    this.refuse(session, 'handshakeRate');
  }

  /** Refuses `session`'s ClientHello for `limit`: throws ServerBusy (the core sends the alert). */
  refuse(session: Session, limit: RefusalLimit): never {
    this.#refusedBy.set(session, limit);
    throw busyError(limit);
  }

  /** The limit that refused `session`, if one did. */
  refusedBy(session: Session): RefusalLimit | undefined {
    return this.#refusedBy.get(session);
  }

  /** Ends a handshake in progress to make room (its peer has not sent its hello yet). */
  #refuseHandshake(session: Session, limit: RefusalLimit): void {
    this.#refusedBy.set(session, limit);
    session[kAbortHandshake](busyError(limit));
  }
}

function busyError(limit: RefusalLimit): HandshakeError {
  return new HandshakeError(ErrorCode.SERVER_BUSY, `handshake: server busy (${limit} reached)`);
}

/**
 * Turns a connection away without reading from it: the ServerBusy alert (6 bytes, which a
 * fresh socket hands to the kernel at once), then the socket is dropped. If the peer had
 * already sent its hello, the kernel answers with a reset after the alert; the peer still
 * reads the alert first.
 */
export function refuseSocket(socket: Socket): void {
  socket.on('error', (err: NodeJS.ErrnoException) => debug('refused socket: %s', err.code ?? err.message));
  socket.write(BUSY_ALERT);
  socket.destroy();
}
