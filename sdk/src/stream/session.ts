/**
 * A secure session over any Duplex: the thin driver between a transport and the sans-IO
 * core (protocol/). It owns the transport, the ready state, the inbound message queue,
 * the record writer and the timers.
 *
 * Delivery of received messages, in this order of preference:
 *   1. the oldest pending `read()` (and so the async iterator and `stream()`),
 *   2. otherwise, if the session has `'message'` listeners and nothing is queued, `'message'`,
 *   3. otherwise the queue, read by later `read()` calls — or emitted to `'message'`
 *      listeners as soon as one is added.
 * When the queue holds `readableHighWaterMark` bytes or more (each message counted with a
 * fixed overhead, so floods of tiny messages count too), the transport is paused
 * until reads bring it below again.
 *
 * What the peer makes the protocol write (a Pong for each Ping) obeys the same bounds as
 * `write()`: when such a reply finds the transport above its high-water mark, reading stops
 * until the transport drains (TCP then holds the peer's further records in its own
 * buffers); a reply that finds `maxBufferedAmount` unsent fails the session with
 * ERR_BUFFER_FULL. Time stalled so is not backpressure from our side: the idle timer keeps
 * running, and a peer that has not read for `idleTimeout` fails with ERR_BUFFER_FULL.
 *
 * End of a session: `read()` resolves null after a normal close (code 1000, or the echo of
 * our own close) once the queue is empty; after any other end it rejects with the coded
 * error (PeerClosedError for another close code). `'error'` is emitted at most once and
 * only if someone listens; `'close'` is always emitted, exactly once, after the transport
 * closed.
 */
import { EventEmitter, captureRejectionSymbol } from 'node:events';
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { PublicKey } from '@secsess/keys';
import {
  CLOSE_NORMAL,
  ClientConnection,
  ErrorCode,
  HandshakeError,
  PeerClosedError,
  ServerConnection,
  SessionError,
  TimeoutError,
} from '../protocol/index.js';
import type {
  ClientConnectionHandler,
  ClientConnectionOptions,
  ConnectionHandler,
  DecryptRequest,
  HandshakeInfo,
  ServerConnectionHandler,
  ServerConnectionOptions,
  Suite,
  VerifyRequest,
} from '../protocol/index.js';
import { debug } from '../common/debug.js';
import { CLOSE_ABNORMAL } from '../common/defaults.js';
import { checkSignal, deferred, noop } from '../common/deferred.js';
import type { Deferred } from '../common/deferred.js';
import { KeepAlive } from './keep-alive.js';
import type { KeepAliveOptions } from './keep-alive.js';
import { MessageQueue } from './message-queue.js';
import type { ResolvedSessionOptions } from '../common/options.js';
import { RecordWriter } from './record-writer.js';
import type { RecordWriterOptions } from './record-writer.js';
import { createSessionStream } from './session-stream.js';
import { asBuffer, checkClose, observed, toBuffer, toSessionError } from './session-util.js';
import type { MessageData } from './session-util.js';
import {
  kAbortHandshake,
  kFail,
  kHelloReceived,
  kListenerRejected,
  kOnClosed,
  kReady,
} from './session-types.js';
import type { SessionEvents, SessionState } from './session-types.js';

export type { MessageData } from './session-util.js';
export {
  kAbortHandshake,
  kFail,
  kHelloReceived,
  kListenerRejected,
  kOnClosed,
  kReady,
} from './session-types.js';
export type { SessionEvents, SessionState } from './session-types.js';

/** @internal Performs the server's RSA decryption elsewhere; null on any failure. */
export type DecryptFunction = (
  keyIndex: number,
  ciphertext: Buffer,
  session: Session,
) => Promise<Buffer | null>;

/** @internal Verifies a client's signature elsewhere (the server's worker pool); false on any failure. */
export type VerifyFunction = (request: VerifyRequest, session: Session) => Promise<boolean>;

