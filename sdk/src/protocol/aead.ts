/**
 * The AEAD record ciphers (AES-256-GCM, ChaCha20-Poly1305) behind one small interface, so
 * the record layers (stream: record-layer.ts; datagram: datagram/record-codec.ts) seal and
 * open inside their own buffers whichever backend does the work.
 *
 * node:crypto is the reference and the fallback: it makes a cipher context per call and
 * hands out new buffers, which are copied where the caller wants them. Two optional native
 * backends seal and open inside the caller's buffers: `@secsess/native` (aead-openssl.ts:
 * both ciphers on the OpenSSL Node links, a context per key) and `sodium-native`
 * (aead-native.ts: libsodium's ChaCha20-Poly1305). All produce identical bytes (tested).
 *
 * The backends are chosen once, at the first AEAD key (or `cryptoBackends()` call) of the
 * process: both ciphers on @secsess/native when it loads and passes its known answers;
 * else ChaCha20-Poly1305 on sodium-native when it loads and passes its known answer
 * (records of NATIVE_AEAD_MAX bytes and more that get a new buffer anyway through
 * node:crypto, see there) and AES-256-GCM on node:crypto; else node:crypto for both.
 * `SECSESS_CRYPTO` in the environment narrows the choice: `sodium` skips @secsess/native,
 * `node` forces node:crypto. One `NODE_DEBUG=secsess` line names each cipher's backend and,
 * for a fallback, why.
 */
import type { Buffer } from 'node:buffer';
import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { debuglog } from 'node:util';
import { SodiumChachaKey, loadSodium } from './aead-native.js';
import { OpenSslAeadKey, loadOpenSsl } from './aead-openssl.js';
import type { OpenSslNative } from './aead-openssl.js';
import type { Sodium } from './aead-native.js';
import { AEAD_TAG_SIZE } from './constants.js';

/** node:crypto's names of the AEAD record ciphers. */
export type AeadCipher = 'aes-256-gcm' | 'chacha20-poly1305';

/** Which implementation seals and opens AEAD records. */
export type AeadBackendName = 'node:crypto' | 'sodium-native' | '@secsess/native';

/** One direction's AEAD key, prepared. */
export interface AeadKey {
  readonly backend: AeadBackendName;
  /**
   * Whether `sealInPlace` and `openInto` work inside the caller's buffers at every size
   * (@secsess/native, libsodium) rather than through a new buffer and a copy (node:crypto): where they do, a
   * large record is worth sealing or opening in a reused buffer (record-pool.ts).
   */
  readonly inPlace: boolean;
  /**
   * Encrypts `buf[from .. to]` in place and writes the 16-byte tag at `buf[to .. to + 16]`.
   * `nonce` is 12 bytes; `aad` is authenticated, not encrypted.
   */
  sealInPlace(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): void;
  /**
   * Seals `head ‖ payload` as one plaintext without joining them: returns the ciphertext of
   * `head` (same length), that of `payload` (same length) and the 16-byte tag, each in a
   * buffer of its own that nothing else holds — or null where sealing in place is cheaper
   * (the caller then lays the record out and calls `sealInPlace`). node:crypto hands out new
   * output buffers anyway: a large record sealed this way skips its record buffer and two
   * copies of the payload.
   */
  sealParts(
    nonce: Buffer,
    aad: Buffer,
    head: Buffer,
    payload: Buffer,
  ): readonly [Buffer, Buffer, Buffer] | null;
  /**
   * Checks the tag at `buf[to .. to + 16]` over `aad` and `buf[from .. to]`; only if it
   * verifies, writes the plaintext to `out` at `outAt` (`out` may be `buf` with `outAt ===
   * from`: in place; any other overlap is not allowed) and returns true. On failure returns
   * false; `out`'s range holds no plaintext: node:crypto leaves it untouched, sodium-native
   * and @secsess/native zero it (in place: the ciphertext is gone, so a failed record cannot be tried again
   * with another key from the same bytes).
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
  /**
   * As `openInto`, into a buffer of its own (never Node's shared pool): the plaintext of
   * `buf[from .. to]` if the tag verifies, else null (nothing of it kept). node:crypto hands
   * over its own output buffer here, saving openInto's copy (a 64 KiB record: an allocation,
   * a copy and a wipe).
   */
  open(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): Buffer | null;
  /**
   * Frees what the key holds between records while the session is idle, if anything
   * (@secsess/native: its OpenSSL contexts, ~1 KiB each); the next record makes it again.
   */
  release?(): void;
  /** Forgets the key (the native backends wipe their copy). */
  destroy(): void;
}

