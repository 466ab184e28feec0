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

const NO_CHUNKS: Buffer[] = [];

/**
 * A resumable frame reader: push chunks of any size, get whole frames (header ‖ body,
 * contiguous) in order. A frame's length is checked against the sink's limit as soon as its
 * header is complete, so a forged length never causes a large allocation or unbounded
 * buffering.
 *
 * What a partial frame costs is its own bytes, whatever the chunking: the bytes of an
 * incomplete header are kept in a number, and once the header is complete and accepted the
 * frame gets one buffer of exactly its size, into which every later chunk is copied and then
 * dropped. A peer that drips a frame one byte per TCP segment therefore holds one buffer
 * (at most the limit its state allows, plus 4), never one Buffer object per segment.
 *
 * A frame is valid only during its `acceptFrame` call: it may be a view into the pushed
 * chunk (frames that lie whole in one chunk cost no copy) or, for a record frame that
 * spanned chunks, into an assembly buffer reused for the next such record (a stream of
 * large records then costs no fresh allocation per record). Bytes pushed while a frame is
 * being handled (a synchronous peer answering inside the handler) are only queued, behind
 * the rest of the chunk being handled, and handled once it is done, so frames are always
 * handed over in stream order. Whatever a sink keeps of a frame, it copies; the record
 * opener keeps nothing (it MACs and decrypts into new buffers). The assembly buffer is
 * released once a push leaves no partial frame behind.
 */
export class FrameReader {
  /** Bytes of an incomplete header, big-endian in one number (no buffer for them). */
  #head = 0;
  /** How many header bytes `#head` holds (0–3). */
  #headBytes = 0;
  /** The frame being assembled (header and body), or null; `#filled` bytes of it are in. */
  #frame: Buffer | null = null;
  #filled = 0;
  /** Reused to assemble record frames that span chunks; null when nothing is partial. */
  #assembly: Buffer | null = null;
  /** Chunks pushed while a push was under way (a synchronous peer answering), in order. */
  #queued: Buffer[] = NO_CHUNKS;
  #queuedBytes = 0;
  /** A push is under way (a nested one only queues its chunk). */
  #pushing = false;
  readonly #sink: FrameSink;

  constructor(sink: FrameSink) {
    this.#sink = sink;
  }

  /** Bytes held for a frame not yet complete (and chunks queued behind it). */
  get buffered(): number {
    return this.#headBytes + this.#filled + this.#queuedBytes;
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
      // bytes come after the rest of the chunk being handled; the outer push handles them.
      if (this.#queued === NO_CHUNKS) this.#queued = [];
      this.#queued.push(chunk);
      this.#queuedBytes += chunk.length;
      return;
    }
    this.#pushing = true;
    try {
      this.#consume(chunk);
      while (this.#queued.length > 0) {
        const next = this.#queued.shift()!;
        this.#queuedBytes -= next.length;
        this.#consume(next);
      }
      this.#queued = NO_CHUNKS;
    } finally {
      this.#pushing = false;
    }
    if (this.#frame === null) this.#assembly = null;
  }

  #consume(chunk: Buffer): void {
    const sink = this.#sink;
    const length = chunk.length;
    let at = 0;
    if (this.#headBytes > 0 || this.#frame !== null) {
      at = this.#resume(chunk);
      if (at < 0) return;
    }
    // Whole frames in the rest of the chunk: zero-copy views.
    while (length - at >= FRAME_HEADER_SIZE) {
      const body = this.#checkHeader(
        chunk[at]!,
        (chunk[at + 1]! << 16) | (chunk[at + 2]! << 8) | chunk[at + 3]!,
      );
      const end = at + FRAME_HEADER_SIZE + body;
      if (end > length) {
        // A frame that continues in later chunks: its own buffer, holding what is here.
        const frame = this.#frameBuffer(chunk[at]!, FRAME_HEADER_SIZE + body);
        chunk.copy(frame, 0, at, length);
        this.#frame = frame;
        this.#filled = length - at;
        return;
      }
      // A chunk that is exactly one frame (one message in flight) needs no view.
      sink.acceptFrame(chunk[at]!, at === 0 && end === length ? chunk : chunk.subarray(at, end));
      at = end;
    }
    // Fewer than 4 bytes left: the start of a header, kept in a number.
    while (at < length) this.#addHeadByte(chunk[at++]!);
  }

  /**
   * Continues the partial frame with `chunk`. Returns where the rest of the chunk starts
   * once the frame was handed over, or -1 if the chunk was used up.
   */
  #resume(chunk: Buffer): number {
    let at = 0;
    if (this.#frame === null) {
      while (this.#headBytes < FRAME_HEADER_SIZE) {
        if (at === chunk.length) return -1;
        this.#addHeadByte(chunk[at++]!);
      }
      const head = this.#head;
      this.#head = 0;
      this.#headBytes = 0;
      const type = head >>> 24;
      const frame = this.#frameBuffer(type, FRAME_HEADER_SIZE + this.#checkHeader(type, head & 0xffffff));
      frame[0] = type;
      frame[1] = head >>> 16;
      frame[2] = head >>> 8;
      frame[3] = head;
      this.#frame = frame;
      this.#filled = FRAME_HEADER_SIZE;
    }
    const frame = this.#frame;
    const take = Math.min(frame.length - this.#filled, chunk.length - at);
    chunk.copy(frame, this.#filled, at, at + take);
    this.#filled += take;
    at += take;
    if (this.#filled < frame.length) return -1;
    this.#frame = null;
    this.#filled = 0;
    this.#sink.acceptFrame(frame[0]!, frame);
    return at;
  }

  #addHeadByte(byte: number): void {
    // At most 4 bytes: the multiplication keeps the value exact and unsigned.
    this.#head = this.#head * 256 + byte;
    this.#headBytes++;
  }

  /** A buffer for a frame of `size` bytes (header included) whose header was accepted. */
  #frameBuffer(type: number, size: number): Buffer {
    if (type === FrameType.Record) {
      // Record frames are opened synchronously and never kept: one buffer serves them all.
      if (!this.#assembly || this.#assembly.length < size) this.#assembly = Buffer.allocUnsafeSlow(size);
      return this.#assembly.subarray(0, size);
    }
    // Exactly its size, not a slice of the shared pool (a kept slice would pin 8 KiB).
    return Buffer.allocUnsafeSlow(size);
  }

  /** The body length of a frame whose header says `type` and `length`, once the sink accepts them. */
  #checkHeader(type: number, length: number): number {
    const max = this.#sink.frameLimit(type);
    if (max < 0) throw new FrameHeaderError('type', type, length);
    if (length > max) throw new FrameHeaderError('length', type, length);
    return length;
  }
}
