/**
 * AES-256-GCM and ChaCha20-Poly1305 (96-bit nonce, 16-byte tag) inside the caller's buffers,
 * on the OpenSSL Node.js links. Used by @secsess/sdk's record layers; not an API of its own.
 */
declare namespace native {
  /** A key's two OpenSSL contexts (encrypt, decrypt), freed by `destroy` or at GC. */
  interface Key {
    readonly __secsessNativeKey: never;
  }
}
declare const native: {
  /** The OpenSSL these ciphers run on (Node's own), as it names itself. */
  readonly openssl: string;
  /** `cipher`: 1 = AES-256-GCM, 2 = ChaCha20-Poly1305; `key`: 32 bytes (copied). */
  createKey(cipher: 1 | 2, key: Uint8Array): native.Key;
  /** Encrypts `buf[from .. to]` in place and writes the tag at `buf[to .. to + 16]`. */
  seal(key: native.Key, nonce: Uint8Array, aad: Uint8Array, buf: Uint8Array, from: number, to: number): void;
  /**
   * Decrypts `buf[from .. to]` into `out` at `outAt` (in place when `out` is `buf` and
   * `outAt` is `from`; no other overlap) and checks the tag at `buf[to .. to + 16]`: true if
   * it verifies; false otherwise, with the output range wiped.
   */
  open(
    key: native.Key,
    nonce: Uint8Array,
    aad: Uint8Array,
    buf: Uint8Array,
    from: number,
    to: number,
    out: Uint8Array,
    outAt: number,
  ): boolean;
  /** Frees the key's contexts (an idle session's memory); its next record makes them again. */
  release(key: native.Key): void;
  /** Frees the key's contexts now (OpenSSL wipes them), wipes the key; it refuses further use. */
  destroy(key: native.Key): void;
};
export = native;
