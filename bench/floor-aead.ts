/**
 * A floor, not a protocol: the least work a record of secsess's AEAD format (PROTOCOL.md §5:
 * `0x17 ‖ u24 len ‖ ct ‖ tag(16)`, the plaintext `u64 seq ‖ u8 type ‖ u32 len ‖ payload`,
 * `nonce = iv XOR (0^4 ‖ u64 seq)`, `aad = u64 seq ‖ frame header`) can cost with
 * ChaCha20-Poly1305 through one of two primitives:
 *
 *   - `sodium-native` (the `floor-native` rows and network kinds): libsodium's
 *     crypto_aead_chacha20poly1305_ietf_*_detached, sealing in place and opening in place;
 *   - `node:crypto` (`floor-node:crypto`, in-process rows only): a cipher context per record,
 *     as node's API requires, its output copied into the record;
 *   - `fastest` (the network kinds `floor-native` and `floor-native-batch`): sodium-native for
 *     records below 16 KiB, node:crypto (OpenSSL) from there on — the sdk's own split
 *     (NATIVE_AEAD_MAX: OpenSSL's ChaCha20 is ~1.7x libsodium's on a 64 KiB record here), so
 *     the floor of a bulk copy or a full batch pays no more than the best primitive's price.
 *
 * Sealing allocates the record (it is handed to a socket), lays out header, inner header and
 * payload, builds the nonce and aad and seals; opening builds the nonce and aad, opens where
 * the record lies and returns a view of the payload. Left out on purpose: every check beyond
 * the tag, key updates, framing state. The sequence number only counts.
 *
 * Whatever secsess costs above `floor-native` is its own code; `floor-native` itself is what
 * any implementation of this record format on Node must at least pay per record.
 */
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import { createRequire } from 'node:module';
import type { FloorCodec } from './floor.js';

/** The libsodium calls the native floor uses (sodium-native ships no types). */
interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    c: Buffer,
    mac: Buffer,
    m: Buffer,
    ad: Buffer | null,
    nsec: null,
    npub: Buffer,
    k: Buffer,
  ): number;
  /** Throws when the tag does not verify. */
  crypto_aead_chacha20poly1305_ietf_decrypt_detached(
    m: Buffer,
    nsec: null,
    c: Buffer,
    mac: Buffer,
    ad: Buffer | null,
    npub: Buffer,
    k: Buffer,
  ): void;
}

let sodium: Sodium | null | undefined;
let sodiumError = '';

/** sodium-native, or null (then `nativeUnavailable()` says why). Loaded once, on first use. */
export function loadSodium(): Sodium | null {
  if (sodium === undefined) {
    try {
      sodium = createRequire(import.meta.url)('sodium-native') as Sodium;
    } catch (err) {
      sodium = null;
      sodiumError = `sodium-native did not load: ${(err as Error).message.split('\n')[0]}`;
    }
  }
  return sodium;
}

/** Why the native floor cannot run, or null if it can. */
export function nativeUnavailable(): string | null {
  return loadSodium() ? null : sodiumError;
}

export type FloorPrimitive = 'sodium-native' | 'node:crypto' | 'fastest';

/** `fastest` seals and opens records of this many plaintext bytes and more with node:crypto (the sdk's NATIVE_AEAD_MAX). */
const NATIVE_MAX = 16384;

const KEY = Buffer.alloc(32, 0x4b);
const IV = Buffer.alloc(12, 0x49);
const HEADER = 4;
const INNER = 13;
const TAG = 16;

function writeSeq(buf: Buffer, at: number, seq: number): void {
  const high = Math.floor(seq / 0x100000000);
  const low = seq >>> 0;
  buf[at] = high >>> 24;
  buf[at + 1] = high >>> 16;
  buf[at + 2] = high >>> 8;
  buf[at + 3] = high;
  buf[at + 4] = low >>> 24;
  buf[at + 5] = low >>> 16;
  buf[at + 6] = low >>> 8;
  buf[at + 7] = low;
}

/** ChaCha20-Poly1305 records of secsess's AEAD format (one direction each way). */
export class FloorAeadRecords implements FloorCodec {
  readonly #sodium: Sodium | null;
  /** Records of this many bytes (inner header and payload) and more go through node:crypto. */
  readonly #nativeBelow: number;
  readonly #key = createSecretKey(KEY);
  readonly #nonce = Buffer.alloc(12);
  readonly #aad = Buffer.alloc(8 + HEADER);
  #sealSeq = 0;
  #openSeq = 0;
  /** With `reuse`: the one buffer every record is sealed into (the caller is done with the last). */
  #out: Buffer | null = null;
  readonly #reuse: boolean;

