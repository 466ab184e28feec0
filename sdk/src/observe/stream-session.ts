/**
 * The channels of a stream session (Server, Client, `secureDuplex()`): its open and close,
 * its key updates, and the `secsess:handshake` tracing channel around its handshake.
 *
 * The session's driver calls these at the points named in README "Diagnostics channels":
 * open once the session is handed to the application (a server's: after authorization),
 * close at its `'close'` if it was opened. A handshake trace exists only if someone
 * subscribed when the handshake began ({@link HandshakeTrace.start} returns null
 * otherwise); then `start`/`end` are published at once, and `asyncStart`/`asyncEnd` (with
 * `error` first on failure) when the driver settles it.
 *
 * observe/ imports nothing of stream/: what it reads of a session is {@link ObservedSession}.
 */
import type { PublicKey } from '@secsess/keys';
import { ErrorCode, SessionError } from '../protocol/index.js';
import type { Suite } from '../protocol/index.js';
import { handshakeChannel, keyUpdateChannel, sessionCloseChannel, sessionOpenChannel } from './channels.js';
import type {
  HandshakeContext,
  KeyUpdateMessage,
  Role,
  SessionCloseMessage,
  SessionOpenMessage,
  TransportKind,
} from './channels.js';
import { formatEndpoint } from '../common/endpoint.js';
import type { Endpoint } from '../common/endpoint.js';
import { errorCode, fingerprintOf, hostPort, suiteName } from './publish.js';

/** What the payloads take from a stream `Session` (its public getters). */
export interface ObservedSession {
  readonly suite: Suite | null;
  readonly serverKey: PublicKey | null;
  readonly clientKey: PublicKey | null;
  readonly resumed: boolean;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

/** The counts a close payload carries (`session.stats`). */
export interface ObservedCounts {
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly recordsSent: number;
  readonly recordsReceived: number;
}

/** Publishes `secsess:session:open` for a stream session, if anyone listens. */
export function publishStreamOpen(session: ObservedSession, role: Role): void {
  if (!sessionOpenChannel.hasSubscribers) return;
  const message: SessionOpenMessage = {
    session,
    role,
    transport: 'stream',
    local: hostPort(session.localAddress, session.localPort),
    remote: hostPort(session.remoteAddress, session.remotePort),
    suite: session.suite ? suiteName(session.suite) : '',
    serverKey: fingerprintOf(session.serverKey),
    clientKey: fingerprintOf(session.clientKey),
    resumed: session.resumed,
  };
  sessionOpenChannel.publish(message);
}

/**
 * Publishes `secsess:session:close` for a stream session opened at `openedAt`
 * (`performance.now()`), if anyone listens.
 */
export function publishStreamClose(
  session: ObservedSession & { readonly stats: ObservedCounts },
  role: Role,
  openedAt: number,
  code: number,
  reason: string,
  error: unknown,
): void {
  if (!sessionCloseChannel.hasSubscribers) return;
  const stats = session.stats;
  const message: SessionCloseMessage = {
    session,
    role,
    transport: 'stream',
    remote: hostPort(session.remoteAddress, session.remotePort),
    code,
    reason,
    error: error ? errorCode(error) : null,
    durationMs: performance.now() - openedAt,
    bytesSent: stats.bytesSent,
    bytesReceived: stats.bytesReceived,
    recordsSent: stats.recordsSent,
    recordsReceived: stats.recordsReceived,
  };
  sessionCloseChannel.publish(message);
}

/** Publishes `secsess:session:keyupdate`, if anyone listens. */
export function publishKeyUpdate(
  session: object,
  role: Role,
  transport: TransportKind,
  direction: 'send' | 'receive',
  generation: number,
): void {
  if (!keyUpdateChannel.hasSubscribers) return;
  const message: KeyUpdateMessage = { session, role, transport, direction, generation };
  keyUpdateChannel.publish(message);
}

/**
 * One handshake on the `secsess:handshake` tracing channel: `tracePromise` over a promise
 * the driver settles with {@link succeed} or {@link fail} (the first call counts).
 */
export class HandshakeTrace {
  readonly context: HandshakeContext;
  #resolve: ((session: object) => void) | null = null;
  #reject: ((err: unknown) => void) | null = null;

  private constructor(role: Role, transport: TransportKind, local: string, remote: string) {
    this.context = { role, transport, local, remote };
    handshakeChannel
      .tracePromise(
        () =>
          new Promise<object>((resolve, reject) => {
            this.#resolve = resolve;
            this.#reject = reject;
          }),
        this.context,
      )
      // The outcome reached the subscribers (context.error); nobody else waits on it.
      .catch(() => {});
  }

  /** A trace of a handshake beginning now, or null when nobody subscribes to the channel. */
  static start(role: Role, transport: TransportKind, local: string, remote: string): HandshakeTrace | null {
    return handshakeChannel.hasSubscribers ? new HandshakeTrace(role, transport, local, remote) : null;
  }

  /** The handshake succeeded: the context gets the session's suite, keys and the session. */
  succeed(session: ObservedSession): void {
    const resolve = this.#resolve;
    if (!resolve) return;
    this.#resolve = this.#reject = null;
    const c = this.context;
    if (c.local === '') c.local = hostPort(session.localAddress, session.localPort);
    if (c.remote === '') c.remote = hostPort(session.remoteAddress, session.remotePort);
    if (session.suite) c.suite = suiteName(session.suite);
    c.resumed = session.resumed;
    c.serverKey = fingerprintOf(session.serverKey);
    c.clientKey = fingerprintOf(session.clientKey);
    c.session = session;
    resolve(session);
  }

  /**
   * The handshake failed with `error` (a SessionError: its `code` says why); null: the
   * session closed before it was handed on, without an error of its own.
   */
  fail(error: unknown): void {
    const reject = this.#reject;
    if (!reject) return;
    this.#resolve = this.#reject = null;
    reject(error ?? new SessionError(ErrorCode.SESSION_CLOSED, 'session closed before it was accepted'));
  }
}

/**
 * A trace of the handshake of a stream session just made, or null when nobody subscribes to
 * `secsess:handshake`. `target`: the endpoint a client dialled (formatted only for a trace), the remote while its
 * transport has no address yet (still connecting).
 */
export function traceHandshake(
  session: ObservedSession,
  role: Role,
  target: Endpoint | null = null,
): HandshakeTrace | null {
  if (!handshakeChannel.hasSubscribers) return null;
  const remote = hostPort(session.remoteAddress, session.remotePort);
  return HandshakeTrace.start(
    role,
    'stream',
    hostPort(session.localAddress, session.localPort),
    remote === '' && target ? formatEndpoint(target) : remote,
  );
}
