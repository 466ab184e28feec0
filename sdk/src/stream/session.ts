/**
 * A secure session over any Duplex: the public API. What runs it lives beside it, one
 * concern per file, all over the one state object a session has (session-core.ts):
 *   - session-hooks.ts: the per-message path (transport data → core → `read()` / `'message'`)
 *     and the callbacks of the core, writer and keepalive;
 *   - session-flow.ts: reading paused by unread messages, or stalled by a peer that does not
 *     read the replies it asks for;
 *   - session-end.ts: close choreography, failure, the transport's end;
 *   - session-handshake.ts: the vault (decrypt, verify) and trust hooks.
 *
 * End of a session: `read()` resolves null after the peer's End (half-close) or a normal
 * close (code 1000, or the echo of our own close) once the queue is empty; after any other
 * end it rejects with the coded error (PeerClosedError for another close code); `'end'`
 * follows the last message before the peer's End. `end()` ends our messages (End); once
 * both sides have ended, the session closes itself (1000). `'error'` is emitted at most
 * once and only if someone listens; `'close'` is always emitted, exactly once, after the
 * transport closed. A rejected async listener fails this session alone (`captureRejections`).
 */
import { EventEmitter, captureRejectionSymbol } from 'node:events';
import type { Duplex } from 'node:stream';
import type { PublicKey } from '@secsess/keys';
import { CLOSE_NORMAL, ErrorCode, ServerConnection, SessionError } from '../protocol/index.js';
import type { Suite } from '../protocol/index.js';
import { checkSignal } from '../common/deferred.js';
import { sessionStats } from '../observe/session-stats.js';
import type { SessionStats } from '../observe/session-stats.js';
import type { HandshakeTrace } from '../observe/stream-session.js';
import type { ResolvedSessionOptions } from '../common/options.js';
import type { SessionHooks } from './session-hooks.js';
import { createCore } from './session-handshake.js';
import type { SessionInitOf } from './session-handshake.js';
import { closedError, fail, listenerRejected, notWritable, requestClose, sendEnd } from './session-end.js';
import { bufferFull } from './session-flow.js';
import { createSessionStream } from './session-stream.js';
import { checkClose, observed, toBuffer } from './session-util.js';
import type { MessageData } from './session-util.js';
import {
  kAbortHandshake,
  kExporter,
  kFail,
  kHelloReceived,
  kIssueTicket,
  kListenerRejected,
  kOnClosed,
  kOpened,
  kReady,
} from './session-types.js';
import { observeOpened } from './session-observe.js';
import type { SessionEmitter, SessionEvents, SessionState } from './session-types.js';

/** @internal How the session's connection is made. */
export type SessionInit = SessionInitOf<Session>;

/** Set by Session's static block: the one way to the private constructor. */
let construct: (transport: Duplex, init: SessionInit, options: ResolvedSessionOptions) => Session;

/**
 * @internal Makes a session. Session's constructor is private: sessions come from Server,
 * Client.connect() and secureDuplex().
 */
export function createSession(
  transport: Duplex,
  init: SessionInit,
  options: ResolvedSessionOptions,
): Session {
  return construct(transport, init, options);
}

/**
 * An established secure session. Obtain one from `server.acceptClient()`, the server's
 * `'session'` event, `client.connect()` or `secureDuplex()`; never construct it directly.
 */
export class Session extends EventEmitter<SessionEvents> {
  /** Everything but the emitter: the state, and the handler of the core, writer and keepalive. */
  readonly #core: SessionHooks;
  #stream: Duplex | null = null;

  static {
    construct = (transport, init, options) => new Session(transport, init, options);
  }

