/**
 * The native AEAD backend: ChaCha20-Poly1305 (RFC 8439, the IETF variant: 96-bit nonce,
 * 16-byte tag) from libsodium through `sodium-native`, an optional dependency of
 * @secsess/sdk loaded on first use (aead.ts decides when, and falls back to node:crypto).
 *
 * libsodium works inside the caller's buffers: `crypto_aead_chacha20poly1305_ietf_
 * encrypt_detached` seals a range in place and writes the tag after it;
 * `_decrypt_detached` computes the tag over the ciphertext before it writes anything, so
 * it may decrypt in place (m === c, which sodium-native does not refuse), and on a tag
 * mismatch it zeroes m and writes no plaintext. Per record this costs two or three views
 * (`subarray`), no buffer. AES-256-GCM stays on node:crypto: sodium-native 5 has no
 * AES-GCM.
 *
 * The key is kept in one 32-byte buffer of its own (Buffer.alloc: not a slice of the
 * shared pool), wiped on destroy. Not `sodium_malloc`: each call maps guard pages (about
 * 100–180 µs here, four mappings a key) and the process aborts when the kernel's mapping
 * limit is reached (about 16 000 live keys with vm.max_map_count 65530): a server with
 * many sessions must not depend on it.
 */
import { Buffer } from 'node:buffer';
import { createRequire } from 'node:module';
import type { AeadKey } from './aead.js';
import { AEAD_TAG_SIZE } from './constants.js';

/** ChaCha20-Poly1305's key and nonce sizes, bytes. */
const KEY_SIZE = 32;
const NONCE_SIZE = 12;

/** What secsess uses of sodium-native 5. */
export interface Sodium {
  crypto_aead_chacha20poly1305_ietf_encrypt_detached(
    c: Uint8Array,
    mac: Uint8Array,
    m: Uint8Array,
    ad: Uint8Array | null,
    nsec: null,
    npub: Uint8Array,
    k: Uint8Array,
  ): number;
  /** Throws when the tag does not verify (m is then zeroed). */
  crypto_aead_chacha20poly1305_ietf_decrypt_detached(
    m: Uint8Array,
    nsec: null,
    c: Uint8Array,
    mac: Uint8Array,
    ad: Uint8Array | null,
    npub: Uint8Array,
    k: Uint8Array,
  ): void;
  sodium_memzero(buf: Uint8Array): void;
  readonly crypto_aead_chacha20poly1305_ietf_KEYBYTES: number;
  readonly crypto_aead_chacha20poly1305_ietf_NPUBBYTES: number;
  readonly crypto_aead_chacha20poly1305_ietf_ABYTES: number;
}

/**
 * An optional dependency of this package (`name`), resolved from here as a user's install
 * places it: the module, or why not (`missing` when it is not installed, else the load error).
 * Never throws.
 */
export function requireOptional(
  name: string,
  missing: string,
): { readonly module: unknown } | { readonly reason: string } {
  try {
    return { module: createRequire(import.meta.url)(name) as unknown };
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') return { reason: missing };
    return { reason: `${name} did not load: ${(err as Error).message ?? String(err)}` };
  }
}

/** sodium-native, or why it is not used. */
export type SodiumLoad = { readonly sodium: Sodium } | { readonly reason: string };

/**
 * Loads sodium-native (resolved from this package, as a user's install places it) and
 * checks it: the functions and sizes secsess relies on, and one known answer (a record
 * sealed by node:crypto's ChaCha20-Poly1305, fixed here) so a broken build is not trusted
 * with traffic. Never throws.
 */
export function loadSodium(): SodiumLoad {
  const loaded = requireOptional('sodium-native', 'sodium-native is not installed');
  if ('reason' in loaded) return loaded;
  const sodium = loaded.module as Partial<Sodium>;
  if (
    typeof sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached !== 'function' ||
    typeof sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached !== 'function' ||
    typeof sodium.sodium_memzero !== 'function' ||
    sodium.crypto_aead_chacha20poly1305_ietf_KEYBYTES !== KEY_SIZE ||
    sodium.crypto_aead_chacha20poly1305_ietf_NPUBBYTES !== NONCE_SIZE ||
    sodium.crypto_aead_chacha20poly1305_ietf_ABYTES !== AEAD_TAG_SIZE
  ) {
    return { reason: 'sodium-native lacks the detached ChaCha20-Poly1305 (IETF) functions' };
  }
  try {
    if (!knownAnswer(sodium as Sodium)) return { reason: 'sodium-native failed its known-answer test' };
  } catch (err) {
    return { reason: `sodium-native failed its known-answer test: ${(err as Error).message}` };
  }
  return { sodium: sodium as Sodium };
}

