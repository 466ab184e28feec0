/**
 * Writes passphrase-protected PKCS#8 (EncryptedPrivateKeyInfo, RFC 5958) with PBES2
 * (RFC 8018 §6.2), the scrypt KDF (RFC 7914 §7) and aes-256-cbc:
 *
 *   EncryptedPrivateKeyInfo ::= SEQUENCE {
 *     SEQUENCE { OID pbes2, SEQUENCE {
 *       SEQUENCE { OID scrypt, SEQUENCE { OCTET STRING salt, INTEGER N, INTEGER r, INTEGER p } },
 *       SEQUENCE { OID aes256-CBC, OCTET STRING iv } } }
 *     OCTET STRING ciphertext }
 *
 * node:crypto's KeyObject.export would write PBKDF2-SHA256 with 2048 iterations, which a
 * GPU tries quickly; node:crypto (through OpenSSL) reads this structure back, and so does
 * `openssl pkey`. Reading stays with node:crypto.
 */
import { createCipheriv, randomBytes, scryptSync } from 'node:crypto';
import { PKCS8_SCRYPT } from './constants.js';
import { derObjectIdentifier, derOctetString, derSequence, derUnsignedInteger, pemEncode } from './der.js';

const OID_PBES2 = '1.2.840.113549.1.5.13';
const OID_SCRYPT = '1.3.6.1.4.1.11591.4.11';
const OID_AES_256_CBC = '2.16.840.1.101.3.4.1.42';

/** Salt length in bytes (RFC 8018 recommends at least 8; OpenSSL writes 16 for PBKDF2). */
const SALT_BYTES = 16;

/** scryptSync's default memory bound is exactly 32 MiB; our parameters need 16 MiB plus a little. */
const SCRYPT_MAXMEM = 64 * 1024 * 1024;

/**
 * Encrypts an unencrypted PKCS#8 PrivateKeyInfo (DER) under `passphrase` (a string is
 * taken as UTF-8, as node:crypto and openssl read it). Returns EncryptedPrivateKeyInfo
 * DER. Costs one scrypt (about 50 ms and 16 MiB) on the calling thread.
 */
export function encryptPkcs8Scrypt(privateKeyInfo: Buffer, passphrase: string | Buffer): Buffer {
  const { N, r, p } = PKCS8_SCRYPT;
  const salt = randomBytes(SALT_BYTES);
  const iv = randomBytes(16);
  const key = scryptSync(passphrase, salt, 32, { N, r, p, maxmem: SCRYPT_MAXMEM });
  let ciphertext: Buffer;
  try {
    const cipher = createCipheriv('aes-256-cbc', key, iv);
    ciphertext = Buffer.concat([cipher.update(privateKeyInfo), cipher.final()]);
  } finally {
    key.fill(0);
  }
  const scryptParams = derSequence(
    derOctetString(salt),
    derUnsignedInteger(N),
    derUnsignedInteger(r),
    derUnsignedInteger(p),
  );
  const algorithm = derSequence(
    derObjectIdentifier(OID_PBES2),
    derSequence(
      derSequence(derObjectIdentifier(OID_SCRYPT), scryptParams),
      derSequence(derObjectIdentifier(OID_AES_256_CBC), derOctetString(iv)),
    ),
  );
  return derSequence(algorithm, derOctetString(ciphertext));
}

/** {@link encryptPkcs8Scrypt} as a `BEGIN ENCRYPTED PRIVATE KEY` PEM block. */
export function encryptPkcs8ScryptPem(privateKeyInfo: Buffer, passphrase: string | Buffer): string {
  return pemEncode('ENCRYPTED PRIVATE KEY', encryptPkcs8Scrypt(privateKeyInfo, passphrase));
}
