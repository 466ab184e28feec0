/**
 * The inbound side of a session: received messages waiting for `read()`, and `read()`
 * calls waiting for messages. Readers are served first come, first served. Once the
 * session ends, queued messages are still handed out, then every read gets the end
 * (null for a normal close, the error otherwise).
 */
import { Buffer } from 'node:buffer';
import { abortError, onAbort } from '../common/deferred.js';

interface PendingRead {
  resolve(message: Buffer | null): void;
  reject(error: unknown): void;
  cleanup(): void;
}

/** Approximate heap cost of one queued Buffer beyond its bytes (object, backing store header). */
export const MESSAGE_OVERHEAD = 96;

/** The arrays of an idle queue: shared, never written to (each queue makes its own on first use). */
const NO_ITEMS: Buffer[] = [];
const NO_READERS: PendingRead[] = [];

export class MessageQueue {
  #items: Buffer[] = NO_ITEMS;
  #head = 0;
  #bytes = 0;
  /** Bytes plus a fixed charge per message: what backpressure is decided on (see `cost`). */
  #cost = 0;
  #readers: PendingRead[] = NO_READERS;
  /** Set once the session ended: `error` null means a normal close. */
  #end: { error: Error | null } | null = null;

  /** Messages waiting to be read. */
  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Bytes of messages waiting to be read. */
  get bytes(): number {
    return this.#bytes;
  }

  /**
   * Memory the queue stands for: its bytes plus {@link MESSAGE_OVERHEAD} per message, so a
   * flood of empty or tiny messages reaches the high-water mark as surely as a large one.
   */
  get cost(): number {
    return this.#cost;
  }

  get hasReaders(): boolean {
    return this.#readers.length > 0;
  }

  get ended(): boolean {
    return this.#end !== null;
  }

  /** Hands `message` to the oldest pending read, if any. Returns whether it was taken. */
  offer(message: Buffer): boolean {
    if (this.#readers.length === 0) return false;
    const reader = this.#readers.shift()!;
    reader.cleanup();
    reader.resolve(message);
    return true;
  }

  push(message: Buffer): void {
    if (this.#items === NO_ITEMS) this.#items = [];
    this.#items.push(message);
    this.#bytes += message.length;
    this.#cost += message.length + MESSAGE_OVERHEAD;
  }

  shift(): Buffer | undefined {
    if (this.#head === this.#items.length) return undefined;
    const message = this.#items[this.#head]!;
    this.#items[this.#head] = EMPTY;
    this.#head++;
    this.#bytes -= message.length;
    this.#cost -= message.length + MESSAGE_OVERHEAD;
    // Compact now and then instead of Array#shift on every read (O(n) each).
    if (this.#head === this.#items.length) {
      this.#items = NO_ITEMS;
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return message;
  }

  /** The next message; null after a normal close once the queue is empty. */
  read(signal?: AbortSignal): Promise<Buffer | null> {
    const message = this.shift();
    if (message !== undefined) return Promise.resolve(message);
    if (this.#end) {
      return this.#end.error ? Promise.reject(this.#end.error) : Promise.resolve(null);
    }
    if (signal?.aborted) return Promise.reject(abortError('read', signal));
    return new Promise<Buffer | null>((resolve, reject) => {
      const reader: PendingRead = { resolve, reject, cleanup: () => {} };
      reader.cleanup = onAbort(signal, () => {
        const at = this.#readers.indexOf(reader);
        if (at >= 0) this.#readers.splice(at, 1);
        reject(abortError('read', signal!));
      });
      if (this.#readers === NO_READERS) this.#readers = [];
      this.#readers.push(reader);
    });
  }

  /** Ends the queue. Pending reads (there are some only when the queue is empty) settle now. */
  end(error: Error | null): void {
    if (this.#end) return;
    this.#end = { error };
    const readers = this.#readers;
    this.#readers = NO_READERS;
    for (const r of readers) {
      r.cleanup();
      if (error) r.reject(error);
      else r.resolve(null);
    }
  }
}

const EMPTY = Buffer.alloc(0);
