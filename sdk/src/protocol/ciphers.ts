/**
 * AES-CBC on long-lived contexts (the CBC suites' records) and AES-GCM for tickets. (The AEAD
 * record suites: aead.ts; HMAC, hashing and randomness: crypto.ts; RSA and X25519: asymmetric.ts.)
 */
import { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv } from 'node:crypto';
import type { Cipher, Decipher, KeyObject } from 'node:crypto';

export type CbcCipher = 'aes-128-cbc' | 'aes-256-cbc';
export type GcmCipher = 'aes-256-gcm';

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
 * produces is overwritten with zeros unless final() authenticates it.
 */
export function gcmOpen(
  cipher: GcmCipher,
  key: KeyObject,
  nonce: Buffer,
  aad: Buffer,
  data: Buffer,
  tag: Buffer,
): Buffer | null {
  let head: Buffer | undefined;
  try {
    const d = createDecipheriv(cipher, key, nonce, { authTagLength: 16 });
    d.setAAD(aad);
    d.setAuthTag(tag);
    head = d.update(data);
    const tail = d.final();
    if (tail.length === 0) return head;
    const whole = Buffer.concat([head, tail]);
    head.fill(0);
    tail.fill(0);
    return whole;
  } catch {
    // The tag failed: the unauthenticated plaintext is wiped, not left to the collector.
    head?.fill(0);
    return null;
  }
}
