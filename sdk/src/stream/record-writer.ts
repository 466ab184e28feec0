/**
 * The outbound side of a session. `write()` hands each message to the core's pending
 * batch at once (its bytes are copied there, so the caller may reuse its buffer); the
 * batch is sealed on a microtask, so messages written in the same tick share records and
 * a lone message is never held past the current tick (replies written while the session
 * delivers received messages are sealed as soon as the record that carried them is done).
 * The core seals a batch early when it would outgrow a record, and sends a message too big
 * for a batch at once, so order is always the order of `write()` calls. Records sealed
 * together reach the transport as one write (corked when there are several).
 *
 * Writes queued between two seals share one promise: it resolves once their records are
 * in the transport's buffer and the transport is below its high-water mark, otherwise on
 * the next 'drain'. If the session fails first, they all reject, including any whose
 * records had already been sealed early (a full batch, a large message).
 *
 * Records the core produces during a call are collected and written after it returns, so
 * a synchronous peer (an in-memory duplex) that answers inside our transport write never
 * re-enters the session while the core is half-way through a call. (Replies are also
 * written while the core is receiving: an answer that arrives then is only queued by the
 * frame reader, behind the frames still being handled.) `flushed()` resolves once every
 * record so far has been handed to the OS (the transport's write callbacks ran).
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { debug } from '../common/debug.js';
import { noop } from '../common/deferred.js';
import { sentRecords } from '../protocol/record-pool.js';

/** The core's batching API (protocol/message-sender.ts). Each call may throw. */
export interface Outbound {
  queue(message: Buffer): void;
  /** Queues the message only if that seals nothing; false means: use queue(). */
  tryQueue(message: Buffer): boolean;
  flushQueued(): void;
  /** Bytes of queued messages not yet sealed. */
  readonly queuedBytes: number;
}

export interface RecordWriterOptions {
  /** A seal failure that is not the caller's fault: the session must end. */
  readonly onSealError: (error: unknown) => void;
}

/**
 * Whether every write's callback means its buffer is done with: a TCP (or pipe) socket's
 * callback runs once the OS has the bytes. Any other Duplex may hand the very buffer on (a
 * PassThrough, an in-memory pair) and call back before its reader is done with it; a TLS
 * socket is left out too, as it is not needed and its queueing is its own.
 */
export function writesAreCopied(transport: Duplex): boolean {
  return transport instanceof Socket && (transport as { encrypted?: boolean }).encrypted !== true;
}

/** The writes of one batch: they settle together. */
class Group {
  readonly promise: Promise<void>;
  resolve!: () => void;
  #reject!: (error: unknown) => void;

  constructor() {
    this.promise = new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.#reject = reject;
    });
  }

  reject(error: unknown): void {
    // `void session.write(x)` on a session that then fails must not become an unhandled
    // rejection: the failure is reported through read(), 'error' and 'close' anyway. A
    // handler attached before rejecting is enough (V8 reports a rejection that has none at
    // that moment), and the common case, a write that succeeds, never pays for it.
    this.promise.catch(noop);
    this.#reject(error);
  }
}

const RESOLVED = Promise.resolve();

export class RecordWriter {
  readonly #transport: Duplex;
  readonly #core: Outbound;
  readonly #options: RecordWriterOptions;
  /** Writes whose messages sit in the core's batch, not yet sealed. */
  #group: Group | null = null;
  #scheduled = false;
  /** Records collected while sealing, written together afterwards; null when not sealing. */
  #out: Buffer[] | null = null;
  #drainWaiters: Group[] = [];
  #flushWaiters: Group[] = [];
  #inFlight = 0;
  #ended = false;
  /** Depth of message deliveries under way: writes made in one are flushed when it ends. */
  #delivering = 0;
  /** The core seals large records into the send pool (`writesAreCopied`): give them back. */
  readonly #pooled: boolean;
  /** Bytes handed to the transport so far, every frame (`session.stats`). */
  bytesSent = 0;

  constructor(transport: Duplex, core: Outbound, options: RecordWriterOptions, pooled = false) {
    this.#transport = transport;
    this.#core = core;
    this.#options = options;
    this.#pooled = pooled;
  }

  /** Bytes accepted by `write()` but not yet handed to the OS. */
  get bufferedAmount(): number {
    return this.#core.queuedBytes + this.#transport.writableLength;
  }

