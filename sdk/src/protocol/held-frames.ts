/**
 * The frames a server connection holds, unread, while an RSA operation runs elsewhere
 * (PROTOCOL.md §6: DECRYPT, and the client-signature check), handled in order once it
 * returns. Bounded: each frame counts its whole size plus a fixed overhead (its copy's
 * Buffer object and queue entry), so that many tiny frames cannot hold more memory than the
 * bound says; the frame that would pass the bound is refused.
 */
import { Buffer } from 'node:buffer';
import { MAX_HANDSHAKE_FRAME } from './constants.js';
import { ErrorCode, HandshakeError } from './errors.js';

/** Frames that may be held while the RSA decryption runs: the client has no reason to send any. */
export const MAX_HELD_DECRYPTING = 2 * MAX_HANDSHAKE_FRAME;
const HELD_FRAME_OVERHEAD = 128;

export class HeldFrames {
  #frames: Array<[number, Buffer]> = [];
  #bytes = 0;

  /** Keeps a copy of `frame` (it may be a view into a transport buffer), within `limit`. */
  hold(type: number, frame: Buffer, limit: number, when: string): void {
    this.#bytes += frame.length + HELD_FRAME_OVERHEAD;
    if (this.#bytes > limit) {
      throw new HandshakeError(ErrorCode.HANDSHAKE, `handshake: client sent too much ${when}`);
    }
    this.#frames.push([type, Buffer.from(frame)]);
  }

  /** The frames held, in order of arrival; the hold is empty afterwards. */
  take(): Array<[number, Buffer]> {
    const frames = this.#frames;
    this.#frames = [];
    this.#bytes = 0;
    return frames;
  }
}