  /**
   * `reuse`: seal every record into one kept buffer, as the sdk seals large records into
   * reused ones over a socket (a record is then valid until the next seal).
   */
  constructor(primitive: FloorPrimitive = 'fastest', reuse = false) {
    this.#sodium = primitive === 'node:crypto' ? null : loadSodium();
    if (primitive !== 'node:crypto' && !this.#sodium) throw new Error(sodiumError);
    this.#nativeBelow = primitive === 'fastest' ? NATIVE_MAX : Infinity;
    this.#reuse = reuse;
  }

  #kept(size: number): Buffer {
    if (this.#out === null || this.#out.length < size) this.#out = Buffer.allocUnsafeSlow(size);
    return this.#out.subarray(0, size);
  }

  /** nonce = iv XOR (0^4 ‖ u64 seq); aad = u64 seq ‖ the frame header at `frame[at..]`. */
  #prepare(seq: number, frame: Buffer, at: number): void {
    const nonce = this.#nonce;
    writeSeq(nonce, 4, seq);
    for (let i = 0; i < 4; i++) nonce[i] = IV[i]!;
    for (let i = 4; i < 12; i++) nonce[i]! ^= IV[i]!;
    const aad = this.#aad;
    writeSeq(aad, 0, seq);
    aad[8] = frame[at]!;
    aad[9] = frame[at + 1]!;
    aad[10] = frame[at + 2]!;
    aad[11] = frame[at + 3]!;
  }

  /** One record carrying `payload`. */
  seal(payload: Buffer): Buffer {
    const end = HEADER + INNER + payload.length;
    const out = this.#reuse ? this.#kept(end + TAG) : Buffer.allocUnsafe(end + TAG);
    const body = end + TAG - HEADER;
    out[0] = 0x17;
    out[1] = body >>> 16;
    out[2] = body >>> 8;
    out[3] = body;
    const seq = this.#sealSeq++;
    writeSeq(out, HEADER, seq);
    out[HEADER + 8] = 0x01;
    const length = payload.length;
    out[HEADER + 9] = length >>> 24;
    out[HEADER + 10] = length >>> 16;
    out[HEADER + 11] = length >>> 8;
    out[HEADER + 12] = length;
    out.set(payload, HEADER + INNER);
    this.#prepare(seq, out, 0);
    const sodium = this.#sodium;
    if (sodium && end - HEADER < this.#nativeBelow) {
      const text = out.subarray(HEADER, end);
      sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(
        text,
        out.subarray(end),
        text,
        this.#aad,
        null,
        this.#nonce,
        KEY,
      );
    } else {
      // Typed as GCM for node's overloads (a CCM-like signature otherwise).
      const c = createCipheriv('chacha20-poly1305' as 'aes-256-gcm', this.#key, this.#nonce, {
        authTagLength: TAG,
      });
      c.setAAD(this.#aad);
      out.set(c.update(out.subarray(HEADER, end)), HEADER);
      c.final();
      out.set(c.getAuthTag(), end);
    }
    return out;
  }

  /** The payload of one whole record (opened where it lies); throws if its tag is wrong. */
  open(frame: Buffer): Buffer {
    const end = frame.length - TAG;
    this.#prepare(this.#openSeq++, frame, 0);
    const sodium = this.#sodium;
    let plain: Buffer;
    if (sodium && end - HEADER < this.#nativeBelow) {
      plain = frame.subarray(HEADER, end);
      sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(
        plain,
        null,
        plain,
        frame.subarray(end),
        this.#aad,
        this.#nonce,
        KEY,
      );
    } else {
      const d = createDecipheriv('chacha20-poly1305' as 'aes-256-gcm', this.#key, this.#nonce, {
        authTagLength: TAG,
      });
      d.setAAD(this.#aad);
      d.setAuthTag(frame.subarray(end));
      plain = d.update(frame.subarray(HEADER, end));
      d.final();
    }
    const length = ((plain[9]! << 24) | (plain[10]! << 16) | (plain[11]! << 8) | plain[12]!) >>> 0;
    return plain.subarray(INNER, INNER + length);
  }
}
