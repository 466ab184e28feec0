/**
 * Records (PROTOCOL.md "Records"): the formats, the state both directions share, and the
 * sealing direction (record-opener.ts opens).
 *
 * CBC suites (default), encrypt-then-MAC:
 *   frame  = 0x17 ‖ u24 body_length ‖ IV(16) ‖ ciphertext ‖ tag
 *   plain  = u64 seq ‖ u8 type ‖ u32 payload_length ‖ payload        (PKCS#7-padded, AES-CBC)
 *   tag    = HMAC(mac_key, u64 seq ‖ frame[0 .. end of ciphertext])   (full hash length)
 *
 * AEAD suites (opt-in: AES-256-GCM, ChaCha20-Poly1305; aead.ts):
 *   frame  = 0x17 ‖ u24 body_length ‖ ciphertext ‖ tag(16)
 *   nonce  = iv XOR (0^4 ‖ u64 seq);  aad = u64 seq ‖ 0x17 ‖ u24 body_length
 *
 * Either way the tag covers the header (so the length is authenticated) and the implicit
 * sequence number, and is checked before any plaintext is used.
 */
import { Buffer } from 'node:buffer';
import {
  AES_BLOCK,
  FRAME_HEADER_SIZE,
  AEAD_IV_SIZE,
  INNER_HEADER_SIZE,
  IV_SIZE,
  KEY_UPDATE_BYTES,
  KEY_UPDATE_RECORDS,
  MAX_SEQUENCE,
} from './constants.js';
import { createAeadKey } from './aead.js';
import type { AeadCipher, AeadKey } from './aead.js';
import { CbcDecryptor, CbcEncryptor } from './ciphers.js';
import { HmacKey, fillBytes } from './crypto.js';
import type { CbcCipher } from './ciphers.js';
import type { RandomSource } from './crypto.js';
import { ErrorCode, SessionError } from './errors.js';
import { putPayload, writeRecordHeader, writeSeq, writeU32 } from './record-bytes.js';
import { nextTrafficSecret, trafficKeys } from './key-schedule.js';
import { POOLED_RECORD_MIN } from './record-pool.js';
import type { RecordPool } from './record-pool.js';
import type { Suite } from './suite.js';

/** How much one key may protect. Senders update at `records`/`bytes`; receivers cut off at 2×. */
export interface KeyBudget {
  readonly records: number;
  readonly bytes: number;
}

export const DEFAULT_KEY_BUDGET: KeyBudget = { records: KEY_UPDATE_RECORDS, bytes: KEY_UPDATE_BYTES };

/** Wire size of a sealed record carrying `payloadLength` bytes. */
export function sealedSize(suite: Suite, payloadLength: number): number {
  if (suite.mode === 'aead') return FRAME_HEADER_SIZE + INNER_HEADER_SIZE + payloadLength + suite.tagLength;
  const padded = (Math.floor((INNER_HEADER_SIZE + payloadLength) / AES_BLOCK) + 1) * AES_BLOCK;
  return FRAME_HEADER_SIZE + IV_SIZE + padded + suite.tagLength;
}

/** Largest record body a receiver accepts for fragments of at most `maxFragment` bytes. */
export function maxRecordBody(suite: Suite, maxFragment: number): number {
  return sealedSize(suite, maxFragment) - FRAME_HEADER_SIZE;
}

/** Bytes of a record state's storage before the traffic secret. */
function storageSize(suite: Suite): number {
  return suite.mode === 'aead'
    ? AEAD_IV_SIZE + 8 + FRAME_HEADER_SIZE
    : HmacKey.storageSize(suite.hashName) + CbcEncryptor.storageSize(suite.keyLength);
}

/** Room left in front of a CBC record for the HMAC inner pad and the implicit sequence number. */
export function macRoom(mac: HmacKey): number {
  return mac.blockSize + 8;
}

let scratchBuf = Buffer.alloc(0);