/** @internal node:crypto: a context per call, the output copied into place. */
export class NodeAeadKey implements AeadKey {
  readonly backend = 'node:crypto';
  readonly inPlace = false;
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

  sealParts(nonce: Buffer, aad: Buffer, head: Buffer, payload: Buffer): readonly [Buffer, Buffer, Buffer] {
    const c = createCipheriv(this.#cipher as 'aes-256-gcm', this.#key!, nonce, {
      authTagLength: AEAD_TAG_SIZE,
    });
    c.setAAD(aad);
    const headCt = c.update(head);
    const ct = c.update(payload);
    // A stream mode: each update's output is exactly its input's length.
    if (headCt.length !== head.length || ct.length !== payload.length) throw new Error('aead: short output');
    c.final();
    return [headCt, ct, c.getAuthTag()];
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
    const plain = this.open(nonce, aad, buf, from, to);
    if (plain === null) return false;
    out.set(plain, outAt);
    plain.fill(0);
    return true;
  }

  open(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): Buffer | null {
    let plain: Buffer | undefined;
    try {
      const d = createDecipheriv(this.#cipher as 'aes-256-gcm', this.#key!, nonce, {
        authTagLength: AEAD_TAG_SIZE,
      });
      d.setAAD(aad);
      d.setAuthTag(buf.subarray(to, to + AEAD_TAG_SIZE));
      // update() returns a buffer of its own (its own ArrayBuffer: not the pool; tested by
      // plaintext-isolation), released to the caller only once final() has checked the tag.
      plain = d.update(buf.subarray(from, to));
      d.final();
    } catch {
      // The tag failed: the unauthenticated plaintext is wiped, never handed out.
      plain?.fill(0);
      return null;
    }
    return plain;
  }

  destroy(): void {
    this.#key = null;
  }
}

/** Each AEAD cipher's backend in this process. */
export type CryptoBackends = Readonly<Record<AeadCipher, AeadBackendName>>;

/** The environment variable that narrows the choice (`SECSESS_CRYPTO=node|sodium|auto`). */
const CRYPTO_ENV = 'SECSESS_CRYPTO';

interface Chosen {
  readonly names: CryptoBackends;
  readonly native: OpenSslNative | null;
  readonly sodium: Sodium | null;
}

let chosen: Chosen | null = null;

/**
 * The choice, made once: `env` is SECSESS_CRYPTO's value, trimmed and in any case (`node`:
 * node:crypto for every cipher; `sodium`: as `auto` without @secsess/native; unset, empty or
 * `auto`: the fastest that loads; anything else fails safe to node:crypto, the reference).
 * The debug line says what and why.
 */
function choose(raw: string | undefined): Chosen {
  const env = (raw ?? '').trim().toLowerCase();
  let native: OpenSslNative | null = null;
  let sodium: Sodium | null = null;
  const why: string[] = [];
  if (env === 'node') {
    why.push(`${CRYPTO_ENV}=node`);
  } else if (env !== '' && env !== 'auto' && env !== 'sodium') {
    why.push(`${CRYPTO_ENV}=${raw} not understood (node, sodium, auto): node:crypto`);
  } else {
    if (env === 'sodium') why.push(`${CRYPTO_ENV}=sodium`);
    else {
      const openssl = loadOpenSsl();
      if ('native' in openssl) {
        native = openssl.native;
        why.push(`@secsess/native loaded (${native.openssl})`);
      } else {
        why.push(openssl.reason);
      }
    }
    // Only where @secsess/native is not used: it runs both ciphers.
    if (native === null) {
      const loaded = loadSodium();
      if ('sodium' in loaded) {
        sodium = loaded.sodium;
        why.push('sodium-native loaded');
      } else {
        why.push(loaded.reason);
      }
    }
  }
  const names: CryptoBackends = Object.freeze({
    'aes-256-gcm': native ? '@secsess/native' : 'node:crypto',
    'chacha20-poly1305': native ? '@secsess/native' : sodium ? 'sodium-native' : 'node:crypto',
  });
  debuglog('secsess')(
    'crypto: AEAD backends: aes-256-gcm %s, chacha20-poly1305 %s (%s)',
    names['aes-256-gcm'],
    names['chacha20-poly1305'],
    why.join('; '),
  );
  return { names, native, sodium };
}

