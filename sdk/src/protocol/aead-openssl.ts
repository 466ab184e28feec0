/**
 * The OpenSSL native backend: AES-256-GCM and ChaCha20-Poly1305 inside the caller's buffers,
 * through `@secsess/native` (an optional dependency of @secsess/sdk: a small addon built at
 * install against the OpenSSL that Node.js itself links), loaded on first use; aead.ts
 * decides when, and falls back to libsodium / node:crypto when it is missing or fails its
 * known answers.
 *
 * node:crypto runs the same OpenSSL code but builds a cipher context per record and hands out
 * a new output buffer; libsodium works in place but its ChaCha20 is vectorized narrower and
 * it has no AES-GCM. Here each key holds one encryption and one decryption context (the key
 * schedule done once): a record sets its nonce, and is sealed or opened where it lies.
 *
 * Opening: OpenSSL decrypts and authenticates in one pass, so the tag's verdict comes after
 * the plaintext is written; the addon wipes the output range before it reports a failure
 * (SECURITY.md, "Native AEAD"), so `openInto`'s contract (no plaintext of a failed record is
 * ever left) holds as with libsodium, which checks first.
 */
import { Buffer } from 'node:buffer';
import { createCipheriv } from 'node:crypto';
import type { AeadCipher, AeadKey } from './aead.js';
import { requireOptional } from './aead-native.js';
import { AEAD_TAG_SIZE } from './constants.js';

/** What @secsess/native exports (native/index.d.cts). */
export interface OpenSslNative {
  readonly openssl: string;
  createKey(cipher: 1 | 2, key: Uint8Array): object;
  seal(key: object, nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, from: number, to: number): void;
  open(
    key: object,
    nonce: Uint8Array,
    aad: Uint8Array,
    buf: Uint8Array,
    from: number,
    to: number,
    out: Uint8Array,
    outAt: number,
  ): boolean;
  release(key: object): void;
  destroy(key: object): void;
}

/** @secsess/native, or why it is not used. */
export type OpenSslLoad = { readonly native: OpenSslNative } | { readonly reason: string };

/** The addon's numbers for the ciphers. */
const CIPHER_ID: Readonly<Record<AeadCipher, 1 | 2>> = { 'aes-256-gcm': 1, 'chacha20-poly1305': 2 };

/**
 * Loads @secsess/native (resolved from this package, as a user's install places it) and
 * checks it: its functions, and known answers for both ciphers (records sealed by
 * node:crypto, fixed here) laid out as the record layers lay them out, so a broken build is
 * never trusted with traffic. Never throws.
 */
export function loadOpenSsl(): OpenSslLoad {
  const loaded = requireOptional('@secsess/native', '@secsess/native is not installed (or was not built)');
  if ('reason' in loaded) return loaded;
  const native = loaded.module as Partial<OpenSslNative>;
  if (
    typeof native.createKey !== 'function' ||
    typeof native.seal !== 'function' ||
    typeof native.open !== 'function' ||
    typeof native.release !== 'function' ||
    typeof native.destroy !== 'function'
  ) {
    return { reason: '@secsess/native lacks its functions' };
  }
  try {
    for (const cipher of ['aes-256-gcm', 'chacha20-poly1305'] as const) {
      if (!knownAnswer(native as OpenSslNative, cipher)) {
        return { reason: `@secsess/native failed its ${cipher} known-answer test` };
      }
    }
  } catch (err) {
    return { reason: `@secsess/native failed its known-answer test: ${(err as Error).message}` };
  }
  return { native: native as OpenSslNative };
}

/** key 00..1f, nonce 40..4b, aad "secsess", "secsess native self-test": ct ‖ tag (node:crypto's). */
const KAT_SEALED: Readonly<Record<AeadCipher, string>> = {
  'aes-256-gcm': '91dccd50434ff423a3a5635fed0133281caa3471c3507c573e63f1070b162207fa45bbd1f7e6856c',
  'chacha20-poly1305': '8b311ff217399d2136ae8269cd8a4dbed1a005353099321b264180acae840a93755aca2b38a48f07',
};

/**
 * The record layers' call shapes: nonce, aad and record are views at non-zero offsets of
 * larger buffers, a record is opened in place and into another buffer at an offset, bytes
 * around each range stay as they were, and a record with a flipped bit is refused and its
 * output wiped. The key's contexts are reused from record to record (only the nonce is set
 * per record): a second record under another nonce must be node:crypto's to the byte (a
 * nonce that stopped taking effect would reuse keystream), and a good record must still
 * open after a refused one.
 */
