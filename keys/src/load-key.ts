/**
 * Loading a key file whose kind is not known in advance, as tools do: `inspect`,
 * `fingerprint`, `convert`.
 */
import { decodeDetectedKey, detectKey, encryptedError, readKey } from './formats.js';
import type { KeyFileFormat, KeyKind } from './formats.js';
import { checkPrivateKeyPermissions, readKeyFile } from './key-file.js';
import { checkOptionsObject, checkPassphraseOption } from './options.js';
import { PrivateKey } from './private-key.js';
import type { PrivateKeyLoadOptions, PrivateKeyParseOptions } from './private-key.js';
import { PublicKey } from './public-key.js';

/**
 * Reads a public or private key file. Private keys get the same permission check and
 * passphrase handling as {@link PrivateKey.load}.
 *
 * @returns a {@link PrivateKey} or a {@link PublicKey}, depending on the file
 */
export async function loadKey(
  path: string,
  options: PrivateKeyLoadOptions = {},
): Promise<PrivateKey | PublicKey> {
  checkOptionsObject(options);
  checkPassphraseOption(options.passphrase);
  const { data, mode } = await readKeyFile(path);
  return decodeKey(data, path, mode, options);
}

/**
 * {@link loadKey} for key bytes read elsewhere (standard input, a message): a public or
 * private key in any format secsess reads. There is no file, so no permission check;
 * messages speak of "key data".
 */
export function loadKeyData(data: Buffer, options: PrivateKeyParseOptions = {}): PrivateKey | PublicKey {
  if (!Buffer.isBuffer(data)) throw new TypeError('data must be a Buffer');
  checkOptionsObject(options);
  checkPassphraseOption(options.passphrase);
  return decodeKey(data, undefined, undefined, options);
}

function decodeKey(
  data: Buffer,
  path: string | undefined,
  mode: number | undefined,
  options: PrivateKeyLoadOptions,
): PrivateKey | PublicKey {
  const { info, keyObject } = readKey(data, {
    path,
    passphrase: options.passphrase,
    check: (detected) => {
      if (
        detected.kind === 'private' &&
        path !== undefined &&
        mode !== undefined &&
        options.allowInsecurePermissions !== true
      ) {
        checkPrivateKeyPermissions(path, mode);
      }
    },
  });
  return info.kind === 'private' ? PrivateKey.fromKeyObject(keyObject) : PublicKey.fromKeyObject(keyObject);
}

/** What {@link inspectKeyFile} reports. */
export interface KeyInspection {
  /** The file inspected. */
  path: string;
  /** Whether it holds a private key. */
  kind: KeyKind;
  /** Detected encoding. */
  format: KeyFileFormat;
  /** Whether the private key is passphrase-protected. */
  encrypted: boolean;
  /** Modulus size; `null` for an encrypted key whose public half cannot be read without the passphrase. */
  bits: number | null;
  /** `SHA256:…` fingerprint; `null` when `bits` is. */
  fingerprint: string | null;
}

/**
 * Describes a key file. Unlike {@link loadKey}, an encrypted key without a passphrase is
 * not an error: `bits` and `fingerprint` are then `null`, except for OpenSSH keys, whose
 * public half is stored in clear. A passphrase that is given must be right.
 *
 * @throws KeyError as {@link loadKey}, except `ERR_KEY_ENCRYPTED` and `ERR_KEY_OPENSSH_ENCRYPTED`
 */
export async function inspectKeyFile(
  path: string,
  options: PrivateKeyLoadOptions = {},
): Promise<KeyInspection> {
  checkOptionsObject(options);
  checkPassphraseOption(options.passphrase);
  const { data, mode } = await readKeyFile(path);
  return { path, ...inspect(data, path, mode, options) };
}

/**
 * {@link inspectKeyFile} for key bytes read elsewhere (standard input): no permission
 * check, and no `path` in the result.
 */
export function inspectKeyData(
  data: Buffer,
  options: PrivateKeyParseOptions = {},
): Omit<KeyInspection, 'path'> {
  if (!Buffer.isBuffer(data)) throw new TypeError('data must be a Buffer');
  checkOptionsObject(options);
  checkPassphraseOption(options.passphrase);
  return inspect(data, undefined, undefined, options);
}

function inspect(
  data: Buffer,
  path: string | undefined,
  mode: number | undefined,
  options: PrivateKeyLoadOptions,
): Omit<KeyInspection, 'path'> {
  const detected = detectKey(data, path);
  if (
    detected.kind === 'private' &&
    path !== undefined &&
    mode !== undefined &&
    options.allowInsecurePermissions !== true
  ) {
    checkPrivateKeyPermissions(path, mode);
  }
  let publicKey: PublicKey | undefined;
  if (detected.encrypted && (options.passphrase === undefined || detected.undecryptable !== undefined)) {
    publicKey =
      detected.clearPublicKey === undefined ? undefined : PublicKey.fromKeyObject(detected.clearPublicKey);
  } else {
    publicKey = PublicKey.fromKeyObject(
      decodeDetectedKey(detected, { path, passphrase: options.passphrase }),
    );
  }
  return {
    kind: detected.kind,
    format: detected.format,
    encrypted: detected.encrypted,
    bits: publicKey?.bits ?? null,
    fingerprint: publicKey?.fingerprint() ?? null,
  };
}

/**
 * The `SHA256:…` fingerprint of a public or private key file. Works on passphrase-protected
 * OpenSSH keys without the passphrase (their public half is in clear), as `ssh-keygen -l` does.
 *
 * @throws KeyError as {@link loadKey}; `ERR_KEY_ENCRYPTED` for other encrypted keys without passphrase
 */
export async function fingerprintKeyFile(path: string, options: PrivateKeyLoadOptions = {}): Promise<string> {
  const inspection = await inspectKeyFile(path, options);
  if (inspection.fingerprint === null) throw encryptedError(path);
  return inspection.fingerprint;
}

/** {@link fingerprintKeyFile} for key bytes read elsewhere (standard input). */
export function fingerprintKeyData(data: Buffer, options: PrivateKeyParseOptions = {}): string {
  const inspection = inspectKeyData(data, options);
  if (inspection.fingerprint === null) throw encryptedError(undefined);
  return inspection.fingerprint;
}
