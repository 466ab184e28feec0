/**
 * The protocol core's hashing and randomness: the random pool, hashes, HMAC (with the
 * record layer's prepared-pad HmacKey) and HKDF, constant-time comparison. With ciphers.ts and
 * aead.ts (record encryption) and asymmetric.ts (RSA, X25519), every node:crypto operation of
 * the core is in these files, so the primitives in use can be read (and audited) in one place.
 *
 * Buffers that hold secrets (HKDF outputs, HMAC pads) are allocated on their own
 * (`allocUnsafeSlow`), never as slices of Node's shared 8 KiB pool, where a user's buffer
 * that is cloned or posted to a worker would carry them along.
 */
import { Buffer } from 'node:buffer';
import {
  createHash,
  createHmac,
  createSecretKey,
  hash as oneShotHash,
  randomBytes,
  randomFillSync,
  timingSafeEqual,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';

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

/**
 * `size` bytes of `random` for a secret (a pre_secret): in a buffer of its own, never a
 * slice of Node's shared pool (where `random(size)` may put them). The same bytes as
 * `random(size)` would give.
 */
export function randomSecret(random: RandomSource, size: number): Buffer {
  const out = Buffer.allocUnsafeSlow(size);
  if (random.into) {
    random.into(out, 0, size);
  } else {
    const bytes = random(size);
    bytes.copy(out);
    bytes.fill(0);
  }
  return out;
}

/** A copy of secret bytes in a buffer of its own (never a slice of Node's shared pool). */
export function secretCopy(bytes: Uint8Array): Buffer {
  const out = Buffer.allocUnsafeSlow(bytes.length);
  out.set(bytes);
  return out;
}

/**
 * The hash of the concatenation of `parts`, for public inputs (transcripts, the binder's
 * frame): joined, then one one-shot hash, its digest as a 'binary' string made a Buffer
 * (~0.5 µs where a `createHash` context costs ~1.4 µs). Not for secrets: the join and the
 * digest may sit in Node's shared pool.
 */
export function hash(name: HashName, ...parts: Buffer[]): Buffer {
  const data = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return Buffer.from(oneShotHash(name, data, 'binary'), 'binary');
}

/** Input block size of each hash, as HMAC pads the key to it (RFC 2104). */
const HASH_BLOCK: Record<HashName, number> = { sha256: 64, sha384: 128, sha512: 128 };

export function hashLength(name: HashName): number {
  return name === 'sha256' ? 32 : name === 'sha384' ? 48 : 64;
}

/** Bytes given whole or as the parts of their concatenation (read in order, never joined). */
export type Bytes = Buffer | readonly Buffer[];

const partsOf = (b: Bytes): readonly Buffer[] => (b instanceof Uint8Array ? [b] : b);

function lengthOf(parts: readonly Buffer[]): number {
  let n = 0;
  for (const p of parts) n += p.length;
  return n;
}

/*
 * Scratch for the key schedule's HMACs, each a buffer of its own (allocUnsafeSlow: never
 * the shared pool), reused by every call of this thread and wiped after each use: the
 * message with the pad's room in front (grown when needed), a one-off key's pads, and one
 * digest (a PRK, an HKDF block). A call uses each at most once and none of them nests; a
 * PRK's pads, which live across calls, take `prkPads` while no other PRK holds them. Keeping
 * them saves the seven allocations an HKDF call made (an ArrayBuffer each, with its native
 * memory and its collection).
 */
let messageScratch = Buffer.allocUnsafeSlow(512);
// The largest HmacKey storage: both pads and the inner digest of SHA-512 (HmacKey.storageSize).
const padScratch = Buffer.allocUnsafeSlow(2 * HASH_BLOCK.sha512 + 64);
const digestScratch = Buffer.allocUnsafeSlow(64);
/** The pads of one HkdfPrk at a time (HkdfPrk's constructor and destroy()). */
const prkPads = Buffer.allocUnsafeSlow(2 * HASH_BLOCK.sha512 + 64);
let prkPadsFree = true;

/** The message scratch, at least `size` bytes (a larger one replaces it, the old one wiped). */
function messageRoom(size: number): Buffer {
  if (messageScratch.length < size) {
    fillBytes.call(messageScratch, 0);
    messageScratch = Buffer.allocUnsafeSlow(Math.max(size, 2 * messageScratch.length));
  }
  return messageScratch;
}

/**
 * HKDF (RFC 5869), extract-then-expand, byte for byte what `hkdfSync` computes (tested for
 * every hash, salt and output length), built on {@link HmacKey}: a few µs for the key
 * schedule's one-block outputs where `hkdfSync` takes 13–14 µs (its KeyObject and job
 * setup). `ikm` and `info` may come in parts (a secret is then never joined into a buffer
 * of its own). Several outputs of one secret: {@link HkdfPrk}.
 */
export function hkdf(name: HashName, ikm: Bytes, salt: Buffer, info: Bytes, length: number): Buffer {
  const prk = new HkdfPrk(name, ikm, salt);
  try {
    return prk.expand(info, length);
  } finally {
    prk.destroy();
  }
}

/**
 * HKDF-Extract done once, for several HKDF-Expand outputs of the same secret and salt:
 * `new HkdfPrk(name, ikm, salt).expand(info, L)` is `hkdf(name, ikm, salt, info, L)`, and
 * each further `expand` skips the extract's HMAC and the PRK's pad setup (the key schedule
 * takes five outputs of `master` and two or three of each traffic secret). The PRK lives
 * only as the HMAC pads; `destroy()` wipes them.
 */
export class HkdfPrk {
  readonly #name: HashName;
  readonly #mac: HmacKey;
  /** Whether the pads are in `prkPads` (given back, wiped, by `destroy()`). */
  #sharedPads: boolean;
  /** Cleared by `destroy()`: shared pads may hold another PRK by then. */
  #live = true;

  /** An empty salt is HashLen zero bytes (RFC 5869 §2.2): as an HMAC key, the same thing. */
  constructor(name: HashName, ikm: Bytes, salt: Buffer = EMPTY_BYTES) {
    const prk = digestScratch.subarray(0, hashLength(name));
    // The key schedule holds one PRK at a time: it takes the thread's spare pads; one made
    // while another is held (or never destroyed) gets pads of its own.
    const shared = prkPadsFree;
    try {
      hmacInto(name, salt, partsOf(ikm), prk);
      this.#name = name;
      this.#mac = new HmacKey(name, prk, shared ? prkPads : undefined);
      this.#sharedPads = shared;
      if (shared) prkPadsFree = false;
    } finally {
      fillBytes.call(digestScratch, 0);
    }
  }

  /** HKDF-Expand(PRK, info, length). */
  expand(info: Bytes, length: number): Buffer {
    if (!this.#live) throw new Error('hkdf: the PRK was destroyed');
    const hashLen = hashLength(this.#name);
    if (!Number.isInteger(length) || length < 1 || length > 255 * hashLen) {
      throw new RangeError('hkdf: bad output length');
    }
    const infoParts = partsOf(info);
    const mac = this.#mac;
    const room = mac.blockSize;
    const out = Buffer.allocUnsafeSlow(length);
    // T(i) = HMAC(PRK, T(i-1) ‖ info ‖ i), with room for the pad in front (macAfterRoom).
    const buf = messageRoom(room + hashLen + lengthOf(infoParts) + 1);
    const block = digestScratch;
    try {
      let previous = 0;
      for (let at = 0, i = 1; at < length; i++) {
        let end = room + previous;
        for (const p of infoParts) {
          buf.set(p, end);
          end += p.length;
        }
        buf[end++] = i;
        mac.macAfterRoom(buf, end, block, 0);
        at += block.copy(out, at, 0, Math.min(hashLen, length - at));
        // T(i) goes in front of the next block's input.
        block.copy(buf, room, 0, hashLen);
        previous = hashLen;
      }
    } finally {
      fillBytes.call(buf, 0, 0, room + hashLen + lengthOf(infoParts) + 1);
      fillBytes.call(block, 0);
    }
    return out;
  }

  /** Wipes the PRK. Unusable afterwards. */
  destroy(): void {
    if (!this.#live) return;
    this.#live = false;
    this.#mac.destroy();
    if (this.#sharedPads) {
      this.#sharedPads = false;
      prkPadsFree = true;
    }
  }
}

const EMPTY_BYTES = Buffer.alloc(0);

/**
 * Writes HMAC(key, concatenation of `parts`) into `out`, for the key schedule's short inputs:
 * the key's pads and the message are made in the scratch buffers, and wiped.
 */
function hmacInto(name: HashName, key: Buffer, parts: readonly Buffer[], out: Buffer): void {
  const block = HASH_BLOCK[name];
  // RFC 2104: a key longer than the block is hashed first (HmacKey takes block-size keys).
  const k = key.length > block ? (oneShotHash(name, key, 'buffer') as unknown as Buffer) : key;
  const mac = new HmacKey(name, k, padScratch);
  const length = block + lengthOf(parts);
  const buf = messageRoom(length);
  try {
    let at = block;
    for (const p of parts) {
      buf.set(p, at);
      at += p.length;
    }
    mac.macAfterRoom(buf, length, out, 0);
  } finally {
    fillBytes.call(buf, 0, 0, length);
    mac.destroy();
    if (k !== key) k.fill(0);
  }
}

/**
 * HMAC(key, concatenation of `parts`) with a raw key, for the key schedule's one-off MACs
 * (binder, Finished): the same bytes as `hmac(name, secretKey(key), ...parts)` without the
 * KeyObject and the `createHmac` context (~5 µs of setup for a 32-byte input). The caller
 * wipes `key`; the copies made here are wiped.
 */
export function hmacRaw(name: HashName, key: Buffer, ...parts: Buffer[]): Buffer {
  const out = Buffer.allocUnsafeSlow(hashLength(name));
  hmacInto(name, key, parts, out);
  return out;
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
    // Every byte is written below, so an unzeroed buffer will do (its own: not the shared pool).
    const store = storage ?? Buffer.allocUnsafeSlow(size);
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
