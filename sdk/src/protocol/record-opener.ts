/**
 * The opening direction of the record layer (record-layer.ts has the formats and the sealer):
 * every check before any plaintext is used, and large records opened into buffers the reader
 * gives back (`recycle`, record-pool.ts).
 */
import { Buffer } from 'node:buffer';
import {
  AES_BLOCK,
  FRAME_HEADER_SIZE,
  INNER_HEADER_SIZE,
  IV_SIZE,
  KEY_LIMIT_FACTOR,
  MAX_FRAGMENT,
  MAX_SEQUENCE,
} from './constants.js';
import type { CbcDecryptor } from './ciphers.js';
import { ErrorCode, SessionError, recordError } from './errors.js';
import { pkcs7Length, readU32, writeSeq } from './record-bytes.js';
import { DEFAULT_KEY_BUDGET, RecordState, macRoom, scratch } from './record-layer.js';
import type { KeyBudget } from './record-layer.js';
import { POOLED_RECORD_MIN, POOLED_RECORD_SIZE, RECEIVE_POOL_KEEP, RecordPool } from './record-pool.js';
import type { Suite } from './suite.js';

export interface OpenedRecord {
  readonly type: number;
  readonly payload: Buffer;
}

/** From this many covered bytes on, the opener hashes the frame in place rather than copying it. */
const STREAMING_MAC_MIN = 16384;

export class RecordOpener extends RecordState {
  /** Buffers the reader gave back (`recycle`): large records are opened into them. */
  #pool: RecordPool | null = null;

  constructor(suite: Suite, secret: Buffer, budget: KeyBudget = DEFAULT_KEY_BUDGET) {
    super(suite, secret, budget, false);
  }

