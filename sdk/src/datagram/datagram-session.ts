/**
 * An open secure datagram session (PROTOCOL.md Part II, §D4–§D8): the public API and its
 * open-phase rules. Its owner (DatagramServer, DatagramClient, a stream session's channel)
 * ran the handshake, routes this session's Record packets to `receive()` and sends what
 * the session hands to `transmit`; the record contexts (protocol/datagram/contexts.ts) do
 * the epochs, replay windows and budgets.
 *
 * Messages are unreliable and unordered by design: each `send()` is one datagram, delivered
 * at most once, maybe never. The session ends by a Close record (ours or the peer's; the
 * peer's may be lost, then its idle timeout ends it), a failure (`'error'` if listened to,
 * at most once), or `destroy()`; `'close'` is emitted exactly once in every case.
 */
import { Buffer } from 'node:buffer';
import { EventEmitter, captureRejectionSymbol } from 'node:events';
import type { PublicKey } from '@secsess/keys';
import { DatagramRecordType } from '../protocol/datagram/constants.js';
import type { DatagramInbound, DatagramOutbound } from '../protocol/datagram/contexts.js';
import { CLOSE_NORMAL, ErrorCode, PeerClosedError, SessionError, TimeoutError } from '../protocol/index.js';
import type { Suite } from '../protocol/index.js';
import { debug, describeError, emitUncaught, warnListenerFailed } from '../common/debug.js';
import { CLOSE_ABNORMAL } from '../common/defaults.js';
import { deferred } from '../common/deferred.js';
import { checkClose, toBuffer, toSessionError } from '../stream/session-util.js';
import type { MessageData } from '../stream/session-util.js';
import { Inbox } from './inbox.js';
import { Liveness, Reanswers, resenderFor } from './liveness.js';
import type { Resender } from './liveness.js';
import { publishClose, publishEpoch, publishOpen } from './observe.js';
import type { LocalAddress } from './observe.js';
import { SessionSender } from './session-sender.js';
import { alertError, alertFor, checkRecord, closedError, encodeClose } from './session-records.js';
import type {
  DatagramRemote,
  DatagramSessionCounters,
  DatagramSessionEvents,
  DatagramSessionInit,
  DatagramSessionState,
  DatagramSource,
} from './session-types.js';
import { kEstablished } from './session-types.js';

export type {
  DatagramRemote,
  DatagramSessionCounters,
  DatagramSessionEvents,
  DatagramSessionState,
  DatagramSource,
} from './session-types.js';

/** Set by DatagramSession's static block: the one way to the private constructor. */
let construct: (init: DatagramSessionInit) => DatagramSession;

/**
 * @internal Makes a session from its owner's handshake (or channel). DatagramSession's
 * constructor is private: sessions come from DatagramServer, DatagramClient and channels.
 */
export function createDatagramSession(init: DatagramSessionInit): DatagramSession {
  return construct(init);
}

/** The one empty payload (Ping, HandshakeDone). */
const EMPTY = Buffer.alloc(0);

/**
 * A secure datagram session. Obtain one from `DatagramServer`'s `'session'` event or
 * `DatagramClient.connect()`; never construct it directly.
 */
export class DatagramSession extends EventEmitter<DatagramSessionEvents> {
  readonly #role: 'client' | 'server';
  readonly #outbound: DatagramOutbound;
  readonly #inbound: DatagramInbound;
  readonly #sender: SessionSender;
  readonly #info: DatagramSessionInit['info'];
  readonly #onEnd: DatagramSessionInit['onEnd'];
  readonly #liveness: Liveness;
  readonly #resender: Resender | null;
  readonly #unread: Inbox;
  readonly #maxMessageSize: number;
  #remote: DatagramRemote;
  #state: DatagramSessionState = 'open';
  #error: SessionError | null = null;
  #closeCode: number | null = null;
  #closeReason: string | null = null;
  /** A server's HandshakeDone re-answers (§D3), null where none are due. */
  readonly #reanswers: Reanswers | null;
  readonly #closed = deferred<void>();
  readonly #tally = { delivered: 0, sent: 0, sendDropped: 0, pingsSent: 0, pingsReceived: 0 };
  /** Record packets handed to `receive()` and their bytes; records that opened there; their epoch. */
  readonly #received = { bytes: 0, records: 0, epoch: 0 };
  /** When the owner declared the session established (performance.now()); -1 before. */
  #openedAt = -1;

  static {
    construct = (init) => new DatagramSession(init);
  }

