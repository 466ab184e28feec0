/**
 * Channel frames (PROTOCOL.md §6b), sans-IO: the constants, a reader that checks every
 * frame's shape before handing it on, and a writer that packs the frames of one turn into
 * one message.
 *
 *   frame = u8 type ‖ u32 channel ‖ u32 length ‖ body (length bytes)
 *
 * What the reader checks here is what a frame's bytes alone tell, for every frame (rule 1,
 * the body sizes of rules 2, 5 and 6, channel 0 of rule 3, an empty DATA of rule 4); what
 * §6b judges for open channels only (numbers, credit, FIN order, a WINDOW of 0) is checked
 * by the mux (mux.ts).
 */
import { Buffer } from 'node:buffer';

export const OPEN = 0x01;
export const DATA = 0x02;
export const FIN = 0x03;
export const RST = 0x04;
export const WINDOW = 0x05;

/** RST codes (§6b). A receiver takes any other code for RESET. */
export const RST_REFUSED = 1;
export const RST_RESET = 2;
export const RST_GOING_AWAY = 3;
export const RST_BUSY = 4;

export const FRAME_HEADER_SIZE = 9;
/** Credit each direction of a channel starts with (§6b). */
export const INITIAL_CREDIT = 262_144;
/** The most credit a side may hold on a channel (§6b). */
export const MAX_CREDIT = 2 ** 30;
/** Channels open at once on one session (§6b, checked by the server). */
export const MAX_OPEN_CHANNELS = 1024;
/** The last channel number (§6b). */
export const MAX_CHANNEL_ID = 0xffff_ffff;
/** The Close code and reason of a session whose peer broke §6b. */
export const CLOSE_CHANNEL_PROTOCOL = 1002;
export const CHANNEL_PROTOCOL_REASON = 'channel protocol error';

/** A frame that breaks §6b: the session is closed with {@link CLOSE_CHANNEL_PROTOCOL}. */
export class ChannelProtocolError extends Error {
  readonly code = 'ERR_CHANNEL_PROTOCOL';
}

/** One checked frame; `body` is a view into the message (valid while the message is). */
export type FrameVisitor = (type: number, channel: number, body: Buffer) => void;

function broken(what: string): ChannelProtocolError {
  return new ChannelProtocolError(`channel frame: ${what}`);
}

/** Body sizes fixed by the type; -1: DATA (1 or more). */
function bodySize(type: number): number {
  switch (type) {
    case OPEN:
    case FIN:
      return 0;
    case RST:
      return 2;
    case WINDOW:
      return 4;
    case DATA:
      return -1;
    default:
      throw broken(`unknown type 0x${type.toString(16).padStart(2, '0')}`);
  }
}

/**
 * Hands each frame of `message` to `visit`, in order, after checking its shape; throws
 * {@link ChannelProtocolError} at the first broken one (frames before it were visited).
 */
export function readFrames(message: Buffer, visit: FrameVisitor): void {
  if (message.length === 0) throw broken('an empty message');
  let at = 0;
  while (at < message.length) {
    if (message.length - at < FRAME_HEADER_SIZE) throw broken('a header cut short');
    const type = message[at]!;
    const channel = message.readUInt32BE(at + 1);
    const length = message.readUInt32BE(at + 5);
    at += FRAME_HEADER_SIZE;
    if (length > message.length - at) throw broken('a body cut short');
    const size = bodySize(type);
    if (size === -1 ? length === 0 : length !== size) throw broken('a body of the wrong size');
    if (channel === 0) throw broken('channel 0');
    visit(type, channel, message.subarray(at, at + length));
    at += length;
  }
}

/**
 * Packs frames into one growing buffer and sends them as one message with `send` — at
 * `flush()`, or at once when the next frame would pass `maxMessage`. `send` must take its
 * bytes before it returns (a session's `write()` copies or seals them at once): the buffer
 * is reused.
 */
export class FrameWriter {
  #buf: Buffer;
  #len = 0;
  readonly #maxMessage: number;
  readonly #send: (message: Buffer) => void;

  constructor(maxMessage: number, send: (message: Buffer) => void) {
    this.#maxMessage = maxMessage;
    this.#send = send;
    this.#buf = Buffer.allocUnsafe(Math.min(maxMessage, 65_536));
  }

  /** Bytes packed and not yet sent. */
  get pending(): number {
    return this.#len;
  }

  /** A frame without a body (OPEN, FIN), or with a u16 (RST) or u32 (WINDOW) value. */
  control(type: number, channel: number, value?: number): void {
    const size = type === RST ? 2 : type === WINDOW ? 4 : 0;
    const at = this.#room(FRAME_HEADER_SIZE + size);
    this.#header(at, type, channel, size);
    if (type === RST) this.#buf.writeUInt16BE(value!, at + FRAME_HEADER_SIZE);
    else if (type === WINDOW) this.#buf.writeUInt32BE(value!, at + FRAME_HEADER_SIZE);
  }

  /** A DATA frame of `bytes` (copied now: they may be a borrowed read buffer). */
  data(channel: number, bytes: Buffer): void {
    const at = this.#room(FRAME_HEADER_SIZE + bytes.length);
    this.#header(at, DATA, channel, bytes.length);
    bytes.copy(this.#buf, at + FRAME_HEADER_SIZE);
  }

  /** Sends what is packed, as one message. */
  flush(): void {
    if (this.#len === 0) return;
    const message = this.#buf.subarray(0, this.#len);
    this.#len = 0;
    this.#send(message);
  }

  /** Where `size` more bytes go: after a flush if they would pass the message size. */
  #room(size: number): number {
    if (this.#len + size > this.#maxMessage) this.flush();
    if (this.#len + size > this.#buf.length) {
      const grown = Buffer.allocUnsafe(
        Math.min(this.#maxMessage, Math.max(2 * this.#buf.length, this.#len + size)),
      );
      this.#buf.copy(grown, 0, 0, this.#len);
      this.#buf = grown;
    }
    const at = this.#len;
    this.#len += size;
    return at;
  }

  #header(at: number, type: number, channel: number, length: number): void {
    const buf = this.#buf;
    buf[at] = type;
    buf.writeUInt32BE(channel, at + 1);
    buf.writeUInt32BE(length, at + 5);
  }
}