  /**
   * Takes back a payload `open()` returned, once nothing refers to it any more (wiped, and
   * reused for a later record of this direction). The first call, whatever it is given,
   * starts the pool: until then every record is opened into a new buffer of its own size
   * (node:crypto's large-record path), which suits a reader that keeps its messages.
   */
  recycle(payload: Uint8Array): void {
    (this.#pool ??= new RecordPool(POOLED_RECORD_SIZE, RECEIVE_POOL_KEEP, true)).release(payload);
  }

  /**
   * As `recycle`, for the connection's own use (a fragment copied into its message, a batch
   * copied out): never starts the pool, so a reader that never recycles gets buffers of its own.
   */
  giveBack(payload: Uint8Array): void {
    this.#pool?.release(payload);
  }

  /**
   * `payload` in a buffer of its own: itself, or, if it lies in this opener's pool, a copy
   * (the pool buffer goes back, wiped).
   */
  unpooled(payload: Buffer): Buffer {
    const pool = this.#pool;
    if (pool === null || !pool.lends(payload)) return payload;
    const own = Buffer.allocUnsafeSlow(payload.length);
    payload.copy(own);
    pool.release(payload);
    return own;
  }

  /**
   * Authenticates, then decrypts, one whole record frame (header included). Every failure
   * throws the same RecordError: the caller cannot tell, and so cannot reveal, which check failed.
   */
  open(frame: Buffer): OpenedRecord {
    if (
      this.seq > MAX_SEQUENCE ||
      this.recordsUnderKey >= this.budget.records * KEY_LIMIT_FACTOR ||
      this.bytesUnderKey >= this.budget.bytes * KEY_LIMIT_FACTOR
    ) {
      throw new SessionError(ErrorCode.KEY_EXHAUSTED, 'peer exceeded its key budget without a key update');
    }
    const aead = this.suite.mode === 'aead';
    const plain = aead ? this.#openAead(frame) : this.#openCbc(frame);
    // PKCS#7 on an authentic record: a bad padding means a broken peer and fails like any other
    // check. Only a holder of the key can reach here; these checks catch a broken peer, not an attacker.
    const end = aead ? plain.length : pkcs7Length(plain);
    // A CBC frame within the limit has room (its padding) for a payload of up to 65 538 bytes:
    // the payload limit is checked here, with the other inner checks, as the same error.
    if (
      end < INNER_HEADER_SIZE ||
      readU32(plain, 0) * 0x100000000 + readU32(plain, 4) !== this.seq ||
      readU32(plain, 9) !== end - INNER_HEADER_SIZE ||
      end - INNER_HEADER_SIZE > MAX_FRAGMENT
    ) {
      // A pool buffer holds this record's plaintext: wiped as it goes back.
      this.#pool?.release(plain);
      throw recordError();
    }
    const payloadLength = end - INNER_HEADER_SIZE;
    this.seq += 1;
    this.recordsUnderKey += 1;
    this.bytesUnderKey += payloadLength;
    const payload = plain.subarray(INNER_HEADER_SIZE, end);
    // A pool buffer is given back through the message now (`recycle(payload)`).
    this.#pool?.handOver(plain, payload);
    return { type: plain[8]!, payload };
  }

  /**
   * MAC first, over seq ‖ header ‖ IV ‖ ciphertext (a small frame is copied next to room for
   * the pad; a large one is hashed in place); only then decrypt. Returns the padded plaintext.
   */
  #openCbc(frame: Buffer): Buffer {
    const mac = this.mac!;
    const tagLength = this.suite.tagLength;
    const ctLength = frame.length - FRAME_HEADER_SIZE - IV_SIZE - tagLength;
    if (ctLength < AES_BLOCK || ctLength % AES_BLOCK !== 0) throw recordError();
    const macStart = frame.length - tagLength;
    let authentic: boolean;
    if (macStart >= STREAMING_MAC_MIN) {
      const seq = Buffer.allocUnsafe(8);
      writeSeq(seq, this.seq);
      authentic = mac.verifyOf(seq, frame.subarray(0, macStart), frame, macStart);
    } else {
      const room = macRoom(mac);
      const covered = scratch(room + macStart);
      writeSeq(covered, this.seq, room - 8);
      covered.set(frame.subarray(0, macStart), room);
      authentic = mac.verifyAfterRoom(covered, room + macStart, frame, macStart);
      // The scratch buffer keeps only ciphertext (public) after this: nothing to wipe.
    }
    if (!authentic) throw recordError();
    return (this.cbc as CbcDecryptor).decrypt(
      frame,
      frame.subarray(FRAME_HEADER_SIZE + IV_SIZE, macStart),
      FRAME_HEADER_SIZE,
    );
  }

  /**
   * Opened into a buffer of its own (not the shared pool: a clone of a message carries it
   * alone): a large record into one of this opener's pool once the reader recycles, in place
   * where the key allows it; otherwise whatever the key hands out.
   */
  #openAead(frame: Buffer): Buffer {
    const tagStart = frame.length - this.suite.tagLength;
    const length = tagStart - FRAME_HEADER_SIZE;
    if (length < INNER_HEADER_SIZE) throw recordError();
    const key = this.aeadKey!;
    const pool = this.#pool;
    if (pool !== null && key.inPlace && length >= INNER_HEADER_SIZE + POOLED_RECORD_MIN) {
      const out = pool.take(length);
      const seq = this.seq;
      let opened: boolean;
      try {
        opened = key.openInto(
          this.aeadNonce(seq),
          this.aeadAad(seq, frame),
          frame,
          FRAME_HEADER_SIZE,
          tagStart,
          out,
          0,
        );
      } catch (err) {
        // The backend itself failed (@secsess/native: OpenSSL refused a context): nothing
        // was opened into the buffer; it goes back (wiped) before the session ends.
        pool.release(out);
        throw err;
      }
      if (opened) return out;
      // No plaintext of it is left (libsodium and @secsess/native zero a failed output):
      // back to the pool.
      pool.release(out);
      throw recordError();
    }
    const plain = key.open(
      this.aeadNonce(this.seq),
      this.aeadAad(this.seq, frame),
      frame,
      FRAME_HEADER_SIZE,
      tagStart,
    );
    if (plain === null) throw recordError();
    return plain;
  }
}
