/**
 * Records (PROTOCOL.md "Records"): one direction's sealing or opening state.
 *
 * CBC suites (default), encrypt-then-MAC:
 *   frame  = 0x17 ‖ u24 body_length ‖ IV(16) ‖ ciphertext ‖ tag
 *   plain  = u64 seq ‖ u8 type ‖ u32 payload_length ‖ payload        (PKCS#7-padded, AES-CBC)
 *   tag    = HMAC(mac_key, u64 seq ‖ frame[0 .. end of ciphertext])   (full hash length)
 *
 * GCM suite (opt-in), AEAD:
 *   frame  = 0x17 ‖ u24 body_length ‖ ciphertext ‖ tag(16)
 *   nonce  = iv XOR (0^4 ‖ u64 seq);  aad = u64 seq ‖ 0x17 ‖ u24 body_length
 *
 * Either way the tag covers the header (so the length is authenticated) and the implicit
 * sequence number, and is checked before any plaintext is used.
 */
import {
  AES_BLOCK,
  FRAME_HEADER_SIZE,
  FrameType,
  GCM_IV_SIZE,
  INNER_HEADER_SIZE,
  IV_SIZE,
  KEY_LIMIT_FACTOR,
  KEY_UPDATE_BYTES,
  KEY_UPDATE_RECORDS,
  MAX_SEQUENCE,
} from './constants.js';
import { cbcDecrypt, cbcEncryptInto, constantTimeEqual, gcmOpen, gcmSealInto, hmac } from './crypto.js';
import type { CbcCipher, GcmCipher, RandomSource } from './crypto.js';
import { ErrorCode, SessionError, recordError } from './errors.js';
import { nextTrafficSecret, trafficKeys } from './key-schedule.js';
import type { TrafficKeys } from './key-schedule.js';
import type { Suite } from './suite.js';

/** How much one key may protect. Senders update at `records`/`bytes`; receivers cut off at 2×. */
export interface KeyBudget {
  readonly records: number;
  readonly bytes: number;
}

export const DEFAULT_KEY_BUDGET: KeyBudget = { records: KEY_UPDATE_RECORDS, bytes: KEY_UPDATE_BYTES };

/** Wire size of a sealed record carrying `payloadLength` bytes. */
export function sealedSize(suite: Suite, payloadLength: number): number {
  if (suite.mode === 'gcm') return FRAME_HEADER_SIZE + INNER_HEADER_SIZE + payloadLength + suite.tagLength;
  const padded = (Math.floor((INNER_HEADER_SIZE + payloadLength) / AES_BLOCK) + 1) * AES_BLOCK;
  return FRAME_HEADER_SIZE + IV_SIZE + padded + suite.tagLength;
}

/** Largest record body a receiver accepts for fragments of at most `maxFragment` bytes. */
export function maxRecordBody(suite: Suite, maxFragment: number): number {
  return sealedSize(suite, maxFragment) - FRAME_HEADER_SIZE;
}

function writeSeq(buf: Buffer, seq: number, offset = 0): void {
  buf.writeUInt32BE(Math.floor(seq / 0x100000000), offset);
  buf.writeUInt32BE(seq >>> 0, offset + 4);
}

abstract class RecordState {
  protected secret: Buffer;
  protected keys: TrafficKeys;
  /** Sequence number of the next record; runs on across key updates, never wraps. */
  seq = 0;
  protected recordsUnderKey = 0;
  protected bytesUnderKey = 0;
  protected readonly seqBuf = Buffer.alloc(8);
  /** GCM: the per-record nonce, rebuilt from iv and seq. */
  protected readonly nonce = Buffer.alloc(GCM_IV_SIZE);
  /** GCM: the additional data, seq ‖ frame header. */
  protected readonly aad = Buffer.alloc(8 + FRAME_HEADER_SIZE);

  constructor(
    protected readonly suite: Suite,
    secret: Buffer,
    protected readonly budget: KeyBudget = DEFAULT_KEY_BUDGET,
  ) {
    this.secret = secret;
    this.keys = trafficKeys(suite, secret);
  }

  /** Moves to the next traffic secret; the old secret's bytes are overwritten. */
  update(): void {
    const next = nextTrafficSecret(this.suite, this.secret);
    this.secret.fill(0);
    this.keys.iv.fill(0);
    this.secret = next;
    this.keys = trafficKeys(this.suite, next);
    this.recordsUnderKey = 0;
    this.bytesUnderKey = 0;
  }

  /** Overwrites the traffic secret. The state is unusable afterwards. */
  destroy(): void {
    this.secret.fill(0);
    this.keys.iv.fill(0);
  }

  /** GCM nonce for `seq`: iv XOR (0^4 ‖ u64 seq). Unique per key because seq never repeats. */
  protected gcmNonce(seq: number): Buffer {
    writeSeq(this.seqBuf, seq);
    const iv = this.keys.iv;
    for (let i = 0; i < 4; i++) this.nonce[i] = iv[i]!;
    for (let i = 0; i < 8; i++) this.nonce[4 + i] = iv[4 + i]! ^ this.seqBuf[i]!;
    return this.nonce;
  }