/** @internal How the session's connection is made. */
export type SessionInit =
  | {
      readonly role: 'client';
      readonly connection: ClientConnectionOptions;
      /** Without `connection.serverKey`: decides on the key the server sends (trust on first use). */
      readonly decideServerKey?: ((key: PublicKey) => Promise<void>) | undefined;
    }
  | {
      readonly role: 'server';
      readonly connection: ServerConnectionOptions;
      readonly decrypt?: DecryptFunction | undefined;
      readonly verify?: VerifyFunction | undefined;
    };

/** Every callback a session's parts make into it. */
type SessionHooks = ConnectionHandler & RecordWriterOptions & KeepAliveOptions;

/** Set by Session's static block (which has access to its private members). */
let createHooks: (session: Session, init: SessionInit) => SessionHooks;

/**
 * An established secure session. Obtain one from `server.acceptClient()`, the server's
 * `'session'` event, `client.connect()` or `secureDuplex()`; never construct it directly.
 */
export class Session extends EventEmitter<SessionEvents> {
  readonly #transport: Duplex;
  readonly #conn: ClientConnection | ServerConnection;
  readonly #options: ResolvedSessionOptions;
  readonly #inbound = new MessageQueue();
  readonly #writer: RecordWriter;
  readonly #keepAlive: KeepAlive;
  readonly #ready: Promise<void>;
  /** Settles `#ready`; dropped once it has, so an open session keeps only the settled promise. */
  #settleReady: Deferred<void> | null;
  /** `closed`, made when first asked for: a server does not ask it of its idle sessions. */
  #closed: Promise<void> | null = null;
  #resolveClosed: (() => void) | null = null;
  /** Whether `closed` has resolved (or would have, had it been made). */
  #closedResolved = false;
  /** The server's callback for this session's end (see `kOnClosed`). */
  #onClosed: ((session: Session) => void) | null = null;
  #state: SessionState = 'handshake';
  #info: HandshakeInfo | null = null;
  #error: SessionError | null = null;
  #closeCode = CLOSE_ABNORMAL;
  #closeReason = '';
  #localClose: { code: number; reason: string } | null = null;
  #handshakeTimer: NodeJS.Timeout | null = null;
  #closeTimer: NodeJS.Timeout | null = null;
  #destroyTimer: NodeJS.Timeout | null = null;
  #paused = false;
  /** Reading is stopped because the peer does not read the replies it made us write. */
  #stalled = false;
  #transportClosed = false;
  #stream: Duplex | null = null;

