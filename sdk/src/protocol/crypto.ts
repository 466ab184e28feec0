/**
 * Every node:crypto operation of the protocol core goes through this module, so the
 * primitives in use can be read (and audited) in one place.
 */
import { Buffer } from 'node:buffer';
import {
  constants as cryptoConstants,
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  diffieHellman,
  generateKeyPairSync,
  hash as oneShotHash,
  privateDecrypt,
  publicEncrypt,
  randomBytes,
  randomFillSync,
  sign,
  timingSafeEqual,
  verify,
} from 'node:crypto';
import type { Cipher, Decipher, JsonWebKey, KeyObject } from 'node:crypto';
import { OAEP_LABEL, X25519_KEY_SIZE } from './constants.js';

export type HashName = 'sha256' | 'sha384' | 'sha512';

/**
 * A source of random bytes. Production uses node:crypto; test vectors inject a fixed one.
 * `into`, when present, writes `size` fresh bytes straight into `out` at `at` (the record
 * layer's IVs), saving the intermediate buffer.
 */
export interface RandomSource {
  (size: number): Buffer;
  into?: (out: Buffer, at: number, size: number) => void;
}

/**
 * `Uint8Array.prototype.fill`, called on Buffers: V8's builtin without Buffer#fill's argument
 * handling (which costs about as much again for the small ranges wiped per record).
 */
export const fillBytes = Uint8Array.prototype.fill;

const POOL_SIZE = 4096;

/**
 * node:crypto randomness, pooled: one `randomFillSync` per 4 KiB instead of one call per IV
 * (a call costs ~4 µs). Bytes are handed out once, then wiped from the pool so a later
 * memory read cannot recover what was handed out.
 */
export function createRandomPool(): RandomSource {
  const pool = Buffer.allocUnsafe(POOL_SIZE);
  let offset = POOL_SIZE;
  const take = (size: number): number => {
    if (offset + size > POOL_SIZE) {
      randomFillSync(pool);
      offset = 0;
    }
    const at = offset;
    offset += size;
    return at;
  };
  const source = (size: number): Buffer => {
    if (size > POOL_SIZE / 4) return randomBytes(size);
    const at = take(size);
    const out = Buffer.from(pool.subarray(at, at + size));
    fillBytes.call(pool, 0, at, at + size);
    return out;
  };
  source.into = (out: Buffer, at: number, size: number): void => {
    if (size > POOL_SIZE / 4) {
      randomFillSync(out, at, size);
      return;
    }
    const from = take(size);
    // Byte by byte: an IV is 16 bytes, and a loop beats making a view to copy from.
    for (let i = 0; i < size; i++) {
      out[at + i] = pool[from + i]!;
      pool[from + i] = 0;
    }
  };
  return source;
}

/** The shared production random source. */
export const secureRandom: RandomSource = createRandomPool();