  protected gcmAad(seq: number, frameHeader: Buffer): Buffer {
    writeSeq(this.aad, seq);
    frameHeader.copy(this.aad, 8, 0, FRAME_HEADER_SIZE);
    return this.aad;
  }
}

export class RecordSealer extends RecordState {
  constructor(
    suite: Suite,
    secret: Buffer,
    private readonly random: RandomSource,
    budget: KeyBudget = DEFAULT_KEY_BUDGET,
  ) {
    super(suite, secret, budget);
  }

  /** True once this key's budget is spent: the caller sends a KeyUpdate and calls update(). */
  get needsUpdate(): boolean {
    return this.recordsUnderKey >= this.budget.records || this.bytesUnderKey >= this.budget.bytes;
  }

  /** Seals one record. `payload` may be given in parts; they are concatenated in the plaintext. */
  seal(type: number, payload: Buffer | readonly Buffer[]): Buffer {
    if (this.seq > MAX_SEQUENCE) {
      throw new SessionError(ErrorCode.KEY_EXHAUSTED, 'record sequence number exhausted');
    }
    const parts = Buffer.isBuffer(payload) ? [payload] : payload;
    let length = 0;
    for (const p of parts) length += p.length;
    const size = sealedSize(this.suite, length);
    const out = Buffer.allocUnsafe(size);
    out[0] = FrameType.Record;
    out.writeUIntBE(size - FRAME_HEADER_SIZE, 1, 3);

    const inner = Buffer.allocUnsafe(INNER_HEADER_SIZE);
    writeSeq(inner, this.seq);
    inner[8] = type;
    inner.writeUInt32BE(length, 9);

    if (this.suite.mode === 'gcm') {
      gcmSealInto(
        this.suite.cipher as GcmCipher,
        this.keys.cipherKey,
        this.gcmNonce(this.seq),
        this.gcmAad(this.seq, out),
        [inner, ...parts],
        out,
        FRAME_HEADER_SIZE,
      );
    } else {
      const iv = this.random(IV_SIZE);
      iv.copy(out, FRAME_HEADER_SIZE);
      const ctStart = FRAME_HEADER_SIZE + IV_SIZE;
      const ctLength = cbcEncryptInto(
        this.suite.cipher as CbcCipher,
        this.keys.cipherKey,
        iv,
        [inner, ...parts],
        out,
        ctStart,
      );
      writeSeq(this.seqBuf, this.seq);
      hmac(this.suite.hashName, this.keys.macKey!, this.seqBuf, out.subarray(0, ctStart + ctLength)).copy(
        out,
        ctStart + ctLength,
      );
    }

    this.seq += 1;
    this.recordsUnderKey += 1;
    this.bytesUnderKey += length;
    return out;
  }
}

export interface OpenedRecord {
  readonly type: number;
  readonly payload: Buffer;
}

export class RecordOpener extends RecordState {
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
    const plain = this.suite.mode === 'gcm' ? this.#openGcm(frame) : this.#openCbc(frame);
    // Only a holder of the key can reach here; these checks catch a broken peer, not an attacker.
    if (plain.length < INNER_HEADER_SIZE) throw recordError();
    const seqHigh = plain.readUInt32BE(0);
    const seqLow = plain.readUInt32BE(4);
    const payloadLength = plain.readUInt32BE(9);
    if (seqHigh * 0x100000000 + seqLow !== this.seq || payloadLength !== plain.length - INNER_HEADER_SIZE) {
      throw recordError();
    }
    this.seq += 1;
    this.recordsUnderKey += 1;
    this.bytesUnderKey += payloadLength;
    return { type: plain[8]!, payload: plain.subarray(INNER_HEADER_SIZE) };
  }

  #openCbc(frame: Buffer): Buffer {
    const { tagLength, hashName } = this.suite;
    const ctLength = frame.length - FRAME_HEADER_SIZE - IV_SIZE - tagLength;
    if (ctLength < AES_BLOCK || ctLength % AES_BLOCK !== 0) throw recordError();
    const macStart = frame.length - tagLength;
    writeSeq(this.seqBuf, this.seq);
    const expected = hmac(hashName, this.keys.macKey!, this.seqBuf, frame.subarray(0, macStart));
    if (!constantTimeEqual(expected, frame.subarray(macStart))) throw recordError();
    try {
      return cbcDecrypt(
        this.suite.cipher as CbcCipher,
        this.keys.cipherKey,
        frame.subarray(FRAME_HEADER_SIZE, FRAME_HEADER_SIZE + IV_SIZE),
        frame.subarray(FRAME_HEADER_SIZE + IV_SIZE, macStart),
      );
    } catch {
      throw recordError();
    }
  }

  #openGcm(frame: Buffer): Buffer {
    const tagStart = frame.length - this.suite.tagLength;
    if (tagStart - FRAME_HEADER_SIZE < INNER_HEADER_SIZE) throw recordError();
    const plain = gcmOpen(
      this.suite.cipher as GcmCipher,
      this.keys.cipherKey,
      this.gcmNonce(this.seq),
      this.gcmAad(this.seq, frame),
      frame.subarray(FRAME_HEADER_SIZE, tagStart),
      frame.subarray(tagStart),
    );
    if (!plain) throw recordError();
    return plain;
  }
}