/**
 * A buffer of at least `size` bytes, shared by every record state of this thread: sealing
 * assembles the padded plaintext in it, opening the bytes the tag covers. Neither nests,
 * so one suffices; it grows to one maximal record and stays.
 */
export function scratch(size: number): Buffer {
  if (scratchBuf.length < size)
    scratchBuf = Buffer.allocUnsafeSlow(Math.max(size, 2 * scratchBuf.length, 1024));
  return scratchBuf;
}

/** What a sealing and an opening direction share (record-opener.ts has the opener). */
export abstract class RecordState {
  /** The traffic secret, kept in `storage` (copied there; the caller's buffer is wiped). */
  protected readonly secret: Buffer;
  /** Sequence number of the next record; runs on across key updates, never wraps. */
  seq = 0;
  /** Key updates so far: the first keys are generation 0. */
  generation = 0;
  protected recordsUnderKey = 0;
  protected bytesUnderKey = 0;
  /** CBC suites: the HMAC key. */
  protected mac: HmacKey | null = null;
  /** CBC suites: this direction's long-lived cipher context (see ciphers.ts). */
  protected cbc: CbcEncryptor | CbcDecryptor | null = null;
  /** AEAD suites: the cipher key and the 12-byte nonce base. */
  protected aeadKey: AeadKey | null = null;
  protected aeadIv: Buffer | null = null;
  /** AEAD: the per-record nonce, rebuilt from iv and seq. */
  protected nonce: Buffer | null = null;
  /** AEAD: the additional data, seq ‖ frame header. */
  protected aad: Buffer | null = null;

  /**
   * One allocation for this direction's small long-lived buffers: the HMAC pads and the CBC
   * chaining block (or the AEAD nonce and aad), then the traffic secret. An idle session
   * keeps one backing store per direction, not one per buffer.
   */
  protected readonly storage: Buffer;

  constructor(
    protected readonly suite: Suite,
    secret: Buffer,
    protected readonly budget: KeyBudget,
    private readonly sealing: boolean,
  ) {
    const keysSize = storageSize(suite);
    this.storage = Buffer.alloc(keysSize + secret.length);
    this.secret = this.storage.subarray(keysSize);
    secret.copy(this.secret);
    secret.fill(0);
    this.#install();
  }

  /** Moves to the next traffic secret; the old secret's bytes are overwritten. */
  update(): void {
    const next = nextTrafficSecret(this.suite, this.secret);
    this.#uninstall();
    next.copy(this.secret);
    next.fill(0);
    this.#install();
    this.recordsUnderKey = 0;
    this.bytesUnderKey = 0;
    this.generation += 1;
  }

  /** Overwrites the traffic secret and frees the keys. The state is unusable afterwards. */
  destroy(): void {
    this.#uninstall();
  }