/** key 00..1f, nonce 40..4b, aad "secsess", "sodium-native self-test": ct ‖ tag (node:crypto's). */
const KAT_SEALED = '8b3b18e80727c36f39bb9f76decf1ea8d8aa4e6c218f35187a24018b8405f7010579c578613399';

/**
 * The record layers' call shapes, not fresh buffers: nonce, aad and record are views at
 * non-zero offsets of larger buffers (as the record state's storage and a frame are), the
 * record is opened into another buffer at an offset, and bytes around each range must stay
 * as they were — a binding that mishandled a view's offset fails here, not on traffic.
 */
function knownAnswer(sodium: Sodium): boolean {
  const key = Buffer.alloc(KEY_SIZE);
  for (let i = 0; i < KEY_SIZE; i++) key[i] = i;
  const text = Buffer.from('sodium-native self-test');
  const store = Buffer.alloc(3 + NONCE_SIZE + 7 + 3, 0xee);
  for (let i = 0; i < NONCE_SIZE; i++) store[3 + i] = 0x40 + i;
  store.write('secsess', 3 + NONCE_SIZE, 'latin1');
  const nonce = store.subarray(3, 3 + NONCE_SIZE);
  const aad = store.subarray(3 + NONCE_SIZE, 3 + NONCE_SIZE + 7);
  const at = 4;
  const end = at + text.length;
  const frame = Buffer.alloc(end + AEAD_TAG_SIZE + 4, 0xee);
  text.copy(frame, at);
  const out = Buffer.alloc(text.length + 10, 0xee);
  const k = new SodiumChachaKey(sodium, key);
  k.sealInPlace(nonce, aad, frame, at, end);
  const untouched = (b: Buffer, from: number, to: number): boolean =>
    b.subarray(0, from).every((x) => x === 0xee) && b.subarray(to).every((x) => x === 0xee);
  const sealed =
    frame.toString('hex', at, end + AEAD_TAG_SIZE) === KAT_SEALED && untouched(frame, at, end + 16);
  const opened =
    k.openInto(nonce, aad, frame, at, end, out, 5) &&
    out.subarray(5, 5 + text.length).equals(text) &&
    untouched(out, 5, 5 + text.length);
  frame[at]! ^= 1;
  const refused = !k.openInto(nonce, aad, frame, at, end, frame, at);
  k.destroy();
  return sealed && opened && refused && untouched(store, 3, 3 + NONCE_SIZE + 7);
}

/** One direction's ChaCha20-Poly1305 key on libsodium. */
export class SodiumChachaKey implements AeadKey {
  readonly backend = 'sodium-native';
  readonly inPlace = true;
  readonly #sodium: Sodium;
  readonly #key: Buffer;
  #live = true;

  /** `raw` (32 bytes) is copied; the caller wipes it. */
  constructor(sodium: Sodium, raw: Buffer) {
    if (raw.length !== KEY_SIZE) throw new RangeError(`aead: a ChaCha20-Poly1305 key is ${KEY_SIZE} bytes`);
    this.#sodium = sodium;
    this.#key = Buffer.alloc(KEY_SIZE);
    raw.copy(this.#key);
  }

  /** libsodium seals in place: the caller lays the record out. */
  sealParts(): null {
    return null;
  }

  sealInPlace(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): void {
    if (!this.#live) throw new Error('aead: the key was destroyed');
    const m = buf.subarray(from, to);
    const tag = buf.subarray(to, to + AEAD_TAG_SIZE);
    if (tag.length !== AEAD_TAG_SIZE) throw new RangeError('aead: no room for the tag');
    this.#sodium.crypto_aead_chacha20poly1305_ietf_encrypt_detached(m, tag, m, aad, null, nonce, this.#key);
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
    if (!this.#live) return false;
    const c = buf.subarray(from, to);
    const m = out === buf && outAt === from ? c : out.subarray(outAt, outAt + c.length);
    if (m.length !== c.length) throw new RangeError('aead: no room for the plaintext');
    try {
      // m === c is libsodium's in-place case: the tag is checked over c before m is written.
      this.#sodium.crypto_aead_chacha20poly1305_ietf_decrypt_detached(
        m,
        null,
        c,
        buf.subarray(to, to + AEAD_TAG_SIZE),
        aad,
        nonce,
        this.#key,
      );
      return true;
    } catch {
      // The tag failed (or a view was short): libsodium zeroed m, no plaintext was written.
      return false;
    }
  }

  open(nonce: Buffer, aad: Buffer, buf: Buffer, from: number, to: number): Buffer | null {
    const plain = Buffer.allocUnsafeSlow(Math.max(0, to - from));
    return this.openInto(nonce, aad, buf, from, to, plain, 0) ? plain : null;
  }

  destroy(): void {
    if (!this.#live) return;
    this.#live = false;
    this.#sodium.sodium_memzero(this.#key);
  }
}