function backends(): Chosen {
  // The core reads no environment but this: the backend is the process's choice, made once,
  // and changes no byte on the wire.
  // eslint-disable-next-line no-restricted-globals
  return (chosen ??= choose(process.env[CRYPTO_ENV]));
}

/**
 * From this many plaintext bytes on, a ChaCha20-Poly1305 record that gets a new buffer
 * anyway (`open`, `sealParts`) goes through node:crypto even where sodium-native is loaded:
 * OpenSSL's ChaCha20 is vectorized wider than libsodium's (measured here, AVX-512, in a hot
 * loop: 64 KiB records sealed in 35 µs vs 58 µs, opened in 32 vs 58), and its per-call cost
 * (a context, ~3 µs) is small beside such a record; below, libsodium in place wins (16
 * bytes: 0.9 vs 4.6 µs). Sealing and opening inside the caller's buffers (`sealInPlace`,
 * `openInto`) is libsodium's at every size: node:crypto would add a buffer and a copy, and
 * in a real process a fresh 64 KiB output buffer per record costs more than the cipher
 * (page faults, GC: record-pool.ts). The bytes are the same either way.
 */
export const NATIVE_AEAD_MAX = 16384;

/** ChaCha20-Poly1305 with sodium-native loaded: libsodium in place, OpenSSL for large records into new buffers. */
class ChachaKey implements AeadKey {
  readonly backend = 'sodium-native';
  readonly inPlace = true;
  readonly #small: SodiumChachaKey;
  readonly #large: NodeAeadKey;

  constructor(sodium: Sodium, raw: Buffer) {
    this.#small = new SodiumChachaKey(sodium, raw);
    this.#large = new NodeAeadKey('chacha20-poly1305', raw);
  }

  sealInPlace(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): void {
    this.#small.sealInPlace(nonce, aad, buf, from, to);
  }

  sealParts(
    nonce: Buffer,
    aad: Buffer,
    head: Buffer,
    payload: Buffer,
  ): readonly [Buffer, Buffer, Buffer] | null {
    return head.length + payload.length < NATIVE_AEAD_MAX
      ? null
      : this.#large.sealParts(nonce, aad, head, payload);
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
    return this.#small.openInto(nonce, aad, buf, from, to, out, outAt);
  }

  open(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): Buffer | null {
    return to - from < NATIVE_AEAD_MAX
      ? this.#small.open(nonce, aad, buf, from, to)
      : this.#large.open(nonce, aad, buf, from, to);
  }

  destroy(): void {
    this.#small.destroy();
    this.#large.destroy();
  }
}

/**
 * A key for `cipher` from its raw bytes (copied; the caller wipes `raw`), on the cipher's
 * backend (`aeadBackend(cipher)`).
 */
export function createAeadKey(cipher: AeadCipher, raw: Buffer): AeadKey {
  const { native, sodium } = backends();
  if (native !== null) return new OpenSslAeadKey(native, cipher, raw);
  if (cipher !== 'chacha20-poly1305') return new NodeAeadKey(cipher, raw);
  return sodium ? new ChachaKey(sodium, raw) : new NodeAeadKey(cipher, raw);
}

/** The backend `cipher`'s keys are made on (chosen at the first call in the process). */
export function aeadBackend(cipher: AeadCipher): AeadBackendName {
  return backends().names[cipher];
}

/**
 * Which implementation seals and opens each AEAD record cipher in this process. Both run on
 * `'@secsess/native'` (the optional dependency: Node's own OpenSSL, in place) when it was
 * built and loads; else ChaCha20-Poly1305 runs on `'sodium-native'` (libsodium, the other
 * optional dependency) when it loads, and AES-256-GCM on `'node:crypto'`; else both on
 * node:crypto. `SECSESS_CRYPTO=sodium` skips @secsess/native, `SECSESS_CRYPTO=node` forces
 * node:crypto. The first call (or the first AEAD session) makes the choice for the process;
 * the bytes on the wire are the same either way.
 */
export function cryptoBackends(): CryptoBackends {
  return backends().names;
}
