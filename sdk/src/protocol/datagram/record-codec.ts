/**
 * One epoch's record keys and the Record packet's wire format (PROTOCOL.md §D4):
 *
 *   header = 0x47 ‖ conn_id (8) ‖ u32 epoch ‖ u48 seq                   (19 bytes)
 *   inner  = u8 record_type ‖ payload
 *   CBC:  body = IV (16) ‖ ct ‖ tag;  ct = AES-CBC(cipher_key, IV, inner ‖ PKCS#7)
 *         tag = HMAC(mac_key, header ‖ IV ‖ ct)                          (Hlen bytes)
 *   AEAD: body = ct ‖ tag (16);  nonce = iv XOR (0^4 ‖ u64 seq);  aad = header
 *         (AES-256-GCM or ChaCha20-Poly1305, aead.ts)
 *
 * This file knows keys and bytes only; which epoch, which seq and whether a record is fresh
 * is contexts.ts's. The fast paths are the stream record layer's: HMAC with prepared pads
 * over a buffer with room in front (crypto.ts HmacKey), one long-lived CBC context per key
 * (ciphers.ts), pooled IVs.
 */
import { Buffer } from 'node:buffer';
import { createAeadKey } from '../aead.js';
import type { AeadCipher, AeadKey } from '../aead.js';
import { CbcDecryptor, CbcEncryptor } from '../ciphers.js';
import type { CbcCipher } from '../ciphers.js';
import { AEAD_IV_SIZE, AEAD_TAG_SIZE, AES_BLOCK, IV_SIZE } from '../constants.js';
import { HmacKey, fillBytes, secureRandom } from '../crypto.js';
import type { RandomSource } from '../crypto.js';
import { trafficKeys } from '../key-schedule.js';
import { pkcs7Length, readU32 } from '../record-bytes.js';
import type { Suite } from '../suite.js';
import { CONN_ID_SIZE, MAX_UDP_PAYLOAD, PacketType, RECORD_HEADER_SIZE } from './constants.js';

const EPOCH_AT = 1 + CONN_ID_SIZE;
const SEQ_AT = EPOCH_AT + 4;

/** Size of the Record packet that carries a `payloadLength`-byte payload (§D4). */
export function recordPacketSize(suite: Suite, payloadLength: number): number {
  if (suite.mode === 'aead') return RECORD_HEADER_SIZE + 1 + payloadLength + AEAD_TAG_SIZE;
  return (
    RECORD_HEADER_SIZE +
    IV_SIZE +
    AES_BLOCK * (Math.floor((1 + payloadLength) / AES_BLOCK) + 1) +
    suite.tagLength
  );
}

/** The smallest Record packet of the suite: shape rule 1 of §D4. */
export function minRecordPacketSize(suite: Suite): number {
  return suite.mode === 'aead'
    ? RECORD_HEADER_SIZE + 1 + AEAD_TAG_SIZE
    : RECORD_HEADER_SIZE + IV_SIZE + AES_BLOCK + suite.tagLength;
}

/**
 * The largest payload whose Record packet is at most `datagramSize` bytes. Throws RangeError
 * when not even an empty payload fits.
 */
export function maxRecordPayload(suite: Suite, datagramSize: number): number {
  let p: number;
  if (suite.mode === 'aead') {
    p = datagramSize - RECORD_HEADER_SIZE - 1 - AEAD_TAG_SIZE;
  } else {
    const blocks = Math.floor((datagramSize - RECORD_HEADER_SIZE - IV_SIZE - suite.tagLength) / AES_BLOCK);
    // blocks of ct hold at most 16·blocks − 1 bytes of inner (padding takes at least one)
    p = AES_BLOCK * blocks - 2;
  }
  if (!(p >= 0)) throw new RangeError(`no record fits in ${datagramSize} bytes`);
  return p;
}

/** Whether `packet` has a Record packet's shape for `suite` (§D4 step 1). */
export function recordShapeOk(suite: Suite, packet: Buffer): boolean {
  const length = packet.length;
  if (length < minRecordPacketSize(suite) || length > MAX_UDP_PAYLOAD || packet[0] !== PacketType.Record) {
    return false;
  }
  return suite.mode === 'aead' || (length - RECORD_HEADER_SIZE - IV_SIZE - suite.tagLength) % AES_BLOCK === 0;
}

/** The epoch of a Record packet (at least 19 bytes; unchecked). */
export function recordEpoch(packet: Buffer): number {
  return readU32(packet, EPOCH_AT);
}

/** The seq of a Record packet (at least 19 bytes; unchecked). */
export function recordSeq(packet: Buffer): number {
  return readU16(packet, SEQ_AT) * 0x100000000 + readU32(packet, SEQ_AT + 2);
}

/** Whether the Record packet's conn_id equals `connectionId` (public: plain comparison). */
export function recordConnectionIdIs(packet: Buffer, connectionId: Buffer): boolean {
  for (let i = 0; i < CONN_ID_SIZE; i++) if (packet[1 + i] !== connectionId[i]) return false;
  return true;
}

/**
 * The header of a Record packet, or null if `packet` is not one (type or too short). For
 * transports routing by conn_id: the returned `connectionId` is a view into `packet`.
 */
