import { generateKeyPair } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import {
  DEFAULT_RSA_BITS,
  MIN_RSA_BITS,
  PRIVATE_KEY_FILE_MODE,
  PUBLIC_KEY_FILE_MODE,
  RSA_GENERATE_BITS,
  RSA_PUBLIC_EXPONENT,
} from './constants.js';
import { KeyError, KeyErrorCode } from './errors.js';
import { assertNoFile, ensureKeyDirectory, writeKeyFile } from './key-file.js';
import { checkOptionsObject } from './options.js';
import { PrivateKey } from './private-key.js';
import type { PublicKey } from './public-key.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** RSA modulus sizes {@link KeyPair.generateRSA} accepts. */
export type RsaBits = (typeof RSA_GENERATE_BITS)[number];

/** Options of {@link KeyPair.generateRSA}. */
export interface GenerateRsaOptions {
  /** Modulus size. Default 3072. */
  bits?: RsaBits | undefined;
}

/** Options of {@link KeyPair.save}. */
export interface KeyPairSaveOptions {
  /**
   * `'pem'` (default): PKCS#8 private key and SubjectPublicKeyInfo public key.
   * `'openssh'`: OpenSSH private key and `ssh-rsa` public line, as ssh-keygen writes them.
   */
  format?: 'pem' | 'openssh' | undefined;
  /** Encrypt the private key (PKCS#8: scrypt and aes-256-cbc, see {@link PrivateKey.encode}); `pem` only. Default: unencrypted. */
  passphrase?: string | Buffer | undefined;
  /** Comment stored in both `openssh` files. Default: none. */
  comment?: string | undefined;
  /** Replace existing files. Default `false`: `ERR_KEY_FILE_EXISTS` if either exists. */
  force?: boolean | undefined;
}

/** Where {@link KeyPair.save} wrote the two files. */
export interface KeyPairPaths {
  /** `<base>.key`, mode 0600. */
  privateKeyPath: string;
  /** `<base>.pub`, mode 0644. */
  publicKeyPath: string;
}

/** The file names {@link KeyPair.save} uses for `base`: `<base>.key` and `<base>.pub`. */
export function keyPairPaths(base: string): KeyPairPaths {
  return { privateKeyPath: `${base}.key`, publicKeyPath: `${base}.pub` };
}

/** A private key and its public key. */
export class KeyPair {
  /** The private half. */
  readonly privateKey: PrivateKey;
  /** The public half (same object as `privateKey.publicKey`). */
  readonly publicKey: PublicKey;

  constructor(privateKey: PrivateKey) {
    if (!(privateKey instanceof PrivateKey)) throw new TypeError('privateKey must be a PrivateKey');
    this.privateKey = privateKey;
    this.publicKey = privateKey.publicKey;
  }

  /**
   * Generates an RSA key pair (public exponent 65537) with node:crypto's asynchronous
   * generator, which runs on the libuv thread pool so the event loop keeps running.
   *
   * @param options.bits - 2048, 3072 or 4096. Default 3072.
   * @throws TypeError if `bits` is not a number
   * @throws KeyError `ERR_KEY_TOO_SMALL` if `bits` is an integer below 2048
   * @throws RangeError for any other value that is not 2048, 3072 or 4096
   */
  static async generateRSA(options: GenerateRsaOptions = {}): Promise<KeyPair> {
    checkOptionsObject(options);
    const bits: unknown = options.bits ?? DEFAULT_RSA_BITS;
    if (typeof bits !== 'number') throw new TypeError('bits must be a number');
    if (Number.isInteger(bits) && bits < MIN_RSA_BITS) {
      throw new KeyError(
        KeyErrorCode.TOO_SMALL,
        `refusing to generate a ${bits}-bit RSA key; use at least ${MIN_RSA_BITS} bits`,
      );
    }
    if (!(RSA_GENERATE_BITS as readonly number[]).includes(bits)) {
      throw new RangeError(`bits must be one of ${RSA_GENERATE_BITS.join(', ')}`);
    }
    const { privateKey }: { privateKey: KeyObject } = await generateKeyPairAsync('rsa', {
      modulusLength: bits,
      publicExponent: RSA_PUBLIC_EXPONENT,
    });
    return new KeyPair(PrivateKey.fromKeyObject(privateKey));
  }

  /**
   * Writes `<base>.key` (0600) then `<base>.pub` (0644), each atomically. Without `force`,
   * both names are checked first so that neither is written if either exists. A missing
   * directory of `base` is created with mode 0700 (`save('keys/server')` creates `keys/`).
   *
   * @throws KeyError `ERR_KEY_FILE_EXISTS`, `ERR_KEY_FILE_UNWRITABLE` (also when the
   *   directory cannot be created)
   * @throws TypeError for a passphrase with `openssh`
   */
  async save(base: string, options: KeyPairSaveOptions = {}): Promise<KeyPairPaths> {
    checkOptionsObject(options);
    const { format = 'pem', passphrase, comment, force } = options;
    if (format !== 'pem' && format !== 'openssh') throw new TypeError("format must be 'pem' or 'openssh'");
    const paths = keyPairPaths(base);
    // Encode both first: option errors surface before anything touches the disk.
    const privateData = this.privateKey.encode({ format, passphrase, comment });
    const publicData = this.publicKey.encode({ format, comment });
    if (force !== true) {
      await assertNoFile(paths.privateKeyPath);
      await assertNoFile(paths.publicKeyPath);
    }
    await ensureKeyDirectory(paths.privateKeyPath);
    await writeKeyFile(paths.privateKeyPath, privateData, { mode: PRIVATE_KEY_FILE_MODE, force });
    await writeKeyFile(paths.publicKeyPath, publicData, { mode: PUBLIC_KEY_FILE_MODE, force });
    return paths;
  }
}
