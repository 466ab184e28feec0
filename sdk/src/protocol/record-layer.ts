/**
 * Records (PROTOCOL.md "Records"): one direction's sealing or opening state.
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
  KEY_LIMIT_FACTOR,
  KEY_UPDATE_BYTES,
  KEY_UPDATE_RECORDS,
  MAX_FRAGMENT,
  MAX_SEQUENCE,
} from './constants.js';
import { createAeadKey } from './aead.js';
import type { AeadCipher, AeadKey } from './aead.js';
import { CbcDecryptor, CbcEncryptor } from './ciphers.js';
import { HmacKey, fillBytes } from './crypto.js';
import type { CbcCipher } from './ciphers.js';
import type { RandomSource } from './crypto.js';
import { ErrorCode, SessionError, recordError } from './errors.js';
import { pkcs7Length, putPayload, readU32, writeRecordHeader, writeSeq, writeU32 } from './record-bytes.js';
import { nextTrafficSecret, trafficKeys } from './key-schedule.js';
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
function macRoom(mac: HmacKey): number {
  return mac.blockSize + 8;
}

let scratchBuf = Buffer.alloc(0);

/**
 * A buffer of at least `size` bytes, shared by every record state of this thread: sealing
 * assembles the padded plaintext in it, opening the bytes the tag covers. Neither nests,
 * so one suffices; it grows to one maximal record and stays.
 */
function scratch(size: number): Buffer {
  if (scratchBuf.length < size)
    scratchBuf = Buffer.allocUnsafeSlow(Math.max(size, 2 * scratchBuf.length, 1024));
  return scratchBuf;
}

abstract class RecordState {
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
   * Frees this direction's cipher context while the session is idle (CBC suites; AEAD keys
   * keep no context between records). The next record makes a new one from the key kept in storage.
   */
  release(): void {
    this.cbc?.release();
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

  /** Seals one record. `payload` may be given in parts; they are concatenated in the plaintext. */
  seal(type: number, payload: Buffer | readonly Buffer[]): Buffer {
    if (this.seq > MAX_SEQUENCE) {
      throw new SessionError(ErrorCode.KEY_EXHAUSTED, 'record sequence number exhausted');
    }
    let length = 0;
    if (Buffer.isBuffer(payload)) length = payload.length;
    else for (const p of payload) length += p.length;
    const out =
      this.suite.mode === 'aead'
        ? this.#sealAead(type, payload, length)
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
  #sealAead(type: number, payload: Buffer | readonly Buffer[], length: number): Buffer {
    const size = sealedSize(this.suite, length);
    const out = Buffer.allocUnsafe(size);
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

export interface OpenedRecord {
  readonly type: number;
  readonly payload: Buffer;
}

/** From this many covered bytes on, the opener hashes the frame in place rather than copying it. */
const STREAMING_MAC_MIN = 16384;

export class RecordOpener extends RecordState {
  constructor(suite: Suite, secret: Buffer, budget: KeyBudget = DEFAULT_KEY_BUDGET) {
    super(suite, secret, budget, false);
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
    if (end < INNER_HEADER_SIZE) throw recordError();
    const seqHigh = readU32(plain, 0);
    const seqLow = readU32(plain, 4);
    const payloadLength = readU32(plain, 9);
    // A CBC frame within the limit has room (its padding) for a payload of up to 65 538 bytes:
    // the payload limit is checked here, with the other inner checks, as the same error.
    if (
      seqHigh * 0x100000000 + seqLow !== this.seq ||
      payloadLength !== end - INNER_HEADER_SIZE ||
      payloadLength > MAX_FRAGMENT
    ) {
      throw recordError();
    }
    this.seq += 1;
    this.recordsUnderKey += 1;
    this.bytesUnderKey += payloadLength;
    return { type: plain[8]!, payload: plain.subarray(INNER_HEADER_SIZE, end) };
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

  /** Opened into a buffer of its own (not the shared pool: a clone of a message carries it alone). */
  #openAead(frame: Buffer): Buffer {
    const tagStart = frame.length - this.suite.tagLength;
    if (tagStart - FRAME_HEADER_SIZE < INNER_HEADER_SIZE) throw recordError();
    const plain = this.aeadKey!.open(
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
