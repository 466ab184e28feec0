/**
 * What a channel received, on its way to its socket: written at once while the socket is
 * idle; while writes are in flight, gathered into one buffer of the channel's own (as is
 * what comes before serve's backend connected) and written as one chunk when the writes
 * before it are done, or sooner once 16 KiB are gathered and the socket has room — so at
 * most one write per 16 KiB is in flight besides the first.
 *
 * Memory follows bytes, never frames: a DATA body is copied into that buffer (or, when
 * nothing waits, written as it is only if it is large — a small view would keep its whole
 * message alive), so a peer that sends 1-byte DATA frames costs 1 byte each, not a queued
 * write, a view and a callback. What waits is bounded by the credit this side gave (§6b),
 * as credit goes back only once the socket took the bytes (`onWritten`).
 *
 * The peer's FIN ends the socket after the last byte (`end()` waits for the writes).
 */
import { Buffer } from 'node:buffer';
import type { Socket } from 'node:net';
import type { Session } from '@secsess/sdk';

/** A body at least this large is written as it is (a view) when nothing waits before it. */
const VIEW_MIN = 16_384;
/** The first size of the gathering buffer. */
const FIRST_BACKLOG = 16_384;

/** Messages this large are given back to the session once no view of them is left. */
const RECYCLE_MIN = 16_384;

/**
 * A received message whose views may be with sockets: once the read loop and every such
 * write are done with it, a large one's memory serves the session again (`session.recycle`),
 * rather than a new buffer for the next message.
 */
export class HeldMessage {
  /** The read loop's own hold, and one per view with a socket. */
  #holds = 1;
  readonly #session: Session;
  readonly #message: Buffer;

  /** The message's size. */
  get size(): number {
    return this.#message.length;
  }

  constructor(session: Session, message: Buffer) {
    this.#session = session;
    this.#message = message;
  }

  /** One more hold (a view goes to a socket); call what it returns once, when the write is done. */
  hold(): () => void {
    this.#holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release();
    };
  }

  /** One hold fewer (the read loop's, at the end of the message). */
  release(): void {
    if (--this.#holds === 0 && this.#message.length >= RECYCLE_MIN) this.#session.recycle(this.#message);
  }
}

export class ChannelOutput {
  #socket: Socket | null = null;
  #backlog: Buffer | null = null;
  #length = 0;
  /** Writes handed to the socket whose callback has not come yet. */
  #inFlight = 0;
  #endWanted = false;
  #ended = false;
  #dropped = false;
  /** Bytes the socket took (write callbacks), in all. */
  written = 0;
  readonly #onWritten: (n: number) => void;

  /** `onWritten(n)`: n more bytes were taken by the socket (credit may go back). */
  constructor(onWritten: (n: number) => void) {
    this.#onWritten = onWritten;
  }

  /** Nothing gathered waits for the socket (it keeps up with what comes). */
  get idle(): boolean {
    return this.#length === 0 && this.#socket !== null;
  }

  /** Whether the FIN was written and every byte before it taken (the stream ended whole). */
  get finished(): boolean {
    return this.#ended && this.#socket !== null && this.#socket.writableFinished;
  }

  /** The socket arrived (serve's backend connected): what waited goes first. */
  attach(socket: Socket): void {
    this.#socket = socket;
    this.#next();
  }

  /**
   * One DATA body, a view into `from` (valid only now, unless the view itself is handed to
   * the socket: then `from` is held until the socket is done with it).
   */
  push(body: Buffer, from: HeldMessage): void {
    const socket = this.#socket;
    if (socket !== null && socket.destroyed) return;
    // Nothing gathered: straight to the socket if it is idle (a copy if small), or if the body
    // is large and the socket has room (a view: large, it keeps no much larger message alive).
    if (socket !== null && this.#length === 0) {
      // A view keeps its whole message alive until written: only for a body that is most of
      // its message (the reference's messages are one record), so what is held stays within
      // twice the credit given even for a peer that pads its messages.
      const large = body.length >= VIEW_MIN && 2 * body.length >= from.size;
      if (this.#inFlight === 0 || (large && !socket.writableNeedDrain)) {
        if (large) this.#write(socket, body, from.hold());
        else this.#write(socket, Buffer.from(body));
        return;
      }
    }
    const need = this.#length + body.length;
    let backlog = this.#backlog;
    if (backlog === null || backlog.length < need) {
      const grown = Buffer.allocUnsafe(Math.max(need, FIRST_BACKLOG, 2 * (backlog?.length ?? 0)));
      backlog?.copy(grown, 0, 0, this.#length);
      backlog = this.#backlog = grown;
    }
    body.copy(backlog, this.#length);
    this.#length = need;
    // Enough gathered to be worth a write of its own while others are in flight.
    if (socket !== null && need >= VIEW_MIN && !socket.writableNeedDrain) this.#writeGathered(socket);
  }

  /** The peer's FIN: the socket ends once everything before it is written. */
  end(): void {
    this.#endWanted = true;
    this.#next();
  }

  /** The channel is over: nothing more is written. */
  drop(): void {
    this.#dropped = true;
    this.#backlog = null;
    this.#length = 0;
    this.#endWanted = false;
  }

  /** `done`: called once the socket is done with `chunk` (written or failed). */
  #write(socket: Socket, chunk: Buffer, done?: () => void): void {
    this.#inFlight++;
    const n = chunk.length;
    socket.write(chunk, (err) => {
      this.#inFlight--;
      done?.();
      if (err) return;
      this.written += n;
      this.#onWritten(n);
      this.#next();
    });
  }

  /**
   * The gathered bytes leave as one chunk; the buffer goes with them and, once written,
   * gathers again if no other has started meanwhile (no buffer made per write).
   */
  #writeGathered(socket: Socket): void {
    const buffer = this.#backlog!;
    const chunk = buffer.subarray(0, this.#length);
    this.#backlog = null;
    this.#length = 0;
    this.#write(socket, chunk, () => {
      if (this.#backlog === null && !this.#dropped) this.#backlog = buffer;
    });
  }

  #next(): void {
    const socket = this.#socket;
    if (socket === null || socket.destroyed) return;
    if (this.#length > 0) {
      if (this.#inFlight === 0 || (this.#length >= VIEW_MIN && !socket.writableNeedDrain)) {
        this.#writeGathered(socket);
      }
      return;
    }
    if (this.#endWanted && !this.#ended && this.#inFlight === 0) {
      this.#ended = true;
      socket.end();
    }
  }
}