  #install(): void {
    const keys = trafficKeys(this.suite, this.secret);
    if (this.suite.mode === 'aead') {
      try {
        this.aeadKey = createAeadKey(this.suite.cipher as AeadCipher, keys.cipherRaw);
      } finally {
        keys.cipherRaw.fill(0);
      }
      this.aeadIv = keys.iv;
      this.nonce ??= this.storage.subarray(0, AEAD_IV_SIZE);
      this.aad ??= this.storage.subarray(AEAD_IV_SIZE, AEAD_IV_SIZE + 8 + FRAME_HEADER_SIZE);
      return;
    }
    try {
      const macSize = HmacKey.storageSize(this.suite.hashName);
      this.mac = new HmacKey(this.suite.hashName, keys.macKey, this.storage);
      const cipher = this.suite.cipher as CbcCipher;
      this.cbc = this.sealing
        ? new CbcEncryptor(cipher, keys.cipherRaw, this.storage, macSize)
        : new CbcDecryptor(cipher, keys.cipherRaw, this.storage, macSize);
    } finally {
      // Both are copied into storage by now (or the state is unusable): the raw keys go.
      keys.macKey.fill(0);
      keys.cipherRaw.fill(0);
    }
  }

  /**
   * Frees this direction's cipher context while the session is idle (CBC suites, and AEAD keys
   * on @secsess/native; node:crypto and libsodium AEAD keys keep none between records). The
   * next record makes a new one from the key kept in storage.
   */
  release(): void {
    this.cbc?.release();
    this.aeadKey?.release?.();
  }

  #uninstall(): void {
    this.secret.fill(0);
    this.aeadIv?.fill(0);
    this.aeadIv = null;
    this.aeadKey?.destroy();
    this.aeadKey = null;
    this.mac?.destroy();
    this.mac = null;
    this.cbc?.destroy();
    this.cbc = null;
    // The secret too: update() copies the next one in after this.
    this.storage.fill(0);
  }

  /** AEAD nonce for `seq`: iv XOR (0^4 ‖ u64 seq). Unique per key because seq never repeats. */
  protected aeadNonce(seq: number): Buffer {
    const nonce = this.nonce!;
    const iv = this.aeadIv!;
    writeSeq(nonce, seq, 4);
    for (let i = 0; i < 4; i++) nonce[i] = iv[i]!;
    for (let i = 4; i < AEAD_IV_SIZE; i++) nonce[i]! ^= iv[i]!;
    return nonce;
  }

  protected aeadAad(seq: number, frameHeader: Buffer): Buffer {
    const aad = this.aad!;
    writeSeq(aad, seq);
    for (let i = 0; i < FRAME_HEADER_SIZE; i++) aad[8 + i] = frameHeader[i]!; // cheaper than Buffer#copy
    return aad;
  }
}

export class RecordSealer extends RecordState {
  constructor(
    suite: Suite,
    secret: Buffer,
    private readonly random: RandomSource,
    budget: KeyBudget = DEFAULT_KEY_BUDGET,
  ) {
    super(suite, secret, budget, true);
  }

  /** True once this key's budget is spent: the caller sends a KeyUpdate and calls update(). */
  get needsUpdate(): boolean {
    return this.recordsUnderKey >= this.budget.records || this.bytesUnderKey >= this.budget.bytes;
  }

  /**
   * Whether an AEAD key seals in place at every size (`AeadKey.inPlace`): then a large
   * record is best sealed into a reused buffer (`seal(..., pool)`) rather than in parts.
   */
  get sealsInPlace(): boolean {
    return this.aeadKey?.inPlace === true;
  }

  /**
   * Seals one record. `payload` may be given in parts; they are concatenated in the
   * plaintext. Given a pool, an AEAD record of POOLED_RECORD_MIN payload bytes or more is
   * sealed into a buffer lent by it (the caller gives it back once the record is written).
   */
  seal(type: number, payload: Buffer | readonly Buffer[], pool?: RecordPool | null): Buffer {
    if (this.seq > MAX_SEQUENCE) {
      throw new SessionError(ErrorCode.KEY_EXHAUSTED, 'record sequence number exhausted');
    }
    let length = 0;
    if (Buffer.isBuffer(payload)) length = payload.length;
    else for (const p of payload) length += p.length;
    const out =
      this.suite.mode === 'aead'
        ? this.#sealAead(type, payload, length, pool && length >= POOLED_RECORD_MIN ? pool : null)
        : this.#sealCbc(type, payload, length);
    this.seq += 1;
    this.recordsUnderKey += 1;
    this.bytesUnderKey += length;
    return out;
  }

