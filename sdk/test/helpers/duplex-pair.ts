/**
 * An in-memory duplex pair (as ws's test/duplex-pair.js): what one side writes, the other
 * reads, with real backpressure — a write's callback waits until the reader has room.
 * Node 20.19 has no stream.duplexPair, and this one lets tests count bytes in flight.
 */
import { Duplex } from 'node:stream';

class End extends Duplex {
  peer: End | null = null;
  /** A write callback held until the peer's reader drains. */
  #blocked: (() => void) | null = null;
  /** Bytes written to this side, ever. */
  written = 0;

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.written += chunk.length;
    const peer = this.peer!;
    if (peer.push(chunk)) callback();
    else peer.#blockWriter(callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.peer!.push(null);
    callback();
  }

  override _read(): void {
    const release = this.#blocked;
    this.#blocked = null;
    release?.();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const release = this.#blocked;
    this.#blocked = null;
    release?.();
    // A destroyed end looks like a dropped connection to the other side: it ends abruptly.
    const peer = this.peer!;
    if (!peer.destroyed) process.nextTick(() => peer.destroy());
    callback(error);
  }

  #blockWriter(callback: () => void): void {
    this.#blocked = callback;
  }
}

/** Two connected Duplex ends. */
export function duplexPair(): [End, End] {
  const a = new End();
  const b = new End();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export type { End as DuplexEnd };
