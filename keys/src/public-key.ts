import { createPublicKey, KeyObject } from 'node:crypto';
import { inspect } from 'node:util';
import { PUBLIC_KEY_FILE_MODE } from './constants.js';
import { fingerprintBytesOf, formatFingerprint } from './fingerprint.js';
import { checkRsaKey, readKey } from './formats.js';
import { readKeyFile, readKeyFileSync, writeKeyFile } from './key-file.js';
import { formatOpenSshPublicLine } from './openssh.js';
import { checkCommentOption, checkFormatOption, checkOptionsObject } from './options.js';
import { rsaPublicBlob, SSH_RSA } from './ssh-wire.js';

/**
 * Encodings {@link PublicKey.encode} and {@link PublicKey.save} write:
 * `pem` = SubjectPublicKeyInfo PEM (`BEGIN PUBLIC KEY`), `pkcs1` = `BEGIN RSA PUBLIC KEY`,
 * `openssh` = one `ssh-rsa AAAA… comment` line, `der` = SubjectPublicKeyInfo DER,
 * `jwk` = JSON Web Key (`kty`, `n`, `e`).
 */
export type PublicKeyFormat = 'pem' | 'pkcs1' | 'openssh' | 'der' | 'jwk';

const PUBLIC_KEY_FORMATS: readonly string[] = ['pem', 'pkcs1', 'openssh', 'der', 'jwk'];

/** Options of {@link PublicKey.encode}. */
export interface PublicKeyEncodeOptions {
  /** Output encoding. Default `'pem'`. */
  format?: PublicKeyFormat | undefined;
  /** Comment after the key in `openssh` format; one line. Default: none. */
  comment?: string | undefined;
}

/** Options of {@link PublicKey.save}. */
export interface PublicKeySaveOptions extends PublicKeyEncodeOptions {
  /** Replace an existing file. Default `false` (`ERR_KEY_FILE_EXISTS`). */
  force?: boolean | undefined;
}

/**
 * An RSA public key of at least 2048 bits. Immutable: the KeyObject is parsed once, and
 * the DER, SSH blob and fingerprint are computed on first use and cached.
 */
export class PublicKey {
  /** The node:crypto public KeyObject. */
  readonly keyObject: KeyObject;
  /** Modulus size in bits. */
  readonly bits: number;
  #spkiDer: Buffer | undefined;
  #sshBlob: Buffer | undefined;
  #fingerprintBytes: Buffer | undefined;

  private constructor(keyObject: KeyObject, bits: number) {
    this.keyObject = keyObject;
    this.bits = bits;
  }

  /**
   * Wraps a node:crypto RSA KeyObject. A private KeyObject is accepted and its public half
   * taken.
   *
   * @throws TypeError if `key` is not an asymmetric KeyObject
   * @throws KeyError `ERR_KEY_NOT_RSA`, `ERR_KEY_TOO_SMALL`
   */
  static fromKeyObject(key: KeyObject): PublicKey {
    if (!(key instanceof KeyObject) || key.type === 'secret') {
      throw new TypeError('key must be an asymmetric node:crypto KeyObject');
    }
    const publicKey = key.type === 'private' ? createPublicKey(key) : key;
    return new PublicKey(publicKey, checkRsaKey(publicKey));
  }

  /**
   * Parses a public key in any supported encoding: SPKI or PKCS#1 in PEM or DER, JWK, or
   * an OpenSSH `ssh-rsa` line.
   *
   * @throws KeyError `ERR_KEY_FORMAT` (also for private keys), `ERR_KEY_NOT_RSA`, `ERR_KEY_TOO_SMALL`
   */
  static fromBuffer(data: Buffer): PublicKey {
    return PublicKey.fromKeyObject(readKey(data, { expect: 'public' }).keyObject);
  }

  /** {@link PublicKey.fromBuffer} for text encodings (PEM, JWK, OpenSSH). */
  static fromString(text: string): PublicKey {
    return PublicKey.fromBuffer(Buffer.from(text, 'utf8'));
  }