  /**
   * Seals a record of `payload` as three buffers to send in order — frame and inner header
   * (17 bytes), the payload's ciphertext, the tag — where the AEAD key hands out its output
   * (node:crypto, large records: AeadKey.sealParts), so that the payload is neither copied
   * into a record buffer nor the ciphertext copied back; the bytes are those of `seal()`.
   * Returns null where `seal()` is the way (CBC suites, records sealed in place); nothing is
   * then consumed.
   */
  sealParts(type: number, payload: Buffer): Buffer[] | null {
    if (this.suite.mode !== 'aead') return null;
    if (this.seq > MAX_SEQUENCE) {
      throw new SessionError(ErrorCode.KEY_EXHAUSTED, 'record sequence number exhausted');
    }
    const length = payload.length;
    const size = sealedSize(this.suite, length);
    const head = Buffer.allocUnsafeSlow(FRAME_HEADER_SIZE + INNER_HEADER_SIZE);
    writeRecordHeader(head, 0, size - FRAME_HEADER_SIZE);
    writeSeq(head, this.seq, FRAME_HEADER_SIZE);
    head[FRAME_HEADER_SIZE + 8] = type;
    writeU32(head, length, FRAME_HEADER_SIZE + 9);
    const inner = head.subarray(FRAME_HEADER_SIZE);
    const parts = this.aeadKey!.sealParts(
      this.aeadNonce(this.seq),
      this.aeadAad(this.seq, head),
      inner,
      payload,
    );
    if (parts === null) return null;
    const [headCt, ct, tag] = parts;
    head.set(headCt, FRAME_HEADER_SIZE);
    this.seq += 1;
    this.recordsUnderKey += 1;
    this.bytesUnderKey += length;
    return [head, ct, tag];
  }

  /**
   * The record is built in one buffer with room in front for the MAC's inner pad and the
   * implicit sequence number, so the tag is computed over it in place; the record handed
   * out is the view after that room (whose pad bytes are zeroed by then).
   */
  #sealCbc(type: number, payload: Buffer | readonly Buffer[], length: number): Buffer {
    const mac = this.mac!;
    const room = macRoom(mac);
    const size = sealedSize(this.suite, length);
    const ctLength = size - FRAME_HEADER_SIZE - IV_SIZE - this.suite.tagLength;
    const buf = Buffer.allocUnsafe(room + size);
    writeSeq(buf, this.seq, room - 8);
    writeRecordHeader(buf, room, size - FRAME_HEADER_SIZE);

    // plain = u64 seq ‖ u8 type ‖ u32 length ‖ payload ‖ PKCS#7 padding (1–16 bytes of its count)
    const plain = scratch(ctLength);
    writeSeq(plain, this.seq);
    plain[8] = type;
    writeU32(plain, length, 9);
    const at = putPayload(plain, INNER_HEADER_SIZE, payload);
    const padCount = ctLength - at;
    for (let i = at; i < ctLength; i++) plain[i] = padCount;

    const ivAt = room + FRAME_HEADER_SIZE;
    const random = this.random;
    if (random.into) random.into(buf, ivAt, IV_SIZE);
    else buf.set(random(IV_SIZE), ivAt);
    (this.cbc as CbcEncryptor).encryptInto(buf, plain.subarray(0, ctLength), buf, ivAt + IV_SIZE, ivAt);
    // The shared scratch buffer must not keep this record's plaintext.
    fillBytes.call(plain, 0, 0, ctLength);
    const macEnd = ivAt + IV_SIZE + ctLength;
    mac.macAfterRoom(buf, macEnd, buf, macEnd);
    return buf.subarray(room);
  }

  /** The plaintext (inner header ‖ payload) is laid out in the record and encrypted in place. */
  #sealAead(
    type: number,
    payload: Buffer | readonly Buffer[],
    length: number,
    pool: RecordPool | null,
  ): Buffer {
    const size = sealedSize(this.suite, length);
    const out = pool ? pool.take(size) : Buffer.allocUnsafe(size);
    writeRecordHeader(out, 0, size - FRAME_HEADER_SIZE);
    writeSeq(out, this.seq, FRAME_HEADER_SIZE);
    out[FRAME_HEADER_SIZE + 8] = type;
    writeU32(out, length, FRAME_HEADER_SIZE + 9);
    const at = putPayload(out, FRAME_HEADER_SIZE + INNER_HEADER_SIZE, payload);
    this.aeadKey!.sealInPlace(
      this.aeadNonce(this.seq),
      this.aeadAad(this.seq, out),
      out,
      FRAME_HEADER_SIZE,
      at,
    );
    return out;
  }
}
