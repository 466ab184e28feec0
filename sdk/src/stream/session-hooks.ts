/**
 * The per-message path of a session, as methods of its state object: transport data into
 * the core, the core's callbacks (records to send, messages, the handshake's end, the
 * peer's close), delivery of received messages, and the keepalive's ping and timeout.
 *
 * Delivery of received messages, in this order of preference:
 *   1. the oldest pending `read()` (and so the async iterator and `stream()`),
 *   2. otherwise, if the session has `'message'` listeners and nothing is queued, `'message'`,
 *   3. otherwise the queue, read by later `read()` calls — or emitted to `'message'`
 *      listeners as soon as one is added.
 * When the queue holds `readableHighWaterMark` bytes or more (each message counted with a
 * fixed overhead, so floods of tiny messages count too), the transport is paused until
 * reads bring it below again (session-flow.ts).
 */
import { Buffer } from 'node:buffer';
import { ClientConnection, ServerConnection, TimeoutError } from '../protocol/index.js';
import type { HandshakeInfo, SessionTicket } from '../protocol/index.js';
import { debug, throwLater } from '../common/debug.js';
import { SessionCore } from './session-core.js';
import {
  emitEndIfDue,
  fail,
  peerClosed,
  peerEnded,
  transportClosed,
  transportEnded,
  transportFailed,
} from './session-end.js';
import {
  bufferFull,
  maybeResume,
  pauseReading,
  stallIfUnread,
  stallTimedOut,
  unstall,
} from './session-flow.js';
import { takeFeed } from './borrowed-reads.js';
import { asBuffer } from './session-util.js';
import { observeKeyUpdate } from './session-observe.js';

export class SessionHooks extends SessionCore {
  /** Listens to the transport, arms the handshake timer and, for a client, sends its hello. */
  start(): void {
    const transport = this.transport;
    // Bound methods rather than arrow-function fields: the same one function object each,
    // without a context kept alive for them.
    // A socket reading into the shared buffer (borrowed-reads.ts: a client's, or one
    // borrowReads made) hands chunks over directly; any other transport through 'data'; one
    // whose reads another taker has is a TypeError (its 'data' would never come).
    const feed = takeFeed(transport);
    if (feed) feed.attach(this.onBorrowed.bind(this));
    else transport.on('data', this.onData.bind(this));
    transport.on('end', this.onEnd.bind(this));
    transport.on('error', this.onTransportError.bind(this));
    transport.on('close', this.onTransportClose.bind(this));
    transport.on('drain', this.onDrain.bind(this));
    const ms = this.options.handshakeTimeout;
    this.handshakeTimer = setTimeout(
      () => fail(this, new TimeoutError('handshake', ms), { destroy: true }),
      ms,
    );
    this.handshakeTimer.unref();
    if (transport.destroyed) {
      process.nextTick(() => this.onTransportClose());
    } else if (this.conn instanceof ClientConnection) {
      try {
        this.conn.start();
      } catch (err) {
        fail(this, err);
      }
    }
  }

  /**
   * A chunk valid only during this call (borrowed-reads.ts). Once open, the core keeps
   * nothing of a chunk; during the handshake it may keep frames, so they are copied.
   */
  onBorrowed(chunk: Buffer): void {
    this.onData(this.state === 'handshake' ? Buffer.from(chunk) : chunk);
  }

  onData(chunk: Buffer | Uint8Array | string): void {
    if (this.state === 'closed') return;
    // Counted as the core gets it: a string chunk (a transport with setEncoding) as its bytes.
    const data = asBuffer(chunk);
    this.bytesReceived += data.length;
    this.keepAlive.touch();
    // Replies written in 'message' listeners are sealed when each record's messages have been
    // delivered (delivered()), without a microtask; endDelivery() gives anything left one.
    const writer = this.writer;
    // During the handshake the core may answer one read with several frames (a resumed
    // server's ServerHello and ServerFinished): corked, they leave in one write.
    const corked = this.state === 'handshake';
    if (corked) this.transport.cork();
    writer.beginDelivery();
    try {
      this.conn.receive(data);
    } catch (err) {
      fail(this, err);
    } finally {
      writer.endDelivery();
      if (corked) this.transport.uncork();
    }
  }

  onEnd(): void {
    transportEnded(this);
  }

  onTransportError(err: Error): void {
    transportFailed(this, err);
  }

  onTransportClose(): void {
    transportClosed(this);
  }

  onDrain(): void {
    this.writer.onDrain();
    if (this.stalled) unstall(this);
  }

  send(data: Buffer): void {
    this.writer.send(data);
  }

  /** A client's ticket from the server (§6a): to the session's ticket store, or wiped. */
  newTicket(ticket: SessionTicket): void {
    if (this.ticketSink) this.ticketSink(ticket);
    else ticket.psk.fill(0);
  }