function knownAnswer(native: OpenSslNative, cipher: AeadCipher): boolean {
  const key = Buffer.alloc(32);
  for (let i = 0; i < 32; i++) key[i] = i;
  const text = Buffer.from('secsess native self-test');
  const store = Buffer.alloc(3 + 12 + 7 + 3, 0xee);
  for (let i = 0; i < 12; i++) store[3 + i] = 0x40 + i;
  store.write('secsess', 3 + 12, 'latin1');
  const nonce = store.subarray(3, 3 + 12);
  const aad = store.subarray(3 + 12, 3 + 12 + 7);
  const at = 4;
  const end = at + text.length;
  const frame = Buffer.alloc(end + AEAD_TAG_SIZE + 4, 0xee);
  text.copy(frame, at);
  const out = Buffer.alloc(text.length + 10, 0xee);
  const k = new OpenSslAeadKey(native, cipher, key);
  const untouched = (b: Buffer, from: number, to: number): boolean =>
    b.subarray(0, from).every((x) => x === 0xee) && b.subarray(to).every((x) => x === 0xee);
  try {
    k.sealInPlace(nonce, aad, frame, at, end);
    const sealed =
      frame.toString('hex', at, end + AEAD_TAG_SIZE) === KAT_SEALED[cipher] && untouched(frame, at, end + 16);
    const opened =
      k.openInto(nonce, aad, frame, at, end, out, 5) &&
      out.subarray(5, 5 + text.length).equals(text) &&
      untouched(out, 5, 5 + text.length);
    const copy = Buffer.from(frame);
    const inPlace = k.openInto(nonce, aad, copy, at, end, copy, at) && copy.subarray(at, end).equals(text);
    const good = Buffer.from(frame);
    frame[at]! ^= 1;
    const refused =
      !k.openInto(nonce, aad, frame, at, end, out, 5) &&
      out.subarray(5, 5 + text.length).every((x) => x === 0);
    const after = k.openInto(nonce, aad, good, at, end, good, at) && good.subarray(at, end).equals(text);
    // A second record under the next nonce, after release() (the contexts made again), against
    // node:crypto's (the reference).
    k.release();
    const next = Buffer.from(nonce);
    next[11]! ^= 1;
    const second = Buffer.alloc(text.length + AEAD_TAG_SIZE);
    text.copy(second);
    k.sealInPlace(next, aad, second, 0, text.length);
    const c = createCipheriv(cipher as 'aes-256-gcm', key, next, { authTagLength: AEAD_TAG_SIZE });
    c.setAAD(aad);
    const reused = second.equals(Buffer.concat([c.update(text), c.final(), c.getAuthTag()]));
    return sealed && opened && inPlace && refused && after && reused && untouched(store, 3, 3 + 12 + 7);
  } finally {
    k.destroy();
  }
}

/** One direction's AES-256-GCM or ChaCha20-Poly1305 key on Node's OpenSSL, in place. */
export class OpenSslAeadKey implements AeadKey {
  readonly backend = '@secsess/native';
  readonly inPlace = true;
  readonly #native: OpenSslNative;
  #key: object | null;

  /** `raw` (32 bytes) is copied into OpenSSL's contexts; the caller wipes it. */
  constructor(native: OpenSslNative, cipher: AeadCipher, raw: Buffer) {
    if (raw.length !== 32) throw new RangeError('aead: the key is 32 bytes');
    this.#native = native;
    this.#key = native.createKey(CIPHER_ID[cipher], raw);
  }

  /** Sealing in place is cheapest: the caller lays the record out. */
  sealParts(): null {
    return null;
  }

  sealInPlace(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): void {
    if (this.#key === null) throw new Error('aead: the key was destroyed');
    this.#native.seal(this.#key, nonce, aad, buf, from, to);
  }

  openInto(
    nonce: Buffer,
    aad: Buffer,
    buf: Buffer,
    from: number,
    to: number,
    out: Buffer,
    outAt: number,
  ): boolean {
    if (this.#key === null) return false;
    // The addon checks every range (a RangeError, nothing written).
    return this.#native.open(this.#key, nonce, aad, buf, from, to, out, outAt);
  }

  open(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): Buffer | null {
    const plain = Buffer.allocUnsafeSlow(Math.max(0, to - from));
    return this.openInto(nonce, aad, buf, from, to, plain, 0) ? plain : null;
  }

  /** Frees the OpenSSL contexts while the session is idle; the next record makes them again. */
  release(): void {
    if (this.#key !== null) this.#native.release(this.#key);
  }

  destroy(): void {
    if (this.#key === null) return;
    this.#native.destroy(this.#key);
    this.#key = null;
  }
}
