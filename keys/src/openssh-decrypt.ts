/**
 * Decrypting passphrase-protected `openssh-key-v1` private keys (PROTOCOL.key and
 * sshkey.c in the OpenSSH sources), as `ssh-keygen -N pass` writes them by default:
 * kdf `bcrypt` (bcrypt_pbkdf with `string salt, uint32 rounds`), cipher `aes256-ctr`.
 *
 *   key || iv = bcrypt_pbkdf(passphrase, salt, rounds, keylen + ivlen)
 *   private section = cipher(key, iv)^-1(ciphertext)
 *   uint32 checkint1, uint32 checkint2 (equal when the passphrase is right), keys, padding
 *
 * bcrypt_pbkdf comes from the `bcrypt-pbkdf` package (the one sshpk and ssh2 use): it needs
 * a Blowfish-based bcrypt hash that node:crypto does not offer. The ciphers are node:crypto's.
 * The result is an unencrypted container for openssh.ts to parse as before.
 */
import { createDecipheriv } from 'node:crypto';
import { pbkdf as bcryptPbkdf } from 'bcrypt-pbkdf';
import type { OpenSshPrivateContainer } from './openssh.js';
import { unencryptedOpenSshContainer } from './openssh.js';
import { SshReader } from './ssh-wire.js';

/**
 * The most bcrypt rounds we run. ssh-keygen writes 16 (its `-a`); each round costs about
 * 15 ms here on the calling thread, so this caps a hostile file at about 15 s.
 */
export const MAX_BCRYPT_ROUNDS = 1024;

interface OpenSshCipher {
  /** node:crypto cipher name. */
  name: string;
  keyLength: number;
  ivLength: number;
  /** Length of the AEAD tag after the private section; 0 for CTR and CBC. */
  tagLength: number;
}

/** The OpenSSH private-key ciphers we decrypt (OpenSSH's cipher names). */
const CIPHERS: ReadonlyMap<string, OpenSshCipher> = new Map([
  ['aes128-ctr', { name: 'aes-128-ctr', keyLength: 16, ivLength: 16, tagLength: 0 }],
  ['aes192-ctr', { name: 'aes-192-ctr', keyLength: 24, ivLength: 16, tagLength: 0 }],
  ['aes256-ctr', { name: 'aes-256-ctr', keyLength: 32, ivLength: 16, tagLength: 0 }],
  ['aes128-cbc', { name: 'aes-128-cbc', keyLength: 16, ivLength: 16, tagLength: 0 }],
  ['aes192-cbc', { name: 'aes-192-cbc', keyLength: 24, ivLength: 16, tagLength: 0 }],
  ['aes256-cbc', { name: 'aes-256-cbc', keyLength: 32, ivLength: 16, tagLength: 0 }],
  ['aes128-gcm@openssh.com', { name: 'aes-128-gcm', keyLength: 16, ivLength: 12, tagLength: 16 }],
  ['aes256-gcm@openssh.com', { name: 'aes-256-gcm', keyLength: 32, ivLength: 12, tagLength: 16 }],
]);

/** AES block size: every cipher above encrypts whole blocks of the private section. */
const BLOCK = 16;

/** Why an encrypted container cannot be decrypted at all, whatever the passphrase. */
export type OpenSshEncryptionProblem =
  { kind: 'unsupported'; what: string } | { kind: 'malformed'; what: string };

/** The bcrypt parameters of a container whose encryption we support. */
interface BcryptParams {
  cipher: OpenSshCipher;
  salt: Buffer;
  rounds: number;
}

function bcryptParams(container: OpenSshPrivateContainer): BcryptParams | OpenSshEncryptionProblem {
  const cipher = CIPHERS.get(container.cipher);
  if (cipher === undefined) {
    return { kind: 'unsupported', what: `is encrypted with cipher "${container.cipher}"` };
  }
  if (container.kdf !== 'bcrypt')
    return { kind: 'unsupported', what: `uses key derivation "${container.kdf}"` };
  const reader = new SshReader(container.kdfOptions);
  const salt = reader.string();
  const rounds = reader.uint32();
  if (
    salt === undefined ||
    salt.length === 0 ||
    rounds === undefined ||
    rounds === 0 ||
    reader.remaining !== 0
  ) {
    return { kind: 'malformed', what: 'has malformed bcrypt parameters' };
  }
  if (rounds > MAX_BCRYPT_ROUNDS) {
    return {
      kind: 'unsupported',
      what: `asks for ${rounds} bcrypt rounds (secsess runs at most ${MAX_BCRYPT_ROUNDS})`,
    };
  }
  if (container.privateSection.length % BLOCK !== 0 || container.trailer.length !== cipher.tagLength) {
    return { kind: 'malformed', what: 'has an encrypted section of the wrong length; it may be truncated' };
  }
  return { cipher, salt, rounds };
}

/**
 * What stops the container from being decrypted before any passphrase is tried (an
 * unsupported cipher or KDF, too many rounds, malformed parameters), or `undefined`.
 * Call only for containers whose cipher is not `none`.
 */
export function openSshEncryptionProblem(
  container: OpenSshPrivateContainer,
): OpenSshEncryptionProblem | undefined {
  const params = bcryptParams(container);
  return 'kind' in params ? params : undefined;
}

/**
 * Decrypts the private section with `passphrase` (a string is UTF-8, as ssh-keygen reads
 * it) and returns an unencrypted container holding it. Throws a plain Error when the
 * check-ints differ (a wrong passphrase) or the AEAD tag does not verify; the caller maps
 * that to `ERR_KEY_PASSPHRASE`. Runs bcrypt_pbkdf on the calling thread (about 15 ms per
 * round: 16 rounds, ssh-keygen's default, take about 250 ms).
 */
export function decryptOpenSshContainer(
  container: OpenSshPrivateContainer,
  passphrase: string | Buffer,
): Buffer {
  const params = bcryptParams(container);
  if ('kind' in params) throw new Error(`the OpenSSH key ${params.what}`);
  const { cipher, salt, rounds } = params;
  const pass = typeof passphrase === 'string' ? Buffer.from(passphrase, 'utf8') : Buffer.from(passphrase);
  const material = Buffer.alloc(cipher.keyLength + cipher.ivLength);
  try {
    if (bcryptPbkdf(pass, pass.length, salt, salt.length, material, material.length, rounds) !== 0) {
      throw new Error('bcrypt_pbkdf refused its input (an empty passphrase)');
    }
    const key = material.subarray(0, cipher.keyLength);
    const iv = material.subarray(cipher.keyLength);
    const section = decryptSection(cipher, key, iv, container);
    const check1 = section.readUInt32BE(0);
    const check2 = section.readUInt32BE(4);
    if (check1 !== check2) {
      section.fill(0);
      throw new Error('the check-ints of the decrypted section differ');
    }
    try {
      return unencryptedOpenSshContainer(container.publicBlob, section);
    } finally {
      section.fill(0);
    }
  } finally {
    material.fill(0);
    pass.fill(0);
  }
}

function decryptSection(
  cipher: OpenSshCipher,
  key: Buffer,
  iv: Buffer,
  container: OpenSshPrivateContainer,
): Buffer {
  if (cipher.tagLength > 0) {
    const decipher = createDecipheriv(cipher.name as 'aes-256-gcm', key, iv, {
      authTagLength: cipher.tagLength,
    });
    decipher.setAuthTag(container.trailer);
    return Buffer.concat([decipher.update(container.privateSection), decipher.final()]);
  }
  const decipher = createDecipheriv(cipher.name, key, iv).setAutoPadding(false);
  return Buffer.concat([decipher.update(container.privateSection), decipher.final()]);
}