  /** A KeyUpdate went out or came in (observe/: `secsess:session:keyupdate`). */
  keyUpdated(direction: 'send' | 'receive', generation: number): void {
    observeKeyUpdate(this, direction, generation);
  }

  established(info: HandshakeInfo): void {
    this.info = info;
    this.state = 'open';
    if (this.handshakeTimer) clearTimeout(this.handshakeTimer);
    this.handshakeTimer = null;
    this.keepAlive.start();
    debug('session established with %s (%s, %s)', this.label(), info.suite.symmetric, info.suite.hash);
    this.settleReady?.resolve();
    this.settleReady = null;
  }

  /** `read()`: the next message (now, or when it comes); reading resumes and 'end' follows as due. */
  readNext(signal: AbortSignal | undefined): Promise<Buffer | null> {
    const message = this.inbound.read(signal);
    maybeResume(this);
    // This read took the last message before the peer's End: 'end' follows, on the next
    // tick (as a Readable's 'end').
    if (this.readableEnded && !this.endEmitted && this.inbound.length === 0) {
      process.nextTick(emitEndIfDue, this);
    }
    return message;
  }

  message(data: Buffer): void {
    const inbound = this.inbound;
    if (inbound.offer(data)) return;
    // Nothing queued before it: straight to the listeners. emit() says whether there were
    // any (cheaper per message than asking listenerCount() first); with none it is queued.
    if (inbound.length === 0 && this.emitMessage(data)) return;
    inbound.push(data);
    if (!this.paused && inbound.cost >= this.options.readableHighWaterMark && this.state === 'open') {
      pauseReading(this);
    }
  }

  /** Emits `'message'`; returns whether it had listeners. */
  emitMessage(data: Buffer): boolean {
    // A throwing listener is the application's bug: uncaught; the session is unaffected.
    // (emitUncaught's job, written out here: its rest parameter costs on every message.)
    try {
      return this.session.emit('message', data);
    } catch (err) {
      throwLater(err);
      return true;
    }
  }

  /** A record's messages are delivered: replies written meanwhile go out before the next record. */
  delivered(): void {
    if (this.state === 'open') this.writer.flush();
  }

  /**
   * A listener was added to the session: messages queued with nobody to receive them go to
   * a new `'message'` listener, and an `'end'` that was due with nobody listening to a new
   * `'end'` listener (once it is added: on the next tick).
   */
  listenerAdded(event: string | symbol): void {
    if (event === 'message' && this.inbound.length > 0) process.nextTick(() => this.drainToListeners());
    else if (event === 'end' && this.readableEnded && !this.endEmitted) process.nextTick(emitEndIfDue, this);
  }

  /** Queued messages go to `'message'` listeners (one was added), while no `read()` waits. */
  drainToListeners(): void {
    const writer = this.writer;
    const inbound = this.inbound;
    writer.beginDelivery();
    try {
      while (inbound.length > 0 && !inbound.hasReaders && this.session.listenerCount('message') > 0) {
        this.emitMessage(inbound.shift()!);
        this.delivered();
      }
    } finally {
      writer.endDelivery();
    }
    maybeResume(this);
    // The last message before the peer's End was delivered: 'end' follows it.
    emitEndIfDue(this);
  }

  peerClosed(code: number, reason: string): void {
    peerClosed(this, code, reason);
  }

  peerEnded(): void {
    peerEnded(this);
  }

  flush(): void {
    this.writer.flush();
  }

  /** See `Session[kIssueTicket]`. */
  issueTicket(): void {
    const conn = this.conn;
    if (!(conn instanceof ServerConnection) || this.state !== 'open') return;
    try {
      conn.issueTicket();
    } catch (err) {
      fail(this, err);
    }
  }

  onSealError(err: unknown): void {
    fail(this, err);
  }

  ping(): void {
    if (this.state !== 'open') return;
    try {
      this.conn.ping();
      // Silent for a whole interval: the cipher contexts can go until the next record.
      this.conn.releaseIdle();
    } catch (err) {
      fail(this, err);
    }
  }

  timeout(): void {
    fail(this, this.stalled ? stallTimedOut(this) : new TimeoutError('idle', this.options.idleTimeout), {
      destroy: true,
    });
  }

  /**
   * The core wrote a reply the peer's record required (a Pong). It counts against
   * `maxBufferedAmount` like a `write()`, and may stall reading (session-flow.ts). One
   * flag check per reply; nothing on the message path.
   */
  replied(): void {
    if (this.state === 'closed') return;
    if (this.writer.bufferedAmount >= this.options.maxBufferedAmount) {
      fail(this, bufferFull(this, 'replies the peer asked for'), { destroy: true });
    } else {
      stallIfUnread(this);
    }
  }
}
