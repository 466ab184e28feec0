/** RSA keys with a shorter modulus are refused everywhere with `ERR_KEY_TOO_SMALL`. */
export const MIN_RSA_BITS = 2048;

/** Modulus size {@link KeyPair.generateRSA} uses when none is given. */
export const DEFAULT_RSA_BITS = 3072;

/** Modulus sizes {@link KeyPair.generateRSA} accepts. */
export const RSA_GENERATE_BITS = [2048, 3072, 4096] as const;

/** Public exponent of generated keys (F4), the only one OpenSSH and OpenSSL generate. */
export const RSA_PUBLIC_EXPONENT = 0x10001;

/** A key file larger than this (1 MiB) is refused as `ERR_KEY_FORMAT` without being read. */
export const MAX_KEY_FILE_BYTES = 1024 * 1024;

/** Mode of private key files we write; anything with group/other bits set is refused on load. */
export const PRIVATE_KEY_FILE_MODE = 0o600;

/** Mode of public key files we write. */
export const PUBLIC_KEY_FILE_MODE = 0o644;

/** Mode of the directories {@link KeyPair.save} creates for its two files. */
export const KEY_DIRECTORY_MODE = 0o700;

/**
 * scrypt cost of passphrase-protected PKCS#8 output (PBES2 with scrypt, RFC 7914 §7, and
 * aes-256-cbc): OpenSSL's own `-scrypt` defaults. N·r is the most OpenSSL reads: it refuses
 * to spend more than 32 MiB (128·N·r bytes plus a little) on a PKCS#8 scrypt, so N = 2^15
 * with r = 8 would write files `openssl pkey` and node:crypto cannot open.
 */
export const PKCS8_SCRYPT = { N: 16384, r: 8, p: 1 } as const;
