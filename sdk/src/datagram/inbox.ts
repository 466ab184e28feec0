/**
 * Received messages of a datagram session waiting for an async iterator (or for the first
 * `'message'` listener): a bounded queue. Datagrams are unreliable anyway, so a reader that
 * falls behind loses the oldest messages (counted) rather than letting memory grow; a
 * stream session would pause its transport instead, which a UDP peer would not notice.
 */
import type { Buffer } from 'node:buffer';
import { MessageQueue } from '../stream/message-queue.js';

export class Inbox {
  readonly #queue = new MessageQueue();
  readonly #maxBytes: number;
  /** Iterators running over the session now. */
  iterators = 0;
  /** Messages dropped, oldest first, past the bound. */
  dropped = 0;

  /** @param maxBytes Bytes plus 96 per message kept at most (one message is always kept). */
  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
  }

  get length(): number {
    return this.#queue.length;
  }

  /** Hands `message` to a waiting iterator, or keeps it, dropping the oldest beyond the bound. */
  keep(message: Buffer): void {
    const queue = this.#queue;
    if (queue.offer(message)) return;
    queue.push(message);
    while (queue.length > 1 && queue.cost > this.#maxBytes) {
      queue.shift();
      this.dropped++;
    }
  }

  /** The next message; null after the end once empty; rejects with the end's error. */
  read(): Promise<Buffer | null> {
    return this.#queue.read();
  }

  /** The session ended: `error` null ends iterators normally, else they throw it. */
  end(error: Error | null): void {
    this.#queue.end(error);
  }

  /**
   * A `'message'` listener was added: hands it what waited, on the next tick (after the
   * `on()` call returned), unless an iterator is taking the messages.
   */
  drainSoon(emitter: {
    listenerCount(event: 'message'): number;
    emit(event: 'message', m: Buffer): boolean;
  }): void {
    if (this.length === 0 || this.iterators > 0) return;
    process.nextTick(() => {
      while (this.iterators === 0 && emitter.listenerCount('message') > 0) {
        const message = this.#queue.shift();
        if (message === undefined) return;
        emitter.emit('message', message);
      }
    });
  }

  /** Iterates until the end (see `DatagramSession[Symbol.asyncIterator]`). */
  async *iterate(): AsyncGenerator<Buffer, void, undefined> {
    this.iterators++;
    try {
      for (;;) {
        const message = await this.#queue.read();
        if (message === null) return;
        yield message;
      }
    } finally {
      this.iterators--;
    }
  }
}