  /**
   * Reads a public key file (see {@link PublicKey.fromBuffer}).
   *
   * @throws KeyError also `ERR_KEY_FILE_NOT_FOUND`, `ERR_KEY_FILE_UNREADABLE`
   */
  static async load(path: string): Promise<PublicKey> {
    const { data } = await readKeyFile(path);
    return PublicKey.fromKeyObject(readKey(data, { expect: 'public', path }).keyObject);
  }

  /** Synchronous {@link PublicKey.load}. */
  static loadSync(path: string): PublicKey {
    const { data } = readKeyFileSync(path);
    return PublicKey.fromKeyObject(readKey(data, { expect: 'public', path }).keyObject);
  }

  /**
   * The SSH wire blob (`string "ssh-rsa"`, `mpint e`, `mpint n`) that `.pub` files carry
   * and fingerprints hash. Cached; do not mutate.
   */
  sshPublicBlob(): Buffer {
    if (this.#sshBlob === undefined) {
      const jwk = this.keyObject.export({ format: 'jwk' });
      this.#sshBlob = rsaPublicBlob(
        Buffer.from(jwk.n ?? '', 'base64url'),
        Buffer.from(jwk.e ?? '', 'base64url'),
      );
    }
    return this.#sshBlob;
  }

  /** The raw 32-byte SHA-256 of {@link PublicKey.sshPublicBlob}. Cached; do not mutate. */
  fingerprintBytes(): Buffer {
    this.#fingerprintBytes ??= fingerprintBytesOf(this.sshPublicBlob());
    return this.#fingerprintBytes;
  }

  /** `SHA256:<base64 without padding>`, exactly as `ssh-keygen -l -E sha256` prints it. */
  fingerprint(): string {
    return formatFingerprint(this.fingerprintBytes());
  }

  /** SubjectPublicKeyInfo DER. Cached; do not mutate. */
  toSpkiDer(): Buffer {
    this.#spkiDer ??= this.keyObject.export({ type: 'spki', format: 'der' });
    return this.#spkiDer;
  }

  /** One OpenSSH line, `ssh-rsa AAAA…` plus ` comment` if given; no trailing newline. */
  toOpenSSH(comment?: string): string {
    checkCommentOption(comment);
    return formatOpenSshPublicLine(SSH_RSA, this.sshPublicBlob(), comment);
  }

  /** Whether both are the same key (same modulus and exponent). */
  equals(other: PublicKey): boolean {
    return other instanceof PublicKey && this.keyObject.equals(other.keyObject);
  }

  /**
   * Encodes the key. Text formats end with a newline.
   *
   * @throws TypeError for an unknown format or a multi-line comment
   */
  encode(options: PublicKeyEncodeOptions = {}): Buffer {
    checkOptionsObject(options);
    const { format = 'pem', comment } = options;
    checkFormatOption(format, PUBLIC_KEY_FORMATS);
    checkCommentOption(comment);
    switch (format) {
      case 'pem':
        return Buffer.from(this.keyObject.export({ type: 'spki', format: 'pem' }));
      case 'pkcs1':
        return Buffer.from(this.keyObject.export({ type: 'pkcs1', format: 'pem' }));
      case 'der':
        return Buffer.from(this.toSpkiDer());
      case 'jwk': {
        const { kty, n, e } = this.keyObject.export({ format: 'jwk' });
        return Buffer.from(`${JSON.stringify({ kty, n, e }, null, 2)}\n`);
      }
      case 'openssh':
        return Buffer.from(`${this.toOpenSSH(comment)}\n`);
    }
  }

  /**
   * Writes the key to `path` (mode 0644) atomically; see {@link PublicKey.encode}.
   *
   * @throws KeyError `ERR_KEY_FILE_EXISTS` unless `force`, `ERR_KEY_FILE_UNWRITABLE`
   */
  async save(path: string, options: PublicKeySaveOptions = {}): Promise<void> {
    await writeKeyFile(path, this.encode(options), { mode: PUBLIC_KEY_FILE_MODE, force: options.force });
  }

  /** Short description for logs: bits and fingerprint. */
  toString(): string {
    return `PublicKey(RSA ${this.bits}, ${this.fingerprint()})`;
  }

  [inspect.custom](): string {
    return this.toString();
  }
}