export function peekRecordHeader(
  packet: Buffer,
): { connectionId: Buffer; epoch: number; seq: number } | null {
  if (packet.length < RECORD_HEADER_SIZE || packet[0] !== PacketType.Record) return null;
  return {
    connectionId: packet.subarray(1, 1 + CONN_ID_SIZE),
    epoch: recordEpoch(packet),
    seq: recordSeq(packet),
  };
}

function readU16(buf: Buffer, at: number): number {
  return (buf[at]! << 8) | buf[at + 1]!;
}

/** Byte stores: cheaper than Buffer#write* for these few fields (values in range by construction). */
function writeHeader(buf: Buffer, at: number, connectionId: Buffer, epoch: number, seq: number): void {
  buf[at] = PacketType.Record;
  buf.set(connectionId, at + 1);
  const e = at + EPOCH_AT;
  buf[e] = epoch >>> 24;
  buf[e + 1] = epoch >>> 16;
  buf[e + 2] = epoch >>> 8;
  buf[e + 3] = epoch;
  const high = Math.floor(seq / 0x100000000);
  const low = seq >>> 0;
  const s = at + SEQ_AT;
  buf[s] = high >>> 8;
  buf[s + 1] = high;
  buf[s + 2] = low >>> 24;
  buf[s + 3] = low >>> 16;
  buf[s + 4] = low >>> 8;
  buf[s + 5] = low;
}

/** From this many bytes covered by the tag on, a CBC packet is hashed in place (as the stream layer does). */
const STREAMING_MAC_MIN = 16384;

let scratchBuf = Buffer.alloc(0);

/** A thread-wide buffer for the bytes a CBC tag covers (ciphertext only: nothing to wipe). */
function scratch(size: number): Buffer {
  if (scratchBuf.length < size)
    scratchBuf = Buffer.allocUnsafeSlow(Math.max(size, 2 * scratchBuf.length, 2048));
  return scratchBuf;
}

/** An opened record: its type and a view of its payload. */
export interface OpenedDatagramRecord {
  readonly type: number;
  readonly payload: Buffer;
}

/**
 * The keys of one epoch of one direction, derived from its traffic secret `T_e` with Part I's
 * labels. A sealing instance seals, an opening one opens; `destroy()` wipes every key.
 */
export class EpochKeys {
  readonly #suite: Suite;
  readonly #random: RandomSource;
  #mac: HmacKey | null = null;
  #cbc: CbcEncryptor | CbcDecryptor | null = null;
  #aeadKey: AeadKey | null = null;
  /** AEAD: iv (12), then the per-record nonce (12). */
  #aead: Buffer | null = null;
  #destroyed = false;