  /** Private: sessions come from DatagramServer, DatagramClient and channels. */
  private constructor(init: DatagramSessionInit) {
    // A rejected async listener fails this session alone, never the process.
    super({ captureRejections: true });
    this.#role = init.role;
    this.#outbound = init.outbound;
    this.#inbound = init.inbound;
    this.#received.epoch = init.inbound.epoch;
    this.#sender = new SessionSender(init, {
      remote: () => this.#remote,
      sent: () => this.#liveness.sent(),
      failed: (err, alert) => this.#fail(err, alert),
      moved: (epoch) => publishEpoch(this, this.#role, 'send', epoch),
    });
    this.#info = init.info;
    this.#onEnd = init.onEnd;
    this.#remote = init.remote;
    this.#unread = new Inbox(init.options.maxUnreadBytes);
    const done = init.role === 'server' ? init.handshakeDone : undefined;
    this.#reanswers = done ? new Reanswers() : null;
    this.#maxMessageSize = Math.max(0, init.outbound.maxPayload(init.options.maxDatagramSize));
    this.#liveness = new Liveness({
      keepAliveInterval: init.options.keepAliveInterval,
      idleTimeout: init.options.idleTimeout,
      ping: () => this.#ping(),
      timeout: () => this.#fail(new TimeoutError('idle', init.options.idleTimeout)),
    });
    this.#resender = resenderFor(init, {
      ping: () => this.#control(DatagramRecordType.Ping, EMPTY, true),
      packet: (packet) => this.#sender.packet(packet),
      giveUp: (err) => this.#fail(err),
    });
    (this as EventEmitter).on('newListener', this.#onNewListener);
    this.#liveness.start();
    this.#resender?.start();
    if (done === true) this.#control(DatagramRecordType.HandshakeDone, EMPTY, true);
    else if (done) this.#sender.packet(done);
  }

  /** Where the session is in its life. */
  get state(): DatagramSessionState {
    return this.#state;
  }

  /** The algorithm suite in use. */
  get suite(): Suite {
    return this.#info.suite;
  }

  /** The server's public key (null for a channel opened from a stream session that did not record it). */
  get serverKey(): PublicKey | null {
    return this.#info.serverKey;
  }

  /** The client's public key if the client authenticated, else null. */
  get clientKey(): PublicKey | null {
    return this.#info.clientKey;
  }

  /** The address packets go to (a server's session follows the client's moves, §D7). */
  get remoteAddress(): string {
    return this.#remote.address;
  }

  get remotePort(): number {
    return this.#remote.port;
  }

  get remoteFamily(): 'IPv4' | 'IPv6' {
    return this.#remote.family;
  }

  /** The largest message `send()` accepts: what fits one `maxDatagramSize` datagram. */
  get maxMessageSize(): number {
    return this.#maxMessageSize;
  }

  /** Bytes handed to the socket and not yet sent (bounded by `maxQueuedBytes`). */
  get queuedBytes(): number {
    return this.#sender.queuedBytes;
  }

  /** The close code once closed: the Close record's, or 1006 when there was none. */
  get closeCode(): number | null {
    return this.#closeCode;
  }

  get closeReason(): string | null {
    return this.#closeReason;
  }

  /** A snapshot of what the session counted (§D6). */
  get counters(): DatagramSessionCounters {
    return {
      ...this.#inbound.counters,
      ...this.#tally,
      unreadDropped: this.#unread.dropped,
      recordsSent: this.#sender.records,
      bytesSent: this.#sender.bytes,
      bytesReceived: this.#received.bytes,
      recordsReceived: this.#received.records,
    };
  }

  /** Resolves once the session has ended (right before `'close'`). Never rejects. */
  get closed(): Promise<void> {
    return this.#closed.promise;
  }

  /**
   * @internal The owner hands over a Record packet whose conn_id is this session's, as
   * received from `from`. Rejected packets are counted and dropped (§D4); never throws.
   */
  receive(packet: Buffer, from: DatagramSource): void {
    if (this.#state !== 'open') return;
    this.#received.bytes += packet.length;
    const result = this.#inbound.open(packet);
    if (!result.ok) {
      if (result.reason === 'duplicate' && this.#reanswers?.due(packet, this.#inbound)) {
        this.#control(DatagramRecordType.HandshakeDone, EMPTY, true);
      } else if (result.reason === 'exhausted') {
        this.#fail(
          new SessionError(ErrorCode.KEY_EXHAUSTED, 'the peer exceeded its key budget without a new epoch'),
        );
      }
      return;
    }
    this.#liveness.opened();
    this.#received.records++;
    const epoch = this.#inbound.epoch;
    if (epoch !== this.#received.epoch)
      publishEpoch(this, this.#role, 'receive', (this.#received.epoch = epoch));
    // §D3: any record from the server shows the ClientFinished arrived.
    if (this.#resender?.running) this.#resender.stop();
    if (result.advanced && this.#role === 'server') this.#follow(from);
    // An 'addressChange' listener may have ended the session.
    if (this.#state !== 'open') return;
    const { type, payload } = result;
    let close: { code: number; reason: string } | null;
    try {
      close = checkRecord(type, payload, this.#role);
    } catch (err) {
      this.#fail(err);
      return;
    }
    if (type === DatagramRecordType.Data) {
      this.#deliver(payload);
    } else if (type === DatagramRecordType.Ping) {
      this.#tally.pingsReceived++;
      this.#control(DatagramRecordType.Pong, payload, false);
    } else if (type === DatagramRecordType.Alert) {
      this.#fail(alertError(payload));
    } else if (close) {
      this.#end(
        close.code,
        close.reason,
        close.code === CLOSE_NORMAL ? null : new PeerClosedError(close.code, close.reason),
        true,
      );
    }
    // Pong and HandshakeDone only show the peer alive (above).
  }

  /** @internal Its owner hands it out (observe.ts): `secsess:session:open` now, `:close` at its end. */
  [kEstablished](local: LocalAddress): void {
    if (this.#state !== 'open' || this.#openedAt >= 0) return;
    this.#openedAt = performance.now();
    publishOpen(this, this.#role, local);
  }

  /**
   * Sends one message as one datagram. Returns false, dropping it (`counters.sendDropped`),
   * when `maxQueuedBytes` of earlier packets still wait for the socket, or (the server's
   * side of a channel) before the client's first datagram has shown its address. Throws
   * ERR_MESSAGE_TOO_LARGE (SessionError) for a message over `maxMessageSize` — never
   * fragmented — and ERR_SESSION_CLOSED once the session has ended. Delivery is not
   * guaranteed: a datagram may be lost, and nothing tells which.
   */
  send(message: MessageData): boolean {
    const data = toBuffer(message);
    if (this.#state !== 'open') throw closedError(this.#error);
    if (data.length > this.#maxMessageSize) {
      throw new SessionError(
        ErrorCode.MESSAGE_TOO_LARGE,
        `message of ${data.length} bytes does not fit one datagram (at most ${this.#maxMessageSize} bytes)`,
      );
    }
    // Port 0: a §D9 channel's server side before the client's first record: nowhere to send.
    if (this.#remote.port === 0 || !this.#sender.fits(data.length)) {
      this.#tally.sendDropped++;
      return false;
    }
    if (!this.#sender.record(DatagramRecordType.Data, data)) throw closedError(this.#error);
    this.#tally.sent++;
    return true;
  }

  /**
   * Ends the session with one Close record (`code` default 1000, `reason` at most 123
   * bytes of UTF-8); the peer may never see it (then its idle timeout ends it). Emits
   * `'close'` with the code and reason. Does nothing once the session has ended.
   */
  close(code: number = CLOSE_NORMAL, reason = ''): void {
    checkClose(code, reason);
    if (this.#state !== 'open') return;
    this.#control(DatagramRecordType.Close, encodeClose(code, reason), true);
    this.#end(code, reason, null);
  }

  /**
   * Ends the session at once, without a Close record. With `error`, the session fails with
   * it (`'error'` if listened to); without, it ends quietly. `'close'` follows (1006).
   */
  destroy(error?: Error): void {
    if (this.#state !== 'open') return;
    const e =
      error === undefined || error instanceof SessionError
        ? (error ?? null)
        : new SessionError(ErrorCode.SESSION_CLOSED, `session destroyed: ${error.message}`, { cause: error });
    this.#end(CLOSE_ABNORMAL, '', e);
  }

  /**
   * `for await (const message of session)`: every message from now on (and those received
   * before any `'message'` listener or iterator took them), ending at a Close with code
   * 1000 and throwing the coded error at any other end (PeerClosedError for another code).
   * Messages the loop does not take fast enough wait in a bounded queue (`maxUnreadBytes`;
   * beyond it the oldest are dropped, `counters.unreadDropped`). Leaving the loop keeps the
   * session open.
   */
  [Symbol.asyncIterator](): AsyncGenerator<Buffer, void, undefined> {
    return this.#unread.iterate();
  }

  /** `await using session = …`: closes the session (code 1000). */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return this.closed;
  }

  /** @internal EventEmitter's hook for a rejected async listener of this session. */
  override [captureRejectionSymbol]<K>(
    err: Error,
    _event: keyof DatagramSessionEvents | K,
    ..._args: unknown[]
  ): void {
    if (this.#state === 'open') {
      const listened = this.listenerCount('error') > 0;
      this.#fail(err);
      if (listened) return;
    } else if (err === this.#error) {
      return;
    }
    warnListenerFailed('a secsess datagram session', err);
  }

  #deliver(message: Buffer): void {
    this.#tally.delivered++;
    const listened = this.listenerCount('message') > 0;
    if (listened) this.#emit('message', message);
    if (this.#unread.iterators > 0 || !listened) this.#unread.keep(message);
  }

  #onNewListener(this: DatagramSession, event: string | symbol): void {
    if (event === 'message') {
      this.#unread.drainSoon({
        listenerCount: (e) => this.listenerCount(e),
        emit: (e, m) => this.#emit(e, m),
      });
    }
  }

  /**
   * Emits `event`; a listener's throw is rethrown on the next tick (uncaught, as the stream
   * Session does), never into the owner's socket handler or a `close()` caller. An async
   * listener's rejection fails the session instead (captureRejections).
   */
  #emit<K extends keyof DatagramSessionEvents>(event: K, ...args: DatagramSessionEvents[K]): boolean {
    return emitUncaught(this, event, ...args);
  }

  /** §D7: only an authenticated record that advanced its window moves a server's session. */
  #follow(from: DatagramSource): void {
    const r = this.#remote;
    if (from.address === r.address && from.port === r.port) return;
    this.#remote = {
      address: from.address,
      port: from.port,
      family: from.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    debug('datagram session moved to %s port %d', from.address, from.port);
    if (this.listenerCount('addressChange') > 0) this.#emit('addressChange', this.#remote);
  }

  #ping(): void {
    this.#tally.pingsSent++;
    this.#control(DatagramRecordType.Ping, EMPTY, false);
    // A session this quiet may stay so (a fleet of idle links): free the cipher contexts
    // (CBC) and an expired previous epoch's keys; the next record remakes them (~3 µs).
    if (this.#state === 'open') {
      this.#outbound.release();
      this.#inbound.release();
    }
  }

  /**
   * Seals and sends a control record. `always`: also past `maxQueuedBytes` (a Close, an
   * Alert, a HandshakeDone: one each, owed once); a Pong or Ping is dropped there instead.
   */
  #control(type: DatagramRecordType, payload: Buffer, always: boolean): void {
    if (always || this.#sender.fits(payload.length)) this.#sender.record(type, payload);
  }

  /** Fails the session with `err`: an Alert record tells the peer when one is due (§D4). */
  #fail(err: unknown, alert = true): void {
    if (this.#state !== 'open') return;
    const error = toSessionError(err, false);
    const payload = alert ? alertFor(error) : null;
    if (payload) this.#sender.alert(payload);
    this.#end(CLOSE_ABNORMAL, '', error);
  }

  /**
   * The one way a session ends: state, timers, keys, the iterator's end, then `'error'`
   * (a failure, if listened to and not quiet) and `'close'`, exactly once, and the owner.
   */
  #end(code: number, reason: string, error: SessionError | null, quiet = false): void {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    this.#closeCode = code;
    this.#closeReason = reason;
    this.#error = error;
    this.#liveness.stop();
    this.#resender?.stop();
    this.#outbound.destroy();
    this.#inbound.destroy();
    // A peer's non-normal Close ends the iterator with PeerClosedError; destroy() without an error ends it quietly.
    this.#unread.end(error);
    debug(
      'datagram session with %s port %d ended: %s',
      this.#remote.address,
      this.#remote.port,
      error ? describeError(error) : `close ${code}`,
    );
    this.#closed.resolve();
    // A listener that throws is rethrown on the next tick (#emit): the owner still gets its
    // onEnd, the 'close' listeners their event.
    if (error && !quiet && this.listenerCount('error') > 0) this.#emit('error', error);
    this.#emit('close', code, reason);
    if (this.#openedAt >= 0) publishClose(this, this.#role, this.#openedAt, { code, reason, error });
    this.#onEnd(this);
  }
}