  /** @internal Sessions come from Server, Client.connect() and secureDuplex(). */
  constructor(transport: Duplex, init: SessionInit, options: ResolvedSessionOptions) {
    // A rejected async listener fails this session alone (kListenerRejected), never the process.
    super({ captureRejections: true });
    this.#transport = transport;
    this.#options = options;
    const ready = deferred<void>();
    ready.promise.catch(noop);
    this.#ready = ready.promise;
    this.#settleReady = ready;
    // One object carries every callback of the core, the writer and the keepalive (see Hooks).
    const hooks = createHooks(this, init);
    const connectionOptions = { ...init.connection, maxMessageSize: options.maxMessageSize };
    this.#conn =
      init.role === 'server'
        ? new ServerConnection(hooks, connectionOptions as ServerConnectionOptions)
        : new ClientConnection(hooks, connectionOptions as ClientConnectionOptions);
    this.#writer = new RecordWriter(transport, this.#conn, hooks);
    this.#keepAlive = new KeepAlive(hooks);
    // Bound methods rather than arrow-function fields: the same one function object each,
    // without a context kept alive for them.
    transport.on('data', this.#onData.bind(this));
    transport.on('end', this.#onEnd.bind(this));
    transport.on('error', this.#onTransportError.bind(this));
    transport.on('close', this.#onTransportClose.bind(this));
    transport.on('drain', this.#onDrain.bind(this));
    // A private method is one function for every session; the emitter calls it with `this`.
    (this as EventEmitter).on('newListener', this.#onNewListener);
    this.#handshakeTimer = setTimeout(
      () => this.#fail(new TimeoutError('handshake', options.handshakeTimeout), { destroy: true }),
      options.handshakeTimeout,
    );
    this.#handshakeTimer.unref();
    if (transport.destroyed) {
      process.nextTick(() => this.#onTransportClose());
    } else if (this.#conn instanceof ClientConnection) {
      const conn = this.#conn;
      try {
        conn.start();
      } catch (err) {
        this.#fail(err);
      }
    }
  }

  /** @internal */
  get [kReady](): Promise<void> {
    return this.#ready;
  }

  /** @internal */
  get [kHelloReceived](): boolean {
    return this.#conn instanceof ServerConnection && this.#conn.keyIndex >= 0;
  }

  /** @internal Ends an established session with `error` (an alert tells the peer). */
  [kFail](error: SessionError): void {
    this.#fail(error);
  }

  /** @internal */
  [kAbortHandshake](error: SessionError): void {
    if (this.#state === 'handshake') this.#fail(error, { destroy: true });
  }

  /**
   * @internal An async listener (of this session, or the server's `'session'` listener for
   * it) rejected. A coded error on a session that has ended is that end surfacing through
   * `read()`/`write()` (the peer vanished, its close cut a write): already reported, dropped.
   * Anything else fails the session if it is still open and is emitted as its `'error'`, or,
   * when nobody listens there, printed as a process warning. Never thrown: one session's
   * listener never takes the process down.
   */
  [kListenerRejected](err: unknown): void {
    const message = err instanceof Error ? err.message : String(err);
    debug('a listener of the session with %s rejected: %s', this.#label(), message);
    if (this.#state !== 'closed') {
      const listened = this.listenerCount('error') > 0;
      this.#fail(err);
      if (listened) return;
    } else if (err instanceof SessionError) {
      return;
    }
    process.emitWarning(`a listener of a secsess session failed: ${message}`, {
      type: 'SecsessWarning',
      detail: err instanceof Error ? err.stack : undefined,
    });
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
    if (!this.#closed) {
      if (this.#closedResolved) {
        this.#closed = Promise.resolve();
      } else {
        const closed = deferred<void>();
        this.#closed = closed.promise;
        this.#resolveClosed = closed.resolve;
      }
    }
    return this.#closed;
  }

  /**
   * @internal Calls `callback(this)` in a microtask once the session is over — when `closed`
   * resolves, or at once if it has — ahead of any reaction to `closed` registered later: what
   * `closed.then(() => callback(this))` would do, without a promise and closure per session.
   * One callback per session.
   */
  [kOnClosed](callback: (session: Session) => void): void {
    if (this.#closedResolved) queueMicrotask(() => callback(this));
    else this.#onClosed = callback;
  }

  /** Where the session is in its life. */
  get state(): SessionState {
    return this.#state;
  }

  /** The algorithm suite in use (null before the handshake completed). */
  get suite(): Suite | null {
    return this.#info?.suite ?? null;
  }

  /** The server's public key this session was established with (null before the handshake). */
  get serverKey(): PublicKey | null {
    return this.#info?.serverKey ?? null;
  }

  /** The client's public key if the client authenticated, else null. */
  get clientKey(): PublicKey | null {
    return this.#info?.clientKey ?? null;
  }

  /** The peer's IP address when the transport is a TCP socket, else undefined. */
  get remoteAddress(): string | undefined {
    return this.#transport instanceof Socket ? this.#transport.remoteAddress : undefined;
  }

  /** The peer's port when the transport is a TCP socket, else undefined. */
  get remotePort(): number | undefined {
    return this.#transport instanceof Socket ? this.#transport.remotePort : undefined;
  }

  /** Bytes accepted by `write()` and not yet handed to the OS. */
  get bufferedAmount(): number {
    return this.#writer.bufferedAmount;
  }

  /** Bytes of received messages waiting to be read. */
  get readableLength(): number {
    return this.#inbound.bytes;
  }

  /** Whether reading from the transport is paused because unread messages reached the high-water mark. */
  get readingPaused(): boolean {
    return this.#paused;
  }

  /** The close code once closed: the authenticated close's code, or 1006 if there was none. */
  get closeCode(): number | null {
    return this.#state === 'closed' ? this.#closeCode : null;
  }

  /** The close reason once closed (empty if none). */
  get closeReason(): string | null {
    return this.#state === 'closed' ? this.#closeReason : null;
  }

  /**
   * The next message, whole, exactly as the peer wrote it. Pending reads are served in
   * call order. Resolves null after a normal close once every received message was read;
   * rejects with the session's coded error after any other end (PeerClosedError,
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
    const message = this.#inbound.read(signal);
    this.#maybeResume();
    return message;
  }

  /**
   * Sends one message. Calls keep their order and never interleave. Resolves once the
   * message is in the transport's buffer and the transport has room (after 'drain' if it
   * had none). Rejects with ERR_SESSION_CLOSED if the session is not open, or with the
   * session's error if it fails before then. A write that finds `maxBufferedAmount` bytes
   * or more still buffered fails the session with ERR_BUFFER_FULL.
   */
  write(data: MessageData): Promise<void> {
    let message: Buffer;
    try {
      message = toBuffer(data);
    } catch (err) {
      return observed(Promise.reject(err));
    }
    if (this.#state !== 'open') return observed(Promise.reject(this.#closedError()));
    if (this.#writer.bufferedAmount >= this.#options.maxBufferedAmount) {
      this.#fail(this.#bufferFull(), { destroy: true });
      return observed(Promise.reject(this.#error));
    }
    // Already observed: see RecordWriter.
    return this.#writer.write(message);
  }

  /**
   * Resolves once everything written so far has been handed to the OS. Rejects with
   * ERR_SESSION_CLOSED (cause: the error) if the session failed.
   */
  flushStream(): Promise<void> {
    if (this.#state === 'closed') {
      return observed(this.#error ? Promise.reject(this.#closedError()) : Promise.resolve());
    }
    return observed(this.#writer.flushed());
  }

  /**
   * Closes the session with an authenticated close (`code` default 1000, `reason` at most
   * 123 bytes of UTF-8), after everything already written. Messages the peer sent before
   * it saw the close are still delivered. Resolves once the peer answered and the
   * transport closed; a peer that does not answer within `closeTimeout` is dropped (the
   * session then ends with TimeoutError, `limit: 'close'`). Never rejects for the peer's
   * behaviour; calling it again, or on a closed session, waits for the same end.
   */
  async close(code: number = CLOSE_NORMAL, reason = ''): Promise<void> {
    checkClose(code, reason);
    if (this.#state === 'handshake') {
      this.#fail(
        new SessionError(ErrorCode.SESSION_CLOSED, 'session closed before the handshake completed'),
        {
          destroy: true,
          quiet: true,
        },
      );
    } else if (this.#state === 'open') {
      this.#writer.flush();
      if (this.#state === 'open') this.#sendClose(code, reason);
    }
    await this.closed;
  }

  /**
   * Drops the transport at once, without an authenticated close (the peer sees
   * ERR_TRUNCATED). Pending operations reject with ERR_SESSION_CLOSED. No `'error'`.
   */
  destroy(): void {
    this.#fail(new SessionError(ErrorCode.SESSION_CLOSED, 'session destroyed'), {
      destroy: true,
      quiet: true,
    });
  }

  /**
   * A Duplex byte-stream view (the same object on every call): each write becomes one
   * message, reads deliver message bytes in order (empty messages carry no bytes),
   * `end()` closes the session with an authenticated close, the readable side ends at a
   * normal close and errors otherwise. Works with `stream.pipeline`. As with a net.Socket,
   * destroying the view — which breaking out of `for await` over it does — destroys the
   * session; use `stream.iterator({ destroyOnReturn: false })` to stop reading without that.
   */
  stream(): Duplex {
    this.#stream ??= createSessionStream(this);
    return this.#stream;
  }

  /** `for await (const message of session)`: reads until a normal close; throws the coded error otherwise. */
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

  #sendClose(code: number, reason: string): void {
    this.#localClose = { code, reason };
    this.#state = 'closing';
    try {
      this.#conn.close(code, reason);
    } catch (err) {
      this.#fail(err);
      return;
    }
    this.#keepAlive.stop();
    // The echo must be read even if the application stopped reading.
    this.#resumeTransport();
    const ms = this.#options.closeTimeout;
    this.#closeTimer = setTimeout(() => this.#fail(new TimeoutError('close', ms), { destroy: true }), ms);
    this.#closeTimer.unref();
  }

  #onData(chunk: Buffer | Uint8Array | string): void {
    if (this.#state === 'closed') return;
    this.#keepAlive.touch();
    // Replies written in 'message' listeners are sealed when each record's messages have been
    // delivered (#onDelivered), without a microtask; endDelivery() gives anything left one.
    const writer = this.#writer;
    writer.beginDelivery();
    try {
      this.#conn.receive(asBuffer(chunk));
    } catch (err) {
      this.#fail(err);
    } finally {
      writer.endDelivery();
    }
  }

  #onEnd(): void {
    if (this.#state === 'closed') {
      this.#endTransport();
      return;
    }
    this.#fail(
      this.#state === 'handshake'
        ? new HandshakeError(
            ErrorCode.HANDSHAKE,
            'handshake: the peer closed the connection before the handshake completed',
          )
        : new SessionError(
            ErrorCode.TRUNCATED,
            'the transport ended without an authenticated close: messages may be missing',
          ),
    );
  }

  #onTransportError(err: Error): void {
    if (this.#state === 'closed') {
      debug('transport error after close: %s', (err as NodeJS.ErrnoException).code ?? err.message);
      return;
    }
    this.#fail(new SessionError(ErrorCode.TRANSPORT, `transport failed: ${err.message}`, { cause: err }), {
      destroy: true,
    });
  }

  #onTransportClose(): void {
    if (this.#transportClosed) return;
    this.#transportClosed = true;
    if (this.#state !== 'closed') {
      this.#fail(
        this.#state === 'handshake'
          ? new HandshakeError(
              ErrorCode.HANDSHAKE,
              'handshake: the connection closed before the handshake completed',
            )
          : new SessionError(ErrorCode.TRUNCATED, 'the transport closed without an authenticated close'),
        { destroy: true },
      );
    }
    this.#clearTimers();
    this.#writer.fail(() => this.#closedError());
    this.#closedResolved = true;
    const onClosed = this.#onClosed;
    if (onClosed) {
      this.#onClosed = null;
      queueMicrotask(() => onClosed(this));
    }
    this.#resolveClosed?.();
    this.#resolveClosed = null;
    this.emit('close', this.#closeCode, this.#closeReason);
  }

  #onEstablished(info: HandshakeInfo): void {
    this.#info = info;
    this.#state = 'open';
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    this.#handshakeTimer = null;
    this.#keepAlive.start();
    debug('session established with %s (%s, %s)', this.#label(), info.suite.symmetric, info.suite.hash);
    this.#settleReady?.resolve();
    this.#settleReady = null;
  }

  #onMessage(data: Buffer): void {
    if (this.#inbound.offer(data)) return;
    if (this.#inbound.length === 0 && this.listenerCount('message') > 0) {
      this.#emitMessage(data);
      return;
    }
    this.#inbound.push(data);
    if (
      !this.#paused &&
      this.#inbound.cost >= this.#options.readableHighWaterMark &&
      this.#state === 'open'
    ) {
      this.#paused = true;
      this.#transport.pause();
      this.#keepAlive.suspend(true);
      debug('paused reading from %s: %d bytes unread', this.#label(), this.#inbound.bytes);
    }
  }

  #emitMessage(data: Buffer): void {
    try {
      this.emit('message', data);
    } catch (err) {
      // A throwing listener is the application's bug, reported as Node reports any
      // listener's exception: uncaught. The session itself is unaffected.
      process.nextTick(() => {
        throw err;
      });
    }
  }

  /** A record's messages are delivered: replies written meanwhile go out before the next record. */
  #onDelivered(): void {
    if (this.#state === 'open') this.#writer.flush();
  }

  #onNewListener(this: Session, event: string | symbol): void {
    if (event === 'message' && this.#inbound.length > 0) process.nextTick(() => this.#drainToListeners());
  }

  #drainToListeners(): void {
    const writer = this.#writer;
    writer.beginDelivery();
    try {
      while (this.#inbound.length > 0 && !this.#inbound.hasReaders && this.listenerCount('message') > 0) {
        this.#emitMessage(this.#inbound.shift()!);
        this.#onDelivered();
      }
    } finally {
      writer.endDelivery();
    }
    this.#maybeResume();
  }

  #maybeResume(): void {
    if (this.#paused && this.#inbound.cost < this.#options.readableHighWaterMark) {
      this.#paused = false;
      this.#keepAlive.suspend(false);
      // Still stalled (the peer does not read our replies): the drain resumes.
      if (this.#stalled) return;
      debug('resumed reading from %s', this.#label());
      this.#transport.resume();
    }
  }

  /** Reads again whatever paused reading: the session is ending, and its last records must be read. */
  #resumeTransport(): void {
    this.#stalled = false;
    if (this.#paused) {
      this.#paused = false;
      this.#keepAlive.suspend(false);
    }
    this.#transport.resume();
  }

  /**
   * The core wrote a reply the peer's record required (a Pong). It counts against
   * `maxBufferedAmount` like a `write()`; and if it found the transport above its high-water
   * mark, the peer is not reading what it makes us write: stop reading from it until the
   * transport drains. One flag check per reply; nothing on the message path.
   */
  #onReplied(): void {
    if (this.#state === 'closed') return;
    const t = this.#transport;
    if (this.#writer.bufferedAmount >= this.#options.maxBufferedAmount) {
      this.#fail(this.#bufferFull('replies the peer asked for'), { destroy: true });
    } else if (!this.#stalled && t.writableNeedDrain) {
      this.#stalled = true;
      t.pause();
      debug('stalled reading from %s: %d bytes unsent', this.#label(), t.writableLength);
    }
  }

  #onDrain(): void {
    this.#writer.onDrain();
    if (!this.#stalled) return;
    this.#stalled = false;
    if (this.#paused || this.#state === 'closed') return;
    debug('resumed reading from %s: replies drained', this.#label());
    this.#transport.resume();
  }

  #onPeerClosed(code: number, reason: string): void {
    const local = this.#state === 'closing' ? this.#localClose : null;
    this.#state = 'closed';
    this.#clearTimers();
    if (local) {
      this.#closeCode = local.code;
      this.#closeReason = local.reason;
      this.#inbound.end(null);
    } else {
      this.#closeCode = code;
      this.#closeReason = reason;
      this.#inbound.end(code === CLOSE_NORMAL ? null : new PeerClosedError(code, reason));
    }
    debug('session with %s closed (%d)', this.#label(), this.#closeCode);
    this.#writer.end(() => this.#closedError());
    this.#endTransport();
  }

  #decrypt(decrypt: DecryptFunction, request: DecryptRequest): void {
    const complete = (secret: Buffer | null): void => {
      if (this.#state !== 'handshake') {
        secret?.fill(0);
        return;
      }
      try {
        (this.#conn as ServerConnection).completeDecrypt(secret);
      } catch (err) {
        this.#fail(err);
      }
    };
    decrypt(request.keyIndex, request.ciphertext, this).then(complete, () => complete(null));
  }

  /**
   * Hands the client's signature to `verify`; the transport is not read meanwhile (what
   * the core already holds of the current read is queued there, bounded).
   */
  #verify(verify: VerifyFunction, request: VerifyRequest): void {
    const transport = this.#transport;
    transport.pause();
    const complete = (valid: boolean): void => {
      if (this.#state !== 'handshake') return;
      const writer = this.#writer;
      writer.beginDelivery();
      try {
        (this.#conn as ServerConnection).completeVerify(valid);
      } catch (err) {
        this.#fail(err);
      } finally {
        writer.endDelivery();
      }
      if (this.#conn.state !== 'closed' && !this.#paused && !this.#stalled) transport.resume();
    };
    verify(request, this).then(complete, () => complete(false));
  }

  /**
   * Ends the session because of `err`: sends the peer an alert when the core says one is
   * due, settles every pending operation with the error and ends (or destroys) the transport.
   */
  #fail(err: unknown, how: { destroy?: boolean; quiet?: boolean } = {}): void {
    if (this.#state === 'closed') {
      if (how.destroy) this.#transport.destroy();
      return;
    }
    const error = toSessionError(err, this.#state === 'handshake');
    this.#state = 'closed';
    this.#error = error;
    this.#closeCode = CLOSE_ABNORMAL;
    this.#closeReason = '';
    debug('session with %s failed: %s %s', this.#label(), error.code, error.message);
    try {
      this.#conn.fail(error);
    } catch (alertError) {
      debug('could not send alert: %s', (alertError as Error).message);
    }
    this.#clearTimers();
    this.#settleReady?.reject(error);
    this.#settleReady = null;
    this.#inbound.end(error);
    this.#writer.fail(error);
    if (how.destroy) this.#transport.destroy();
    else this.#endTransport();
    if (!how.quiet && this.listenerCount('error') > 0) this.emit('error', error);
  }

  /** Ends our side after the session is over; drops the transport if it lingers. */
  #endTransport(): void {
    const t = this.#transport;
    this.#resumeTransport();
    if (!t.writableEnded && !t.destroyed) t.end();
    if (!this.#transportClosed && !this.#destroyTimer) {
      this.#destroyTimer = setTimeout(() => t.destroy(), this.#options.closeTimeout);
      this.#destroyTimer.unref();
    }
  }

  #clearTimers(): void {
    this.#keepAlive.stop();
    if (this.#handshakeTimer) clearTimeout(this.#handshakeTimer);
    if (this.#closeTimer) clearTimeout(this.#closeTimer);
    this.#handshakeTimer = null;
    this.#closeTimer = null;
    if (this.#transportClosed && this.#destroyTimer) {
      clearTimeout(this.#destroyTimer);
      this.#destroyTimer = null;
    }
  }

  #bufferFull(what?: string): SessionError {
    const unsent = this.#writer.bufferedAmount;
    const max = this.#options.maxBufferedAmount;
    return new SessionError(
      ErrorCode.BUFFER_FULL,
      what
        ? `write buffer full: the peer does not read; ${unsent} bytes not yet sent with ${what} ` +
            `(maxBufferedAmount ${max})`
        : `write buffer full: ${unsent} bytes not yet sent ` +
            `(maxBufferedAmount ${max}); wait for write() before writing more`,
    );
  }

  /** The peer kept us stalled (it does not read the replies it asks for) for `idleTimeout`. */
  #stallTimedOut(): SessionError {
    return new SessionError(
      ErrorCode.BUFFER_FULL,
      `the peer does not read: ${this.#transport.writableLength} bytes unsent, and nothing read from it ` +
        `for ${this.#options.idleTimeout} ms (idleTimeout) while it waits for the replies it asked for`,
    );
  }

  #closedError(): SessionError {
    if (this.#state === 'handshake') {
      return new SessionError(
        ErrorCode.SESSION_CLOSED,
        'session is not open yet: the handshake is not complete',
      );
    }
    const cause = this.#error;
    return new SessionError(
      ErrorCode.SESSION_CLOSED,
      cause ? `session is closed (${cause.code}: ${cause.message})` : 'session is closed',
      cause ? { cause } : undefined,
    );
  }

  #label(): string {
    const t = this.#transport;
    if (t instanceof Socket && t.remoteAddress) return `${t.remoteAddress}:${t.remotePort}`;
    return this.#conn instanceof ServerConnection ? 'client' : 'server';
  }

  static {
    /**
     * The callbacks of a session's core (ConnectionHandler), writer and keepalive, as the
     * prototype methods of one small object per session rather than one closure per
     * callback and session: an idle server holds many sessions. Defined here, in Session's
     * body, for access to its private members. Each part calls them as methods of this object.
     */
    class Hooks implements ConnectionHandler, RecordWriterOptions, KeepAliveOptions {
      constructor(protected readonly session: Session) {}

      get idleTimeout(): number {
        return this.session.#options.idleTimeout;
      }

      get keepAliveInterval(): number {
        return this.session.#options.keepAliveInterval;
      }

      send(data: Buffer): void {
        this.session.#writer.send(data);
      }

      established(info: HandshakeInfo): void {
        this.session.#onEstablished(info);
      }

      message(data: Buffer): void {
        this.session.#onMessage(data);
      }

      peerClosed(code: number, reason: string): void {
        this.session.#onPeerClosed(code, reason);
      }

      flush(): void {
        this.session.#writer.flush();
      }

      delivered(): void {
        this.session.#onDelivered();
      }

      onSealError(err: unknown): void {
        this.session.#fail(err);
      }

      ping(): void {
        const session = this.session;
        if (session.#state !== 'open') return;
        try {
          session.#conn.ping();
          // Silent for a whole interval: the cipher contexts can go until the next record.
          session.#conn.releaseIdle();
        } catch (err) {
          session.#fail(err);
        }
      }

      timeout(): void {
        const session = this.session;
        session.#fail(
          session.#stalled
            ? session.#stallTimedOut()
            : new TimeoutError('idle', session.#options.idleTimeout),
          { destroy: true },
        );
      }

      replied(): void {
        this.session.#onReplied();
      }
    }

    /** A server session whose RSA decryption runs elsewhere (the server's worker pool). */
    class DecryptHooks extends Hooks implements ServerConnectionHandler {
      readonly #decryptFn: DecryptFunction;

      constructor(session: Session, decrypt: DecryptFunction) {
        super(session);
        this.#decryptFn = decrypt;
      }

      decryptSecret(request: DecryptRequest): void {
        this.session.#decrypt(this.#decryptFn, request);
      }
    }

    /** A server session whose client-signature verification runs there too. */
    class VaultHooks extends DecryptHooks {
      readonly #verifyFn: VerifyFunction;

      constructor(session: Session, decrypt: DecryptFunction, verify: VerifyFunction) {
        super(session, decrypt);
        this.#verifyFn = verify;
      }

      verifyClientAuth(request: VerifyRequest): void {
        this.session.#verify(this.#verifyFn, request);
      }
    }

    /** A client session that decides on the key the server sends (trust on first use). */
    class TrustHooks extends Hooks implements ClientConnectionHandler {
      readonly #decide: (key: PublicKey) => Promise<void>;

      constructor(session: Session, decide: (key: PublicKey) => Promise<void>) {
        super(session);
        this.#decide = decide;
      }

      serverKey(key: PublicKey): void {
        const session = this.session;
        this.#decide(key).then(
          () => {
            if (session.#state !== 'handshake') return;
            try {
              (session.#conn as ClientConnection).useServerKey(key);
            } catch (err) {
              session.#fail(err);
            }
          },
          (err: unknown) => session.#fail(err),
        );
      }
    }

    createHooks = (session, init) => {
      if (init.role === 'server') {
        if (!init.decrypt) return new Hooks(session);
        return init.verify
          ? new VaultHooks(session, init.decrypt, init.verify)
          : new DecryptHooks(session, init.decrypt);
      }
      return init.decideServerKey ? new TrustHooks(session, init.decideServerKey) : new Hooks(session);
    };
  }
}
