/**
 * The outbound side of a session. Small messages written in the same tick are queued and
 * sealed together on a microtask (the core's `writeMany` packs them into shared records);
 * a lone message is never held past the current tick. Large messages flush the queue and
 * are sealed at once, so order is always the order of `write()` calls. Records reach the
 * transport corked, one writev per flush.
 *
 * `write()` resolves once the message's records are in the transport's buffer and the
 * transport is below its high-water mark; otherwise on the next 'drain'. `flushed()`
 * resolves once every record so far has been handed to the OS (the transport's write
 * callbacks ran).
 */
import type { Duplex } from 'node:stream';
import { debug } from './debug.js';

interface Waiter {
  resolve(): void;
  reject(error: unknown): void;
}

export interface RecordWriterOptions {
  /** Seals messages into records; the records come back through `send()`. May throw. */
  readonly seal: (messages: readonly Buffer[]) => void;
  /** Messages larger than this are not queued for batching. */
  readonly batchLimit: number;
  /** A seal failure that is not the caller's fault: the session must end. */
  readonly onSealError: (error: unknown) => void;
}

export class RecordWriter {
  readonly #transport: Duplex;
  readonly #options: RecordWriterOptions;
  #queue: Buffer[] = [];
  #queueBytes = 0;
  #queueWaiters: Waiter[] = [];
  #scheduled = false;
  #drainWaiters: Waiter[] = [];
  #flushWaiters: Waiter[] = [];
  #inFlight = 0;
  #ended = false;

  constructor(transport: Duplex, options: RecordWriterOptions) {
    this.#transport = transport;
    this.#options = options;
  }

  /** Bytes accepted by `write()` but not yet handed to the OS. */
  get bufferedAmount(): number {
    return this.#queueBytes + this.#transport.writableLength;
  }

  /** Transmits bytes the core produced. Called synchronously from the core's handler. */
  send(data: Buffer): void {
    const t = this.#transport;
    if (t.destroyed || t.writableEnded) {
      debug('dropping %d bytes: transport already ended', data.length);
      return;
    }
    this.#inFlight++;
    t.write(data, this.#written);
  }

  /** Queues (or seals at once) one message. The caller has checked that the session is open. */
  write(message: Buffer): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = { resolve, reject };
      if (message.length > this.#options.batchLimit) {
        this.flush();
        if (this.#sealNow([message], [waiter])) this.#settle([waiter]);
        return;
      }
      // Copy: the message is sealed later in this tick and the caller may reuse its buffer.
      this.#queue.push(Buffer.from(message));
      this.#queueBytes += message.length;
      this.#queueWaiters.push(waiter);
      if (!this.#scheduled) {
        this.#scheduled = true;
        queueMicrotask(this.#flushTask);
      }
    });
  }

  /** Seals every queued message now. */
  flush(): void {
    if (this.#queue.length === 0) return;
    const messages = this.#queue;
    const waiters = this.#queueWaiters;
    this.#queue = [];
    this.#queueBytes = 0;
    this.#queueWaiters = [];
    if (this.#sealNow(messages, waiters)) this.#settle(waiters);
  }

  /** Resolves once everything written so far has been handed to the OS. */
  flushed(): Promise<void> {
    this.flush();
    if (this.#inFlight === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => this.#flushWaiters.push({ resolve, reject }));
  }

  /** The transport drained: writes waiting for room resolve. */
  onDrain(): void {
    const waiters = this.#drainWaiters;
    this.#drainWaiters = [];
    for (const w of waiters) w.resolve();
  }

  /**
   * The session ended normally. Messages still queued were never sealed and reject with
   * `error`; writes whose records are already in the transport's buffer resolve, since
   * ending the transport flushes them.
   */
  end(error: Error): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#rejectQueued(error);
    this.onDrain();
  }

  /** The session failed: every pending write and flush rejects with `error`. */
  fail(error: Error): void {
    this.#ended = true;
    this.#rejectQueued(error);
    for (const list of [this.#drainWaiters, this.#flushWaiters]) {
      for (const w of list) w.reject(error);
      list.length = 0;
    }
  }

  #rejectQueued(error: Error): void {
    const waiters = this.#queueWaiters;
    this.#queue = [];
    this.#queueBytes = 0;
    this.#queueWaiters = [];
    for (const w of waiters) w.reject(error);
  }

  readonly #flushTask = (): void => {
    this.#scheduled = false;
    if (!this.#ended) this.flush();
  };

  /** Returns false (and rejects `waiters`) if sealing failed. */
  #sealNow(messages: readonly Buffer[], waiters: readonly Waiter[]): boolean {
    const t = this.#transport;
    t.cork();
    try {
      this.#options.seal(messages);
      return true;
    } catch (err) {
      for (const w of waiters) w.reject(err);
      this.#options.onSealError(err);
      return false;
    } finally {
      t.uncork();
    }
  }

  #settle(waiters: readonly Waiter[]): void {
    if (this.#transport.writableNeedDrain && !this.#ended) {
      for (const w of waiters) this.#drainWaiters.push(w);
    } else {
      for (const w of waiters) w.resolve();
    }
  }

  readonly #written = (err?: Error | null): void => {
    this.#inFlight--;
    // A failed write destroys the transport; the session then fails every waiter with its
    // own coded error through fail().
    if (this.#inFlight > 0 || err) return;
    const waiters = this.#flushWaiters;
    this.#flushWaiters = [];
    for (const w of waiters) w.resolve();
  };
}
