import { Buffer } from 'node:buffer';
import { FRAME_HEADER_SIZE, FrameType } from './constants.js';

/** Where a FrameReader's frames go (the connection itself: no closure per connection). */
export interface FrameSink {
  /**
   * The largest body accepted for a frame type, or -1 if the type is not acceptable now.
   * Called on the 4-byte header alone, before any body byte is buffered.
   */
  frameLimit(type: number): number;
  /** One whole frame. May throw: the reader stops and the error propagates. */
  acceptFrame(type: number, frame: Buffer): void;
}

/** Why the reader refused a header. The caller turns this into its own coded error. */
export class FrameHeaderError extends Error {
  constructor(
    readonly reason: 'type' | 'length',
    readonly type: number,
    readonly length: number,
  ) {
    super(`frame ${reason}`);
  }
}

/**
 * A resumable frame reader: push chunks of any size, get whole frames (header ‖ body,
 * contiguous) in order. Partial frames are kept across pushes. A frame's length is
 * checked against `limit` as soon as its header is complete, so a forged length never
 * causes a large allocation or unbounded buffering.
 *
 * A frame is valid only during its `acceptFrame` call: it may be a view into the pushed
 * chunk or, for a record frame that spanned chunks, into an assembly buffer reused for the
 * next such record (a stream of large records then costs no fresh allocation per record).
 * Bytes pushed while a frame is being handled (a synchronous peer answering inside the
 * handler) are only queued, behind everything the reader still holds, and handled once
 * that frame's call returns, so frames are always handed over in stream order.
 * Whatever a sink keeps of a frame, it copies; the record opener keeps nothing (it MACs and
 * decrypts into new buffers). The assembly buffer is released once a push leaves no
 * partial frame behind.
 */
export class FrameReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  /** Body length of the frame being assembled, or -1 while its header is incomplete. */
  #need = -1;
  /** Reused to assemble record frames that span chunks; null when nothing is partial. */
  #assembly: Buffer | null = null;
  /** A push is under way (a nested one only queues its chunk). */
  #pushing = false;
  readonly #sink: FrameSink;

  constructor(sink: FrameSink) {
    this.#sink = sink;
  }

  /** Bytes held for a frame not yet complete. */
  get buffered(): number {
    return this.#buffered;
  }

  /**
   * Adds a chunk and hands every frame now complete to the sink. If the sink throws, the
   * reader stops and the error propagates; the reader must then be discarded (the session
   * is over).
   */
  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.#pushing) {
      // Re-entered from a frame's handler: a synchronous peer answered a reply we wrote. Its
      // bytes come after everything this reader still holds; the outer push handles them.
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
      return;
    }
    this.#pushing = true;
    try {
      this.#push(chunk);
    } finally {
      this.#pushing = false;
    }
  }

  #push(chunk: Buffer): void {
    const sink = this.#sink;
    if (this.#buffered === 0) {
      // Fast path: nothing held and the chunk holds whole frames. Frames are zero-copy views.
      let at = 0;
      while (chunk.length - at >= FRAME_HEADER_SIZE) {
        const body = this.#checkHeader(chunk, at);
        const end = at + FRAME_HEADER_SIZE + body;
        if (end > chunk.length) break;
        // A chunk that is exactly one frame (one message in flight) needs no view.
        sink.acceptFrame(chunk[at]!, at === 0 && end === chunk.length ? chunk : chunk.subarray(at, end));
        at = end;
        // A nested push queued bytes: they follow the rest of this chunk (below).
        if (this.#buffered > 0) break;
      }
      if (at < chunk.length) {
        const rest = chunk.subarray(at);
        this.#chunks.unshift(rest);
        this.#buffered += rest.length;
      } else if (this.#buffered === 0) {
        return;
      }
    } else {
      this.#chunks.push(chunk);
      this.#buffered += chunk.length;
    }
    this.#drain(sink);
    if (this.#buffered === 0) this.#assembly = null;
  }

  #drain(sink: FrameSink): void {
    for (;;) {
      if (this.#need < 0) {
        if (this.#buffered < FRAME_HEADER_SIZE) return;
        const header = this.#peek(FRAME_HEADER_SIZE);
        this.#need = this.#checkHeader(header, 0);
      }
      const total = FRAME_HEADER_SIZE + this.#need;
      if (this.#buffered < total) return;
      const frame = this.#take(total);
      this.#need = -1;
      sink.acceptFrame(frame[0]!, frame);
    }
  }

  #checkHeader(buf: Buffer, at: number): number {
    const type = buf[at]!;
    // u24 big-endian, read by hand: Buffer#readUIntBE's checks cost more than this.
    const length = (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!;
    const max = this.#sink.frameLimit(type);
    if (max < 0) throw new FrameHeaderError('type', type, length);
    if (length > max) throw new FrameHeaderError('length', type, length);
    return length;
  }

  /** The first `n` buffered bytes without consuming them (n ≤ 4: copies at most 4 bytes). */
  #peek(n: number): Buffer {
    const first = this.#chunks[0]!;
    if (first.length >= n) return first;
    return Buffer.concat(this.#chunks, n);
  }

  /** Consumes exactly `n` bytes as one contiguous buffer. */
  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      if (first[0] === FrameType.Record) {
        // Record frames are opened synchronously and never kept: one buffer serves them all.
        if (!this.#assembly || this.#assembly.length < n) this.#assembly = Buffer.allocUnsafe(n);
        out = this.#assembly.subarray(0, n);
      } else {
        out = Buffer.allocUnsafe(n);
      }
      let filled = 0;
      while (filled < n) {
        const c = this.#chunks[0]!;
        const want = n - filled;
        if (c.length <= want) {
          c.copy(out, filled);
          filled += c.length;
          this.#chunks.shift();
        } else {
          c.copy(out, filled, 0, want);
          this.#chunks[0] = c.subarray(want);
          filled = n;
        }
      }
    }
    this.#buffered -= n;
    return out;
  }
}
