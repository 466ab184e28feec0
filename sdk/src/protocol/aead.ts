/**
 * The AEAD record ciphers (AES-256-GCM, ChaCha20-Poly1305) behind one small interface, so
 * the record layers (stream: record-layer.ts; datagram: datagram/record-codec.ts) seal and
 * open inside their own buffers whichever backend does the work.
 *
 * node:crypto is the reference and the fallback: it makes a cipher context per call and
 * hands out new buffers, which are copied where the caller wants them. A native backend
 * (aead-native.ts) works inside the caller's buffers. Both produce identical bytes (tested).
 */
import type { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { AEAD_TAG_SIZE } from './constants.js';

/** node:crypto's names of the AEAD record ciphers. */
export type AeadCipher = 'aes-256-gcm' | 'chacha20-poly1305';

/** Which implementation seals and opens AEAD records. */
export type AeadBackendName = 'node:crypto' | 'sodium-native';

/** One direction's AEAD key, prepared. */
export interface AeadKey {
  readonly backend: AeadBackendName;
  /**
   * Encrypts `buf[from .. to]` in place and writes the 16-byte tag at `buf[to .. to + 16]`.
   * `nonce` is 12 bytes; `aad` is authenticated, not encrypted.
   */
  sealInPlace(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): void;
  /**
   * Checks the tag at `buf[to .. to + 16]` over `aad` and `buf[from .. to]`; only if it
   * verifies, writes the plaintext to `out` at `outAt` (`out` may be `buf` with `outAt ===
   * from`: in place; any other overlap is not allowed) and returns true. On failure returns
   * false; `out`'s range holds no plaintext (it may have been zeroed).
   */
  openInto(
    nonce: Buffer,
    aad: Buffer,
    buf: Buffer,
    from: number,
    to: number,
    out: Buffer,
    outAt: number,
  ): boolean;
  /** Forgets the key (the native backend wipes its copy). */
  destroy(): void;
}

/** node:crypto: a context per call, the output copied into place. */
class NodeAeadKey implements AeadKey {
  readonly backend = 'node:crypto';
  readonly #cipher: AeadCipher;
  #key: KeyObject | null;

  // Typed as GCM for node's overloads (a CCM-like signature otherwise); the name given is the cipher's.
  constructor(cipher: AeadCipher, raw: Buffer) {
    this.#cipher = cipher;
    this.#key = createSecretKey(raw);
  }

  sealInPlace(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): void {
    const c = createCipheriv(this.#cipher as 'aes-256-gcm', this.#key!, nonce, {
      authTagLength: AEAD_TAG_SIZE,
    });
    c.setAAD(aad);
    const ct = c.update(buf.subarray(from, to));
    if (ct.length !== to - from) throw new Error('aead: short output');
    buf.set(ct, from);
    c.final();
    buf.set(c.getAuthTag(), to);
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
    let plain: Buffer | undefined;
    try {
      const d = createDecipheriv(this.#cipher as 'aes-256-gcm', this.#key!, nonce, {
        authTagLength: AEAD_TAG_SIZE,
      });
      d.setAAD(aad);
      d.setAuthTag(buf.subarray(to, to + AEAD_TAG_SIZE));
      plain = d.update(buf.subarray(from, to));
      d.final();
    } catch {
      // The tag failed: the unauthenticated plaintext is wiped, never copied out.
      plain?.fill(0);
      return false;
    }
    out.set(plain, outAt);
    plain.fill(0);
    return true;
  }

  destroy(): void {
    this.#key = null;
  }
}

/**
 * A key for `cipher` from its raw bytes (copied; the caller wipes `raw`), on the backend in
 * use (aeadBackend()).
 */
export function createAeadKey(cipher: AeadCipher, raw: Buffer): AeadKey {
  return new NodeAeadKey(cipher, raw);
}

/** The backend AEAD keys are made on. */
export function aeadBackend(): AeadBackendName {
  return 'node:crypto';
}