export function hash(name: HashName, ...parts: Buffer[]): Buffer {
  const h = createHash(name);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Input block size of each hash, as HMAC pads the key to it (RFC 2104). */
const HASH_BLOCK: Record<HashName, number> = { sha256: 64, sha384: 128, sha512: 128 };

export function hashLength(name: HashName): number {
  return name === 'sha256' ? 32 : name === 'sha384' ? 48 : 64;
}

/**
 * HKDF (RFC 5869), extract-then-expand, byte for byte what `hkdfSync` computes (tested for
 * every hash, salt and output length), built on {@link HmacKey}: 5–6 µs for the key
 * schedule's one-block outputs where `hkdfSync` takes 13–14 µs (its KeyObject and job setup),
 * with eight calls per side per handshake.
 */
export function hkdf(name: HashName, ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  const hashLen = hashLength(name);
  if (!Number.isInteger(length) || length < 1 || length > 255 * hashLen) {
    throw new RangeError('hkdf: bad output length');
  }
  const prk = Buffer.allocUnsafe(hashLen);
  hmacInto(name, salt.length > 0 ? salt : Buffer.alloc(hashLen), [ikm], prk);
  const out = Buffer.allocUnsafe(length);
  const counter = Buffer.alloc(1);
  let previous = Buffer.alloc(0);
  for (let at = 0, i = 1; at < length; i++) {
    counter[0] = i;
    const block = Buffer.allocUnsafe(hashLen);
    hmacInto(name, prk, [previous, info, counter], block);
    previous.fill(0);
    at += block.copy(out, at, 0, Math.min(hashLen, length - at));
    previous = block;
  }
  previous.fill(0);
  prk.fill(0);
  return out;
}

/** Writes HMAC(key, concatenation of `parts`) into `out`, for the key schedule's short inputs. */
function hmacInto(name: HashName, key: Buffer, parts: readonly Buffer[], out: Buffer): void {
  const block = HASH_BLOCK[name];
  // RFC 2104: a key longer than the block is hashed first (HmacKey takes block-size keys).
  const k = key.length > block ? (oneShotHash(name, key, 'buffer') as unknown as Buffer) : key;
  const mac = new HmacKey(name, k);
  let length = block;
  for (const p of parts) length += p.length;
  const buf = Buffer.allocUnsafe(length);
  let at = block;
  for (const p of parts) {
    buf.set(p, at);
    at += p.length;
  }
  mac.macAfterRoom(buf, length, out, 0);
  buf.fill(0);
  mac.destroy();
  if (k !== key) k.fill(0);
}

export function secretKey(key: Buffer): KeyObject {
  return createSecretKey(key);
}

export function hmac(name: HashName, key: KeyObject, ...parts: Buffer[]): Buffer {
  const h = createHmac(name, key);
  for (const p of parts) h.update(p);
  return h.digest();
}

/** Constant-time equality; unequal lengths compare unequal (length is public here). */
export function constantTimeEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Constant-time comparison of a digest held as a 'binary' string with `buf[at ..]` (to the
 * end of `buf`): every byte is XORed into one accumulator, with no early exit and no branch
 * on the data, so the time depends on the length (public) only. It spares the record layer
 * writing the expected tag into a buffer and making a view of the received one for
 * `timingSafeEqual` (~0.25 µs of a 16-byte record's ~4).
 */
export function digestMatches(digest: string, buf: Buffer, at: number): boolean {
  const length = digest.length;
  if (length === 0 || buf.length - at !== length) return false;
  let diff = 0;
  for (let i = 0; i < length; i++) diff |= digest.charCodeAt(i) ^ buf[at + i]!;
  return diff === 0;
}

export type CbcCipher = 'aes-128-cbc' | 'aes-256-cbc';
export type GcmCipher = 'aes-256-gcm';

/**
 * HMAC (RFC 2104) with the key's pads prepared once:
 *
 *   HMAC(K, m) = H((K ⊕ opad) ‖ H((K ⊕ ipad) ‖ m))      K zero-padded to the hash's block size
 *
 * Two one-shot `crypto.hash` calls cost ~1 µs each for a small record, where `createHmac`
 * spends ~3 µs on setup alone. To avoid copying the message, the caller leaves
 * `blockSize` bytes of room in front of it; the inner pad is written there for the inner
 * hash and wiped right after.
 */
export class HmacKey {
  /** Room the caller leaves in front of the message: the hash's block size. */
  readonly blockSize: number;
  readonly #hashName: HashName;
  /** K ⊕ ipad in its first `blockSize` bytes, then `#outer`. */
  readonly #store: Buffer;
  /** K ⊕ opad, followed by room for the inner digest. */
  readonly #outer: Buffer;

  /** Bytes of `storage` an HmacKey for `hashName` uses: both pads and the inner digest. */
  static storageSize(hashName: HashName): number {
    return 2 * HASH_BLOCK[hashName] + hashLength(hashName);
  }

  /**
   * `key` must be at most the block size (HMAC keys here are one hash output long). The pads
   * live at the start of `storage` (at least `storageSize` bytes) when given: the caller's
   * one allocation for all its small long-lived buffers.
   */
  constructor(hashName: HashName, key: Buffer, storage?: Buffer) {
    const block = HASH_BLOCK[hashName];
    if (key.length > block) throw new RangeError('HMAC key longer than the hash block');
    this.blockSize = block;
    this.#hashName = hashName;
    const size = HmacKey.storageSize(hashName);
    // Every byte is written below, so an unzeroed (pooled) buffer will do.
    const store = storage ?? Buffer.allocUnsafe(size);
    if (store.length < size) throw new RangeError('HMAC storage too small');
    store.fill(0x36, 0, block);
    store.fill(0x5c, block, 2 * block);
    store.fill(0, 2 * block, size);
    for (let i = 0; i < key.length; i++) {
      store[i]! ^= key[i]!;
      store[block + i]! ^= key[i]!;
    }
    this.#store = store;
    this.#outer = store.subarray(block, size);
  }

  /**
   * Writes the HMAC of `buf[blockSize .. end]` into `out` at `at`. `buf[0 .. blockSize]` is
   * scratch room: overwritten with the inner pad, then zeroed.
   */
  macAfterRoom(buf: Buffer, end: number, out: Buffer, at: number): void {
    out.write(this.#digestAfterRoom(buf, end), at, 'binary');
  }

  /**
   * Whether the HMAC of `buf[blockSize .. end]` equals `tag[at ..]` (to the end of `tag`),
   * compared in constant time. The room in front of the message is used as in `macAfterRoom`.
   */
  verifyAfterRoom(buf: Buffer, end: number, tag: Buffer, at: number): boolean {
    return digestMatches(this.#digestAfterRoom(buf, end), tag, at);
  }

  /**
   * Whether the HMAC of `prefix ‖ data` equals `tag[at ..]`, compared in constant time,
   * without copying `data` (for large inputs, where a copy would cost more than a streaming
   * hash's setup).
   */
  verifyOf(prefix: Buffer, data: Buffer, tag: Buffer, at: number): boolean {
    return digestMatches(this.#digestOf(prefix, data), tag, at);
  }

  #digestAfterRoom(buf: Buffer, end: number): string {
    const block = this.blockSize;
    this.#store.copy(buf, 0, 0, block);
    const inner = oneShotHash(this.#hashName, buf.subarray(0, end), 'binary');
    fillBytes.call(buf, 0, 0, block);
    return this.#outerDigest(inner);
  }

  #digestOf(prefix: Buffer, data: Buffer): string {
    const inner = createHash(this.#hashName)
      .update(this.#store.subarray(0, this.blockSize))
      .update(prefix)
      .update(data)
      .digest('binary');
    return this.#outerDigest(inner);
  }

  /**
   * The outer hash. Digests travel as 'binary' (latin1) strings, one character per byte and
   * exact for all 256 values: a one-shot hash that returns a Buffer costs 3× as much here,
   * for the ArrayBuffer node makes for each output (1.3–1.8 µs against 0.4 µs, measured).
   */
  #outerDigest(inner: string): string {
    this.#outer.write(inner, this.blockSize, 'binary');
    return oneShotHash(this.#hashName, this.#outer, 'binary');
  }

  /** Overwrites the pads. The key is unusable afterwards. */
  destroy(): void {
    this.#store.fill(0, 0, HmacKey.storageSize(this.#hashName));
  }
}

const ZERO_IV = Buffer.alloc(16);

/*
 * AES-CBC on one long-lived cipher context, each record under its own fresh IV.
 *
 * node:crypto cannot give an existing context a new IV, and creating a context per record
 * costs ~3.5 µs, more than encrypting a small record. A CBC context that carries on from
 * its previous output computes C1 = E(X1 ⊕ C_prev), where C_prev is the last ciphertext
 * block it produced. Feeding X1 = P1 ⊕ IV ⊕ C_prev gives C1 = E(P1 ⊕ IV): the output is
 * exactly AES-CBC(key, IV, P), byte for byte what createCipheriv(key, IV) produces (tested).
 * The IV is still the caller's fresh CSPRNG one; the context's chaining value is cancelled
 * out, never used as an IV. Decryption is the mirror image: the context computes
 * D(C1) ⊕ C_prev for the first block, and XORing C_prev ⊕ IV back gives D(C1) ⊕ IV.
 * Padding is the caller's (PKCS#7, added before encryption, checked after the MAC).
 */

/**
 * What both directions share: the raw key and the chaining block, kept in the caller's
 * storage (`store[at .. at+16]` the chaining block, then the key), and the OpenSSL context,
 * made from the key when a record needs it. `release()` frees the context (~0.9 KiB of
 * native memory each, measured) while the session is idle; the next record makes a new one
 * (~3 µs), whose chaining value starts again at the zero IV, which the block follows.
 */
abstract class CbcContext<C extends Cipher | Decipher> {
  protected context: C | null = null;
  protected readonly store: Buffer;
  protected readonly at: number;
  readonly #name: CbcCipher;
  readonly #keyLength: number;
  #destroyed = false;

  /** Bytes of storage a context uses: the chaining block and the key. */
  static storageSize(keyLength: number): number {
    return 16 + keyLength;
  }

  /** `key` is copied into `store` (given: the caller's storage, no allocation) at `at + 16`. */
  constructor(name: CbcCipher, key: Buffer, store?: Buffer, at = 0) {
    this.#name = name;
    this.#keyLength = key.length;
    this.store = store ?? Buffer.alloc(CbcContext.storageSize(key.length));
    this.at = at;
    this.store.fill(0, at, at + 16);
    this.store.set(key, at + 16);
  }

  /** The context, made now if it was released (or never made). */
  protected open(): C {
    if (this.#destroyed) throw new Error('cbc: destroyed');
    const key = this.store.subarray(this.at + 16, this.at + 16 + this.#keyLength);
    const context = this.create(this.#name, key);
    context.setAutoPadding(false);
    this.context = context;
    return context;
  }

  protected abstract create(name: CbcCipher, key: Buffer): C;

  /** Frees the context until the next record (OpenSSL wipes its key schedule). */
  release(): void {
    if (!this.context) return;
    this.context.final();
    this.context = null;
    this.store.fill(0, this.at, this.at + 16);
  }

  /** Frees the context and wipes the key: unusable afterwards. */
  destroy(): void {
    this.release();
    this.#destroyed = true;
    this.store.fill(0, this.at, this.at + 16 + this.#keyLength);
  }
}

/** AES-CBC encryption, one fresh IV per call (see above). */
export class CbcEncryptor extends CbcContext<Cipher> {
  protected create(name: CbcCipher, key: Buffer): Cipher {
    return createCipheriv(name, key, ZERO_IV);
  }

  /**
   * Encrypts `plain` (whole blocks, already padded) under the IV at `iv[ivAt .. ivAt + 16]`
   * into `out` at `offset`. The first block of `plain` is overwritten.
   */
  encryptInto(iv: Buffer, plain: Buffer, out: Buffer, offset: number, ivAt = 0): void {
    const cipher = this.context ?? this.open();
    const store = this.store;
    const at = this.at;
    for (let i = 0; i < 16; i++) plain[i]! ^= iv[ivAt + i]! ^ store[at + i]!;
    const ct = cipher.update(plain);
    if (ct.length !== plain.length) throw new Error('cbc: short output');
    out.set(ct, offset);
    const tail = ct.length - 16;
    for (let i = 0; i < 16; i++) store[at + i] = ct[tail + i]!;
  }
}

/** AES-CBC decryption, one IV per call (see above). No padding removal. */
export class CbcDecryptor extends CbcContext<Decipher> {
  protected create(name: CbcCipher, key: Buffer): Decipher {
    return createDecipheriv(name, key, ZERO_IV);
  }

  /**
   * Decrypts `data` (whole blocks, at least one) under the IV at `iv[ivAt .. ivAt + 16]`.
   * Returns a new buffer, padding included.
   */
  decrypt(iv: Buffer, data: Buffer, ivAt = 0): Buffer {
    const decipher = this.context ?? this.open();
    const plain = decipher.update(data);
    if (plain.length !== data.length) throw new Error('cbc: short output');
    const store = this.store;
    const at = this.at;
    for (let i = 0; i < 16; i++) plain[i]! ^= iv[ivAt + i]! ^ store[at + i]!;
    const tail = data.length - 16;
    for (let i = 0; i < 16; i++) store[at + i] = data[tail + i]!;
    return plain;
  }
}

/**
 * AES-GCM encryption of `parts` into `out` at `offset`, followed by the 16-byte tag.
 * Returns the bytes written (ciphertext + tag).
 */
export function gcmSealInto(
  cipher: GcmCipher,
  key: KeyObject,
  nonce: Buffer,
  aad: Buffer,
  parts: readonly Buffer[],
  out: Buffer,
  offset: number,
): number {
  const c = createCipheriv(cipher, key, nonce, { authTagLength: 16 });
  c.setAAD(aad);
  let at = offset;
  for (const p of parts) at += c.update(p).copy(out, at);
  at += c.final().copy(out, at);
  at += c.getAuthTag().copy(out, at);
  return at - offset;
}

/**
 * AES-GCM decryption. Returns null unless the tag verifies; the plaintext that update()
 * produces is discarded unless final() authenticates it.
 */
export function gcmOpen(
  cipher: GcmCipher,
  key: KeyObject,
  nonce: Buffer,
  aad: Buffer,
  data: Buffer,
  tag: Buffer,
): Buffer | null {
  try {
    const d = createDecipheriv(cipher, key, nonce, { authTagLength: 16 });
    d.setAAD(aad);
    d.setAuthTag(tag);
    const head = d.update(data);
    const tail = d.final();
    return tail.length === 0 ? head : Buffer.concat([head, tail]);
  } catch {
    return null;
  }
}

/** An ephemeral X25519 key pair with its raw 32-byte public value. */
export interface EphemeralKey {
  readonly privateKey: KeyObject;
  readonly publicRaw: Buffer;
}

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// X25519 keys cross the node:crypto boundary as JWK: OpenSSL 3's DER encoders and decoders
// cost ~90 µs per call here, JWK ~1–9 µs (measured; see BENCHMARKS.md).

/**
 * A fresh X25519 key; or, given 32 private bytes (test vectors only), that key.
 *
 * The public value of a fresh key comes out of the generation itself (`publicKeyEncoding`),
 * never from exporting the generated KeyObject afterwards. Node 20 can deadlock on the
 * latter: exporting holds the key's mutex while it allocates, an allocation can run the
 * garbage collector, and the collector may then finalize the finished synchronous
 * generation job, whose destructor takes the same mutex (reproduced: the process hung for
 * good within 50 000 handshakes' worth of keys; with the public value from the generation,
 * 400 000 keys ran clean).
 */
export function x25519Key(privateRaw?: Buffer): EphemeralKey {
  if (!privateRaw) {
    const { privateKey, publicKey } = generateKeyPairSync('x25519', {
      publicKeyEncoding: { type: 'spki', format: 'jwk' },
    });
    // A JWK object at run time (@types/node types it as a KeyObject).
    const { x } = publicKey as unknown as JsonWebKey;
    return { privateKey, publicRaw: Buffer.from(x!, 'base64url') };
  }
  // Not from a generation job: exporting it is safe.
  const privateKey = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, privateRaw]),
    format: 'der',
    type: 'pkcs8',
  });
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, publicRaw: Buffer.from(x!, 'base64url') };
}

/** X25519 shared secret with a peer's raw public value. Throws on an all-zero (low-order) result. */
export function x25519Shared(own: KeyObject, peerRaw: Buffer): Buffer {
  if (peerRaw.length !== X25519_KEY_SIZE) throw new Error('x25519: bad public key length');
  const peer = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: peerRaw.toString('base64url') },
    format: 'jwk',
  });
  const shared = diffieHellman({ privateKey: own, publicKey: peer });
  if (shared.every((b) => b === 0)) throw new Error('x25519: low-order point');
  return shared;
}

/** RSA-OAEP (SHA-256, MGF1-SHA-256, fixed label) encryption of the pre-secret. */
export function oaepEncrypt(publicKey: KeyObject, data: Buffer): Buffer {
  return publicEncrypt(
    {
      key: publicKey,
      padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
      oaepLabel: OAEP_LABEL,
    },
    data,
  );
}

/** RSA-OAEP decryption. Returns null on any failure; the caller substitutes random key material. */
export function oaepDecrypt(privateKey: KeyObject, data: Buffer): Buffer | null {
  try {
    return privateDecrypt(
      {
        key: privateKey,
        padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: OAEP_LABEL,
      },
      data,
    );
  } catch {
    return null;
  }
}

/** RSA-PSS (SHA-256, MGF1-SHA-256, salt = 32) signature, for client authentication. */
export function pssSign(privateKey: KeyObject, data: Buffer): Buffer {
  return sign('sha256', data, {
    key: privateKey,
    padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  });
}

export function pssVerify(publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return verify(
      'sha256',
      data,
      { key: publicKey, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      signature,
    );
  } catch {
    return false;
  }
}

/** Parse an SPKI DER public key; null if it is not one. */
export function parseSpki(der: Buffer): KeyObject | null {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    return null;
  }
}