  /** `secret` is only read: the caller keeps or wipes it. */
  constructor(suite: Suite, secret: Buffer, sealing: boolean, random: RandomSource = secureRandom) {
    this.#suite = suite;
    this.#random = random;
    const keys = trafficKeys(suite, secret);
    if (suite.mode === 'aead') {
      try {
        this.#aeadKey = createAeadKey(suite.cipher as AeadCipher, keys.cipherRaw);
      } finally {
        keys.cipherRaw.fill(0);
      }
      this.#aead = Buffer.alloc(2 * AEAD_IV_SIZE);
      keys.iv.copy(this.#aead);
      keys.iv.fill(0);
      return;
    }
    try {
      const macSize = HmacKey.storageSize(suite.hashName);
      const storage = Buffer.alloc(macSize + CbcEncryptor.storageSize(suite.keyLength));
      this.#mac = new HmacKey(suite.hashName, keys.macKey, storage);
      const cipher = suite.cipher as CbcCipher;
      this.#cbc = sealing
        ? new CbcEncryptor(cipher, keys.cipherRaw, storage, macSize)
        : new CbcDecryptor(cipher, keys.cipherRaw, storage, macSize);
    } finally {
      keys.macKey.fill(0);
      keys.cipherRaw.fill(0);
    }
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Seals one record into a new Record packet. The caller checked the size and the seq. */
  seal(connectionId: Buffer, epoch: number, seq: number, type: number, payload: Buffer): Buffer {
    if (this.#destroyed) throw new Error('epoch keys destroyed');
    return this.#suite.mode === 'aead'
      ? this.#sealAead(connectionId, epoch, seq, type, payload)
      : this.#sealCbc(connectionId, epoch, seq, type, payload);
  }

  /**
   * The packet is built after room for the HMAC inner pad, so the tag is computed in place;
   * the inner plaintext is laid out where its ciphertext goes and encrypted over itself.
   */
  #sealCbc(connectionId: Buffer, epoch: number, seq: number, type: number, payload: Buffer): Buffer {
    const mac = this.#mac!;
    const room = mac.blockSize;
    const size = recordPacketSize(this.#suite, payload.length);
    const buf = Buffer.allocUnsafe(room + size);
    writeHeader(buf, room, connectionId, epoch, seq);
    const ivAt = room + RECORD_HEADER_SIZE;
    const ctAt = ivAt + IV_SIZE;
    const macEnd = room + size - this.#suite.tagLength;
    buf[ctAt] = type;
    buf.set(payload, ctAt + 1);
    const padCount = macEnd - (ctAt + 1 + payload.length);
    fillBytes.call(buf, padCount, ctAt + 1 + payload.length, macEnd);
    const random = this.#random;
    if (random.into) random.into(buf, ivAt, IV_SIZE);
    else buf.set(random(IV_SIZE), ivAt);
    // encryptInto reads the plaintext before it writes the ciphertext over it.
    (this.#cbc as CbcEncryptor).encryptInto(buf, buf.subarray(ctAt, macEnd), buf, ctAt, ivAt);
    mac.macAfterRoom(buf, macEnd, buf, macEnd);
    return buf.subarray(room);
  }

  /** The inner plaintext (type ‖ payload) is laid out after the header and sealed in place. */
  #sealAead(connectionId: Buffer, epoch: number, seq: number, type: number, payload: Buffer): Buffer {
    const size = recordPacketSize(this.#suite, payload.length);
    const out = Buffer.allocUnsafe(size);
    writeHeader(out, 0, connectionId, epoch, seq);
    out[RECORD_HEADER_SIZE] = type;
    out.set(payload, RECORD_HEADER_SIZE + 1);
    const tagAt = size - AEAD_TAG_SIZE;
    this.#aeadKey!.sealInPlace(
      this.#nonce(out),
      out.subarray(0, RECORD_HEADER_SIZE),
      out,
      RECORD_HEADER_SIZE,
      tagAt,
    );
    return out;
  }

  /** nonce = iv XOR (0^4 ‖ u64 seq): u64 seq is 0x0000 ‖ the header's u48 seq. */
  #nonce(packet: Buffer): Buffer {
    const store = this.#aead!;
    const nonce = store.subarray(AEAD_IV_SIZE, 2 * AEAD_IV_SIZE);
    for (let i = 0; i < 6; i++) nonce[i] = store[i]!;
    for (let i = 6; i < AEAD_IV_SIZE; i++) nonce[i] = store[i]! ^ packet[SEQ_AT + i - 6]!;
    return nonce;
  }

  /**
   * Authenticates, then decrypts, a packet that passed `recordShapeOk` (§D4 steps 6–7).
   * Returns null on any failure (tag, padding, empty inner), the same null for each.
   */
  open(packet: Buffer): OpenedDatagramRecord | null {
    if (this.#destroyed) return null;
    return this.#suite.mode === 'aead' ? this.#openAead(packet) : this.#openCbc(packet);
  }

  #openCbc(packet: Buffer): OpenedDatagramRecord | null {
    const mac = this.#mac!;
    const room = mac.blockSize;
    const macStart = packet.length - this.#suite.tagLength;
    let authentic: boolean;
    if (macStart >= STREAMING_MAC_MIN) {
      // A large packet is hashed where it lies: a copy would cost more than a hash's setup.
      authentic = mac.verifyOf(
        packet.subarray(0, RECORD_HEADER_SIZE),
        packet.subarray(RECORD_HEADER_SIZE, macStart),
        packet,
        macStart,
      );
    } else {
      const covered = scratch(room + macStart);
      covered.set(packet.subarray(0, macStart), room);
      authentic = mac.verifyAfterRoom(covered, room + macStart, packet, macStart);
    }
    if (!authentic) return null;
    const plain = (this.#cbc as CbcDecryptor).decrypt(
      packet,
      packet.subarray(RECORD_HEADER_SIZE + IV_SIZE, macStart),
      RECORD_HEADER_SIZE,
    );
    // PKCS#7 on an authentic record: a bad one means a broken peer, rejected like a bad tag.
    const end = pkcs7Length(plain);
    if (end < 1) {
      plain.fill(0);
      return null;
    }
    return { type: plain[0]!, payload: plain.subarray(1, end) };
  }

  /** Opened into a buffer of its own (not the shared pool): the payload is handed out. */
  #openAead(packet: Buffer): OpenedDatagramRecord | null {
    const tagStart = packet.length - AEAD_TAG_SIZE;
    const plain = this.#aeadKey!.open(
      this.#nonce(packet),
      packet.subarray(0, RECORD_HEADER_SIZE),
      packet,
      RECORD_HEADER_SIZE,
      tagStart,
    );
    if (plain === null || plain.length < 1) return null;
    return { type: plain[0]!, payload: plain.subarray(1) };
  }

  /**
   * Frees the cipher context (CBC: ~0.9 KiB of native memory; AEAD on @secsess/native: its
   * OpenSSL context) while the session is idle; the next record makes a new one from the key
   * kept in storage (node:crypto and libsodium AEAD keys keep no context).
   */
  release(): void {
    this.#cbc?.release();
    this.#aeadKey?.release?.();
  }

  /** Wipes every key; `seal` then throws and `open` returns null. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#mac?.destroy();
    this.#mac = null;
    this.#cbc?.destroy();
    this.#cbc = null;
    this.#aead?.fill(0);
    this.#aead = null;
    this.#aeadKey?.destroy();
    this.#aeadKey = null;
  }
}