  /** Private: sessions come from Server, Client.connect() and secureDuplex(). */
  private constructor(transport: Duplex, init: SessionInit, options: ResolvedSessionOptions) {
    // A rejected async listener fails this session alone (kListenerRejected), never the process.
    super({ captureRejections: true });
    const core = createCore<Session>(this, transport, init, options);
    this.#core = core;
    // A private method is one function for every session; the emitter calls it with `this`.
    (this as EventEmitter).on('newListener', this.#onNewListener);
    core.start();
  }

  /** @internal */
  get [kReady](): Promise<void> {
    return this.#core.ready;
  }

  /** @internal */
  get [kHelloReceived](): boolean {
    const conn = this.#core.conn;
    return conn instanceof ServerConnection && conn.keyIndex >= 0;
  }

  /**
   * @internal The exporter while the session is open (a copy the caller wipes) and this
   * side's role in the stream handshake (`secret` null once forgotten); null unless open.
   * `forget`: wipes it for good (its channel is made) and returns null.
   */
  [kExporter](forget = false): { secret: Buffer | null; role: 'client' | 'server' } | null {
    return this.#core.exporter(forget);
  }

  /** @internal Ends an established session with `error` (an alert tells the peer); `destroy`: drops the transport. */
  [kFail](error: SessionError, destroy = false): void {
    fail(this.#core, error, { destroy });
  }

  /** @internal */
  [kAbortHandshake](error: SessionError): void {
    const core = this.#core;
    if (core.state === 'handshake') fail(core, error, { destroy: true });
  }

  /**
   * @internal An async listener (of this session, or the server's `'session'` listener for
   * it) rejected. This session's own end surfacing through `read()`/`write()` (its error, or
   * ERR_SESSION_CLOSED caused by it: the peer vanished, its close cut a write) was already
   * reported and is dropped; any other error (another session's, a bug) never is.
   * Anything else fails the session if it is still open and is emitted as its `'error'`, or,
   * when nobody listens there, printed as a process warning. Never thrown: one session's
   * listener never takes the process down.
   */
  [kListenerRejected](err: unknown): void {
    listenerRejected(this.#core, err);
  }

  /**
   * @internal A server session its server accepted (authorized): sends the client the
   * NewTicket it asked for, if the server has ticket keys (PROTOCOL.md §6a); else nothing.
   */
  [kIssueTicket](): void {
    this.#core.issueTicket();
  }

  /** @internal Handed to the application (Server, Client, secureDuplex): open for the channels. */
  [kOpened](trace: HandshakeTrace | null): boolean {
    return observeOpened(this.#core, trace);
  }

  /** @internal EventEmitter's hook for a rejected async listener of this session (`captureRejections`). */
  override [captureRejectionSymbol]<K>(
    err: Error,
    _event: keyof SessionEvents | K,
    ..._args: unknown[]
  ): void {
    this[kListenerRejected](err);
  }

  /**
   * Resolves once the session is over and its transport closed (right before `'close'`).
   * Never rejects: the outcome is in `closeCode` and in what `read()` reports.
   */
  get closed(): Promise<void> {
    return this.#core.closedPromise();
  }

  /**
   * @internal Calls `callback(this)` in a microtask once the session is over — when `closed`
   * resolves, or at once if it has — ahead of any reaction to `closed` registered later: what
   * `closed.then(() => callback(this))` would do, without a promise and closure per session.
   * One callback per session.
   */
  [kOnClosed](callback: (session: Session) => void): void {
    this.#core.whenClosed(callback as (session: SessionEmitter) => void);
  }

  /** Where the session is in its life. */
  get state(): SessionState {
    return this.#core.state;
  }

  /** The algorithm suite in use (null before the handshake completed). */
  get suite(): Suite | null {
    return this.#core.info?.suite ?? null;
  }

  /** The server's public key this session was established with (null before the handshake). */
  get serverKey(): PublicKey | null {
    return this.#core.info?.serverKey ?? null;
  }

  /** The client's public key if the client authenticated (resumed: its ticket's), else null. */
  get clientKey(): PublicKey | null {
    return this.#core.info?.clientKey ?? null;
  }

  /** Whether the session was resumed from a ticket (no RSA; README "Resumption"); false before the handshake. */
  get resumed(): boolean {
    return this.#core.info?.resumed ?? false;
  }

  /**
   * Whether the session carries channels (the client's `channels` option, accepted by a
   * server with `channels`; PROTOCOL.md §6b): its messages are then channel frames, for
   * the application to read and write. False before the handshake.
   */
  get channels(): boolean {
    return this.#core.info?.channels ?? false;
  }

  /**
   * The peer's IP address when the transport is a TCP socket, else undefined. On a server
   * behind a trusted proxy (`proxyProtocol`), the client's address from the PROXY header.
   */
  get remoteAddress(): string | undefined {
    return this.#core.endpoint('remoteAddress');
  }

  /**
   * The peer's port when the transport is a TCP socket (behind a trusted proxy, from the PROXY
   * header, as `remoteAddress`), else undefined.
   */
  get remotePort(): number | undefined {
    return this.#core.endpoint('remotePort');
  }

  /**
   * This side's IP address when the transport is a TCP socket, else undefined: on a server,
   * the address the client connected to — behind a trusted proxy, the destination of its
   * PROXY header (the proxy's listening address), not the proxy's connection to us.
   */
  get localAddress(): string | undefined {
    return this.#core.endpoint('localAddress');
  }

  /** This side's port, as `localAddress`. */
  get localPort(): number | undefined {
    return this.#core.endpoint('localPort');
  }

  /** Transport bytes and records each way so far (a new frozen snapshot each read; README "Metrics"). */
  get stats(): SessionStats {
    return sessionStats(this.#core);
  }

  /** Bytes accepted by `write()` and not yet handed to the OS. */
  get bufferedAmount(): number {
    return this.#core.writer.bufferedAmount;
  }

  /** Bytes of received messages waiting to be read. */
  get readableLength(): number {
    return this.#core.inbound.bytes;
  }

  /**
   * Whether this side has ended its messages (`end()`, or the view's `end()`): it writes
   * no more (ERR_WRITE_AFTER_END) but still reads.
   */
  get writableEnded(): boolean {
    return this.#core.writableEnded;
  }

  /**
   * Whether the peer has ended its messages (its End arrived): it sends no more; `read()`
   * resolves null once the queued ones are read, and `'end'` is emitted then.
   */
  get readableEnded(): boolean {
    return this.#core.readableEnded;
  }

  /** Whether reading from the transport is paused because unread messages reached the high-water mark. */
  get readingPaused(): boolean {
    return this.#core.paused;
  }

  /** The close code once closed: the authenticated close's code, or 1006 if there was none. */
  get closeCode(): number | null {
    const core = this.#core;
    return core.state === 'closed' ? core.closeCode : null;
  }

  /** The close reason once closed (empty if none). */
  get closeReason(): string | null {
    const core = this.#core;
    return core.state === 'closed' ? core.closeReason : null;
  }

  /**
   * The next message, whole, exactly as the peer wrote it. Pending reads are served in
   * call order. Resolves null after the peer's End or a normal close once every received
   * message was read; rejects with the session's coded error after any other end (PeerClosedError,
   * ERR_CLOSED_BY_PEER, when the peer closed with a code other than 1000). Aborting
   * `signal` rejects with ERR_ABORTED and leaves the session open.
   */
  read(options: { readonly signal?: AbortSignal } = {}): Promise<Buffer | null> {
    let signal: AbortSignal | undefined;
    try {
      signal = checkSignal(options?.signal, 'options.signal');
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#core.readNext(signal);
  }

  /**
   * Gives back a message this session delivered, once nothing refers to it any more (not even
   * a view): its memory, wiped, takes a later large message rather than a new buffer. For
   * relays that know when each message's write is done (the `secsess` tunnel). Optional.
   */
  recycle(message: Buffer): void {
    this.#core.conn.recycle(message);
  }

  /**
   * Sends one message. Calls keep their order and never interleave. Resolves once the
   * message is in the transport's buffer and the transport has room (after 'drain' if it
   * had none). Rejects with ERR_WRITE_AFTER_END after `end()`, with ERR_SESSION_CLOSED if
   * the session is not open, or with the session's error if it fails before then. A write that finds `maxBufferedAmount` bytes
   * or more still buffered fails the session with ERR_BUFFER_FULL.
   */
  write(data: MessageData): Promise<void> {
    let message: Buffer;
    try {
      message = toBuffer(data);
    } catch (err) {
      return observed(Promise.reject(err));
    }
    const core = this.#core;
    if (core.state !== 'open' || core.writableEnded) return observed(Promise.reject(notWritable(core)));
    const writer = core.writer;
    if (writer.bufferedAmount >= core.options.maxBufferedAmount) {
      fail(core, bufferFull(core), { destroy: true });
      return observed(Promise.reject(core.error));
    }
    // Already observed: see RecordWriter.
    return writer.write(message);
  }

  /**
   * Resolves once everything written so far has been handed to the OS. Rejects with
   * ERR_SESSION_CLOSED (cause: the error) if the session failed.
   */
  flushStream(): Promise<void> {
    const core = this.#core;
    if (core.state === 'closed') {
      return observed(core.error ? Promise.reject(closedError(core)) : Promise.resolve());
    }
    return observed(core.writer.flushed());
  }

  /**
   * Ends this side's messages (half-close, PROTOCOL.md §5 "Half-close (End)"): sends End
   * after everything already written, and resolves once it has been handed to the OS (as
   * `flushStream()`). The session stays open: `write()` then rejects with
   * ERR_WRITE_AFTER_END, while the peer's messages are still read until its own End (or
   * close). Once both sides have ended, the session closes itself with code 1000 on both
   * sides (`closed`, `'close'`). Calling it again waits for the same End. Rejects with
   * ERR_SESSION_CLOSED if the session is not open (during the handshake, once closing).
   */
  end(): Promise<void> {
    const core = this.#core;
    if (!core.writableEnded) {
      if (core.state !== 'open') return observed(Promise.reject(closedError(core)));
      sendEnd(core);
    }
    return this.flushStream();
  }

  /**
   * Closes the session with an authenticated close (`code` default 1000, `reason` at most
   * 123 bytes of UTF-8), after everything already written. Messages the peer sent before
   * it saw the close are still delivered. Resolves once the peer answered and the
   * transport closed; a peer that does not answer within `closeTimeout` of the Close
   * reaching the OS (behind what was written before; until then the idle timeout bounds it)
   * is dropped (TimeoutError, `limit: 'close'`). Never rejects for the peer's behaviour;
   * calling it again, or on a closed session, waits for the same end.
   */
  async close(code: number = CLOSE_NORMAL, reason = ''): Promise<void> {
    checkClose(code, reason);
    requestClose(this.#core, code, reason);
    await this.closed;
  }

  /**
   * Drops the transport at once, without an authenticated close (the peer sees
   * ERR_TRUNCATED). Pending operations reject with ERR_SESSION_CLOSED. No `'error'`.
   */
  destroy(): void {
    fail(this.#core, new SessionError(ErrorCode.SESSION_CLOSED, 'session destroyed'), {
      destroy: true,
      quiet: true,
    });
  }

  /**
   * A Duplex byte-stream view (the same object on every call, `allowHalfOpen`): each
   * write becomes one message, reads deliver message bytes in order (empty messages carry
   * no bytes). Its `end()` half-closes as `session.end()` does (on a session already
   * closing or closed it waits for the close instead); the readable side ends at the
   * peer's End or a normal close, and errors otherwise. Once both sides have ended, the
   * session closes itself (1000). Works with `stream.pipeline`: `pipeline(file,
   * session.stream())` uploads and ends our half, and the peer may still answer.
   * Destroying the view ends the session. Every `for await` over it does (Node's iterator
   * destroys a Duplex whose writable side is open when the loop completes, breaks or
   * throws), so the view can answer no more: the session ends gracefully — `end()` if the
   * peer has ended (then closes 1000), else `close()`. To read a request to the peer's End
   * and then answer, use `session.stream().iterator({ destroyOnReturn: false })` or the
   * session's own `for await`. Destroyed with any other error (a failed or aborted
   * pipeline), the view drops the transport: the peer sees ERR_TRUNCATED.
   */
  stream(): Duplex {
    this.#stream ??= createSessionStream(this);
    return this.#stream;
  }

  /**
   * `for await (const message of session)`: reads until the peer's End or a normal close;
   * throws the coded error otherwise.
   */
  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    for (;;) {
      const message = await this.read();
      if (message === null) return;
      yield message;
    }
  }

  /** `await using session = …`: closes the session. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #onNewListener(this: Session, event: string | symbol): void {
    this.#core.listenerAdded(event);
  }
}