  /** Transmits bytes the core produced. Called synchronously from the core's handler. */
  send(data: Buffer): void {
    if (this.#out) this.#out.push(data);
    else this.#transmit(data);
  }

  /** Queues one message. The caller has checked that the session is open. */
  write(message: Buffer): Promise<void> {
    let group = this.#group;
    if (!group) group = this.#group = new Group();
    // Inside a delivery the session flushes once the record's messages are delivered.
    if (!this.#scheduled && this.#delivering === 0) this.#schedule();
    // Most messages fit in the pending batch: no record is made, so nothing to collect.
    if (this.#core.tryQueue(message)) return group.promise;
    // Records the core seals while queueing (a full batch, a large message) are collected and
    // written only once queue() has returned: a synchronous peer that answers must never
    // re-enter the session while the core is in the middle of a call.
    const failure = this.#seal(message);
    if (failure && this.#group === group) {
      this.#group = null;
      group.reject(failure.error);
    }
    return group.promise;
  }

  /**
   * The session is delivering received messages: writes made meanwhile (replies from
   * 'message' listeners) are sealed by the `flush()` the session calls once each record's
   * messages are delivered, so a reply costs no microtask and the replies to one record's
   * batch of messages share records. Pair with `endDelivery()`.
   */
  beginDelivery(): void {
    this.#delivering++;
  }

  /** The delivery is over; anything still queued (the session did not flush) gets its microtask. */
  endDelivery(): void {
    this.#delivering--;
    if (this.#delivering === 0 && this.#group && !this.#scheduled && !this.#ended) this.#schedule();
  }

  #schedule(): void {
    this.#scheduled = true;
    void RESOLVED.then(this.#flushTask);
  }

  /** Seals every queued message now. */
  flush(): void {
    const group = this.#group;
    if (!group) return;
    this.#group = null;
    const failure = this.#seal(null);
    if (failure) group.reject(failure.error);
    else this.#settle(group);
  }

  /** Resolves once everything written so far has been handed to the OS. */
  flushed(): Promise<void> {
    this.flush();
    if (this.#inFlight === 0) return Promise.resolve();
    const group = new Group();
    this.#flushWaiters.push(group);
    return group.promise;
  }

  /** The transport drained: writes waiting for room resolve. */
  onDrain(): void {
    const waiters = this.#drainWaiters;
    if (waiters.length === 0) return;
    this.#drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  /**
   * The session ended normally. Messages still queued were never sealed and reject with
   * `error` (made only then, if given as a function); writes whose records are already in
   * the transport's buffer resolve, since ending the transport flushes them.
   */
  end(error: Error | (() => Error)): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#group?.reject(typeof error === 'function' ? error() : error);
    this.#group = null;
    this.onDrain();
  }

  /**
   * The session failed: every pending write and flush rejects with `error` (given as a
   * function, it is only made if something is pending: an Error's stack costs microseconds).
   */
  fail(error: Error | (() => Error)): void {
    this.#ended = true;
    const group = this.#group;
    this.#group = null;
    if (!group && this.#drainWaiters.length === 0 && this.#flushWaiters.length === 0) return;
    const e = typeof error === 'function' ? error() : error;
    group?.reject(e);
    for (const list of [this.#drainWaiters, this.#flushWaiters]) {
      for (const w of list) w.reject(e);
      list.length = 0;
    }
  }

  readonly #flushTask = (): void => {
    this.#scheduled = false;
    if (!this.#ended) this.flush();
  };

  /**
   * Queues `message` in the core (or, given null, seals the core's batch), then writes the
   * records that made: one write for one record, corked for several. Returns the error if
   * sealing failed (the session is then failing).
   */
  #seal(message: Buffer | null): { error: unknown } | null {
    if (this.#out) {
      // Nested (a record written synchronously made an in-memory peer answer): the outer
      // call writes everything in order.
      this.#coreCall(message);
      return null;
    }
    const out: Buffer[] = [];
    this.#out = out;
    let failure: { error: unknown } | null = null;
    try {
      this.#coreCall(message);
    } catch (error) {
      failure = { error };
    } finally {
      this.#out = null;
    }
    if (out.length === 1) {
      this.#transmit(out[0]!);
    } else if (out.length > 1) {
      const t = this.#transport;
      t.cork();
      for (const record of out) this.#transmit(record);
      t.uncork();
    }
    if (failure) this.#options.onSealError(failure.error);
    return failure;
  }

  #coreCall(message: Buffer | null): void {
    if (message) this.#core.queue(message);
    else this.#core.flushQueued();
  }

  #transmit(data: Buffer): void {
    const t = this.#transport;
    if (t.destroyed || t.writableEnded) {
      debug('dropping %d bytes: transport already ended', data.length);
      return;
    }
    this.#inFlight++;
    this.bytesSent += data.length;
    if (this.#pooled && sentRecords.lends(data)) {
      // Its own callback: the buffer goes back once the OS has its bytes. A failed write may
      // leave it anywhere, so it is then only collected, never lent again.
      t.write(data, (err?: Error | null) => {
        if (!err) sentRecords.release(data);
        this.#written(err);
      });
    } else {
      t.write(data, this.#written);
    }
  }

  #settle(group: Group): void {
    if (this.#transport.writableNeedDrain && !this.#ended) this.#drainWaiters.push(group);
    else group.resolve();
  }

  readonly #written = (err?: Error | null): void => {
    this.#inFlight--;
    // A failed write destroys the transport; the session then fails every waiter with its
    // own coded error through fail().
    if (this.#inFlight > 0 || err) return;
    const waiters = this.#flushWaiters;
    if (waiters.length === 0) return;
    this.#flushWaiters = [];
    for (const w of waiters) w.resolve();
  };
}
