import { KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { PRIVATE_KEY_FILE_MODE } from './constants.js';
import { checkRsaKey, readKey } from './formats.js';
import type { KeyFormatInfo } from './formats.js';
import { checkPrivateKeyPermissions, readKeyFile, readKeyFileSync, writeKeyFile } from './key-file.js';
import type { KeyFileContents } from './key-file.js';
import { pkcs1DerToOpenSshPrivate } from './openssh.js';
import {
  checkCommentOption,
  checkFormatOption,
  checkOptionsObject,
  checkPassphraseOption,
} from './options.js';
import { encryptPkcs8Scrypt, encryptPkcs8ScryptPem } from './pkcs8-scrypt.js';
import { PublicKey } from './public-key.js';

/**
 * Encodings {@link PrivateKey.encode} and {@link PrivateKey.save} write:
 * `pem` = PKCS#8 PEM (`BEGIN PRIVATE KEY`, or `BEGIN ENCRYPTED PRIVATE KEY` with a
 * passphrase), `pkcs1` = `BEGIN RSA PRIVATE KEY`, `openssh` = unencrypted
 * `BEGIN OPENSSH PRIVATE KEY`, `der` = PKCS#8 DER (encrypted with a passphrase),
 * `jwk` = JSON Web Key with all private members.
 */
export type PrivateKeyFormat = 'pem' | 'pkcs1' | 'openssh' | 'der' | 'jwk';

const PRIVATE_KEY_FORMATS: readonly string[] = ['pem', 'pkcs1', 'openssh', 'der', 'jwk'];

/** Formats that can carry a passphrase: PKCS#8's EncryptedPrivateKeyInfo. */
const PASSPHRASE_FORMATS: readonly string[] = ['pem', 'der'];

/** Options of {@link PrivateKey.fromBuffer} and {@link PrivateKey.fromString}. */
export interface PrivateKeyParseOptions {
  /** Passphrase of an encrypted PKCS#8, legacy encrypted PEM or OpenSSH key. Default: none. */
  passphrase?: string | Buffer | undefined;
}

/** Options of {@link PrivateKey.load} and {@link PrivateKey.loadSync}. */
export interface PrivateKeyLoadOptions extends PrivateKeyParseOptions {
  /**
   * Load the key even if group or others may access the file. Default `false`: such a
   * file is refused with `ERR_KEY_PERMISSIONS` (never checked on Windows).
   */
  allowInsecurePermissions?: boolean | undefined;
}

/** Options of {@link PrivateKey.encode}. */
export interface PrivateKeyEncodeOptions {
  /** Output encoding. Default `'pem'` (PKCS#8). */
  format?: PrivateKeyFormat | undefined;
  /**
   * Encrypt the output as PKCS#8: PBES2 with scrypt (N = 2^14, r = 8, p = 1) and
   * aes-256-cbc, which `openssl pkey` reads. Only with `pem` and `der`; other formats throw
   * TypeError. Default: unencrypted. Encrypting (and later loading) costs one scrypt,
   * about 50 ms and 16 MiB, on the calling thread.
   */
  passphrase?: string | Buffer | undefined;
  /** Comment stored in `openssh` output. Default: none. */
  comment?: string | undefined;
}

/** Options of {@link PrivateKey.save}. */
export interface PrivateKeySaveOptions extends PrivateKeyEncodeOptions {
  /** Replace an existing file. Default `false` (`ERR_KEY_FILE_EXISTS`). */
  force?: boolean | undefined;
}

/** The key as scrypt-encrypted PKCS#8; the plaintext DER is wiped once encrypted. */
function encryptedPkcs8(key: KeyObject, passphrase: string | Buffer, format: 'pem' | 'der'): Buffer {
  const plain = key.export({ type: 'pkcs8', format: 'der' });
  try {
    return format === 'pem'
      ? Buffer.from(encryptPkcs8ScryptPem(plain, passphrase))
      : encryptPkcs8Scrypt(plain, passphrase);
  } finally {
    plain.fill(0);
  }
}

function fromFile(contents: KeyFileContents, path: string, options: PrivateKeyLoadOptions): PrivateKey {
  checkOptionsObject(options);
  checkPassphraseOption(options.passphrase);
  const check =
    options.allowInsecurePermissions === true
      ? undefined
      : (_info: KeyFormatInfo) => checkPrivateKeyPermissions(path, contents.mode);
  const { keyObject } = readKey(contents.data, {
    expect: 'private',
    path,
    passphrase: options.passphrase,
    check,
  });
  return PrivateKey.fromKeyObject(keyObject);
}

/**
 * An RSA private key of at least 2048 bits, with its public half. Immutable.
 * `toString()` and `util.inspect` show only the size and fingerprint.
 */
export class PrivateKey {
  /** The node:crypto private KeyObject. */
  readonly keyObject: KeyObject;
  /** The matching public key. */
  readonly publicKey: PublicKey;
  /** Modulus size in bits. */
  readonly bits: number;

  private constructor(keyObject: KeyObject, publicKey: PublicKey) {
    this.keyObject = keyObject;
    this.publicKey = publicKey;
    this.bits = publicKey.bits;
  }

  /**
   * Wraps a node:crypto RSA private KeyObject.
   *
   * @throws TypeError if `key` is not a private KeyObject
   * @throws KeyError `ERR_KEY_NOT_RSA`, `ERR_KEY_TOO_SMALL`
   */
  static fromKeyObject(key: KeyObject): PrivateKey {
    if (!(key instanceof KeyObject) || key.type !== 'private') {
      throw new TypeError('key must be a private node:crypto KeyObject');
    }
    checkRsaKey(key);
    return new PrivateKey(key, PublicKey.fromKeyObject(key));
  }

  /**
   * Parses a private key: PKCS#1 or PKCS#8 in PEM or DER (encrypted PKCS#8 and legacy
   * `Proc-Type: 4,ENCRYPTED` PEM with `passphrase`), JWK, or an OpenSSH key (encrypted
   * ones, as `ssh-keygen -N` writes them, with `passphrase`: bcrypt_pbkdf with at most 1024
   * rounds, AES-CTR, -CBC or -GCM).
   *
   * @throws KeyError `ERR_KEY_FORMAT` (also for public keys), `ERR_KEY_ENCRYPTED`,
   *   `ERR_KEY_PASSPHRASE`, `ERR_KEY_OPENSSH_ENCRYPTED`, `ERR_KEY_NOT_RSA`, `ERR_KEY_TOO_SMALL`
   */
  static fromBuffer(data: Buffer, options: PrivateKeyParseOptions = {}): PrivateKey {
    checkOptionsObject(options);
    checkPassphraseOption(options.passphrase);
    const { keyObject } = readKey(data, { expect: 'private', passphrase: options.passphrase });
    return PrivateKey.fromKeyObject(keyObject);
  }

  /** {@link PrivateKey.fromBuffer} for text encodings (PEM, JWK, OpenSSH). */
  static fromString(text: string, options: PrivateKeyParseOptions = {}): PrivateKey {
    return PrivateKey.fromBuffer(Buffer.from(text, 'utf8'), options);
  }

  /**
   * Reads a private key file (see {@link PrivateKey.fromBuffer}). The file must not be
   * accessible by group or others unless `allowInsecurePermissions` is set.
   *
   * @throws KeyError also `ERR_KEY_FILE_NOT_FOUND`, `ERR_KEY_FILE_UNREADABLE`, `ERR_KEY_PERMISSIONS`
   */
  static async load(path: string, options: PrivateKeyLoadOptions = {}): Promise<PrivateKey> {
    return fromFile(await readKeyFile(path), path, options);
  }

  /** Synchronous {@link PrivateKey.load}. */
  static loadSync(path: string, options: PrivateKeyLoadOptions = {}): PrivateKey {
    return fromFile(readKeyFileSync(path), path, options);
  }

  /** Fingerprint of the public key: `SHA256:<base64 without padding>`. */
  fingerprint(): string {
    return this.publicKey.fingerprint();
  }

  /**
   * Encodes the key. Text formats end with a newline.
   *
   * @throws TypeError for an unknown format, a passphrase with a format that cannot carry
   *   one, an empty passphrase or a multi-line comment
   */
  encode(options: PrivateKeyEncodeOptions = {}): Buffer {
    checkOptionsObject(options);
    const { format = 'pem', passphrase, comment } = options;
    checkFormatOption(format, PRIVATE_KEY_FORMATS);
    checkPassphraseOption(passphrase);
    checkCommentOption(comment);
    if (passphrase !== undefined) {
      if (!PASSPHRASE_FORMATS.includes(format)) {
        throw new TypeError(
          `format '${format}' cannot carry a passphrase; use 'pem' or 'der' (encrypted PKCS#8)`,
        );
      }
      if (passphrase.length === 0) throw new TypeError('passphrase must not be empty');
    }
    switch (format) {
      case 'pem':
        if (passphrase !== undefined) return encryptedPkcs8(this.keyObject, passphrase, 'pem');
        return Buffer.from(this.keyObject.export({ type: 'pkcs8', format: 'pem' }));
      case 'der':
        if (passphrase !== undefined) return encryptedPkcs8(this.keyObject, passphrase, 'der');
        return this.keyObject.export({ type: 'pkcs8', format: 'der' });
      case 'pkcs1':
        return Buffer.from(this.keyObject.export({ type: 'pkcs1', format: 'pem' }));
      case 'jwk':
        return Buffer.from(`${JSON.stringify(this.keyObject.export({ format: 'jwk' }), null, 2)}\n`);
      case 'openssh': {
        const der = this.keyObject.export({ type: 'pkcs1', format: 'der' });
        return Buffer.from(pkcs1DerToOpenSshPrivate(der, comment ?? ''));
      }
    }
  }

  /**
   * Writes the key to `path` atomically with mode 0600 (temporary file in the same
   * directory, fsync, rename); see {@link PrivateKey.encode}.
   *
   * @throws KeyError `ERR_KEY_FILE_EXISTS` unless `force`, `ERR_KEY_FILE_UNWRITABLE`
   */
  async save(path: string, options: PrivateKeySaveOptions = {}): Promise<void> {
    await writeKeyFile(path, this.encode(options), { mode: PRIVATE_KEY_FILE_MODE, force: options.force });
  }

  /** Short description for logs: bits and fingerprint, never key material. */
  toString(): string {
    return `PrivateKey(RSA ${this.bits}, ${this.fingerprint()})`;
  }

  /** Same as toString(), so that logging a PrivateKey never prints key material. */
  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
