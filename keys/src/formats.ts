/**
 * Key format detection and decoding. Detection looks only at structure (PEM labels and
 * headers, DER shape, JSON `kty`, SSH type names, the OpenSSH container header) so that we
 * know what a file is — and whether it is encrypted — before decrypting anything. Decoding
 * is done by node:crypto, except the OpenSSH private container (see openssh.ts and, for
 * passphrase-protected ones, openssh-decrypt.ts).
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { MIN_RSA_BITS } from './constants.js';
import { classifyDer } from './der.js';
import { describeSource, KeyError, KeyErrorCode } from './errors.js';
import { decryptOpenSshContainer, openSshEncryptionProblem } from './openssh-decrypt.js';
import {
  decodeOpenSshPem,
  encodeOpenSshPem,
  OPENSSH_PRIVATE_LABEL,
  openSshPrivateToPkcs1Der,
  parseOpenSshPublicLine,
  readOpenSshPrivateContainer,
} from './openssh.js';
import { isOtherSshKeyType, parseSshPublicBlob, SSH_RSA } from './ssh-wire.js';

/** Whether a key holds the private half. */
export type KeyKind = 'public' | 'private';

/**
 * The encodings secsess reads, named `<structure>-<encoding>`:
 * `pkcs1-*` is RSAPrivateKey / RSAPublicKey (`BEGIN RSA PRIVATE KEY`, including legacy
 * `Proc-Type: 4,ENCRYPTED` PEM), `pkcs8-*` is PrivateKeyInfo or EncryptedPrivateKeyInfo,
 * `spki-*` is SubjectPublicKeyInfo (`BEGIN PUBLIC KEY`), `jwk` is a JSON Web Key and
 * `openssh` is either a `.pub` line or an `openssh-key-v1` private key.
 */
export type KeyFileFormat =
  'pkcs1-pem' | 'pkcs1-der' | 'pkcs8-pem' | 'pkcs8-der' | 'spki-pem' | 'spki-der' | 'jwk' | 'openssh';

/** What {@link detectKey} learns without decrypting or decoding key material. */
export interface KeyFormatInfo {
  /** `'private'` if the data holds a private key. */
  kind: KeyKind;
  /** The detected encoding. */
  format: KeyFileFormat;
  /** Whether a passphrase is needed to read it. Always `false` for public keys. */
  encrypted: boolean;
}

/** A detected key and how to decode it. */
export interface DetectedKey extends KeyFormatInfo {
  /** Decodes to a KeyObject (private for private keys); throws node:crypto or node-rsa errors. */
  decode(passphrase: string | Buffer | undefined): KeyObject;
  /** The public key, when the format stores it in clear beside an encrypted private key (OpenSSH). */
  clearPublicKey?: KeyObject | undefined;
  /**
   * Why no passphrase can decrypt this key (an OpenSSH cipher or KDF we do not implement,
   * too many bcrypt rounds), as the end of a sentence; `undefined` when it can be tried.
   */
  undecryptable?: string | undefined;
}

const PEM_BEGIN = /-----BEGIN ([A-Z0-9 ]+)-----/;

function formatError(path: string | undefined, what: string, cause?: unknown): KeyError {
  return new KeyError(KeyErrorCode.FORMAT, `${describeSource(path)} ${what}`, { path, cause });
}

function notRsaError(path: string | undefined, what: string): KeyError {
  return new KeyError(
    KeyErrorCode.NOT_RSA,
    `${describeSource(path)} holds ${what}; secsess needs an RSA key (create one with secsess-keygen)`,
    { path },
  );
}

/**
 * Works out what a key file holds. Throws `ERR_KEY_FORMAT` for data that is not a key we
 * know (or is visibly truncated) and `ERR_KEY_NOT_RSA` when the structure alone shows a
 * non-RSA key (EC/DSA PEM labels, SSH type names, JWK `kty`). PKCS#8, SPKI and DER keys of
 * other algorithms are only recognised when decoded (see {@link checkRsaKey}).
 *
 * @param path - only used in error messages.
 */
export function detectKey(data: Buffer, path?: string): DetectedKey {
  if (data.length === 0) throw formatError(path, 'is empty');
  if (data[0] === 0x30) return detectDer(data, path);
  const text = data.toString('utf8').replace(/^\uFEFF/, '');
  if (text.includes('\u0000') || text.includes('\uFFFD')) {
    throw formatError(path, 'is not a key file we recognise (expected PEM, DER, JWK or OpenSSH)');
  }
  const trimmed = text.trim();
  if (PEM_BEGIN.test(trimmed)) return detectPem(trimmed, path);
  if (trimmed.startsWith('{')) return detectJwk(trimmed, path);
  const firstLine = trimmed.split(/\r?\n/).find((line) => line.trim() !== '' && !line.startsWith('#'));
  // SSH key type names: ssh-rsa, ssh-ed25519, ecdsa-sha2-*, sk-*@openssh.com, *-cert-v01@openssh.com.
  if (firstLine !== undefined && /^(?:ssh|ecdsa|sk)-[a-z0-9@.-]+[ \t]/.test(firstLine)) {
    return detectOpenSshPublic(firstLine, path);
  }
  throw formatError(path, 'is not a key file we recognise (expected PEM, DER, JWK or OpenSSH)');
}

function detectDer(data: Buffer, path: string | undefined): DetectedKey {
  const kind = classifyDer(data);
  switch (kind) {
    case 'pkcs1-private':
      return {
        kind: 'private',
        format: 'pkcs1-der',
        encrypted: false,
        decode: () => createPrivateKey({ key: data, format: 'der', type: 'pkcs1' }),
      };
    case 'pkcs1-public':
      return {
        kind: 'public',
        format: 'pkcs1-der',
        encrypted: false,
        decode: () => createPublicKey({ key: data, format: 'der', type: 'pkcs1' }),
      };
    case 'pkcs8':
    case 'pkcs8-encrypted':
      return {
        kind: 'private',
        format: 'pkcs8-der',
        encrypted: kind === 'pkcs8-encrypted',
        decode: (passphrase) =>
          createPrivateKey({ key: data, format: 'der', type: 'pkcs8', ...withPassphrase(passphrase) }),
      };
    case 'spki':
      return {
        kind: 'public',
        format: 'spki-der',
        encrypted: false,
        decode: () => createPublicKey({ key: data, format: 'der', type: 'spki' }),
      };
    case undefined:
      throw formatError(path, 'is not a DER key we recognise, or is truncated');
  }
}

function withPassphrase(passphrase: string | Buffer | undefined): { passphrase?: string | Buffer } {
  return passphrase === undefined ? {} : { passphrase };
}

function detectPem(text: string, path: string | undefined): DetectedKey {
  const begin = PEM_BEGIN.exec(text);
  const label = begin?.[1] ?? '';
  const beginAt = begin?.index ?? 0;
  const endMarker = `-----END ${label}-----`;
  const endAt = text.indexOf(endMarker, beginAt);
  if (endAt < 0) throw formatError(path, `is truncated: its "BEGIN ${label}" block has no END line`);
  const pem = text.slice(beginAt, endAt + endMarker.length);
  const body = text.slice(beginAt + (begin?.[0].length ?? 0), endAt);
  const encryptedLegacy = /^Proc-Type:\s*4,ENCRYPTED/m.test(body);
  const base64 = body.replace(/^[A-Za-z-]+:.*$/gm, '').replace(/\s+/g, '');
  if (base64 === '' || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) {
    throw formatError(path, `has a "${label}" block that is empty or not base64`);
  }
  const decodePrivate = (passphrase: string | Buffer | undefined): KeyObject =>
    createPrivateKey({ key: pem, format: 'pem', ...withPassphrase(passphrase) });
  const decodePublic = (): KeyObject => createPublicKey({ key: pem, format: 'pem' });
  switch (label) {
    case 'RSA PRIVATE KEY':
      return { kind: 'private', format: 'pkcs1-pem', encrypted: encryptedLegacy, decode: decodePrivate };
    case 'PRIVATE KEY':
      return { kind: 'private', format: 'pkcs8-pem', encrypted: false, decode: decodePrivate };
    case 'ENCRYPTED PRIVATE KEY':
      return { kind: 'private', format: 'pkcs8-pem', encrypted: true, decode: decodePrivate };
    case 'RSA PUBLIC KEY':
      return { kind: 'public', format: 'pkcs1-pem', encrypted: false, decode: decodePublic };
    case 'PUBLIC KEY':
      return { kind: 'public', format: 'spki-pem', encrypted: false, decode: decodePublic };
    case OPENSSH_PRIVATE_LABEL:
      return detectOpenSshPrivate(pem, path);
    case 'EC PRIVATE KEY':
    case 'EC PARAMETERS':
      throw notRsaError(path, 'an EC key');
    case 'DSA PRIVATE KEY':
      throw notRsaError(path, 'a DSA key');
    case 'CERTIFICATE':
      throw formatError(
        path,
        'is a certificate, not a key; extract its public key with `openssl x509 -pubkey -noout -in FILE`',
      );
    default:
      throw formatError(path, `has a "${label}" PEM block, which is not a key format secsess reads`);
  }
}

function detectJwk(text: string, path: string | undefined): DetectedKey {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // No cause: JSON.parse messages quote the input, which may be key material.
    throw formatError(path, 'looks like JSON but does not parse; it may be truncated');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw formatError(path, 'is JSON but not a JSON Web Key object');
  }
  const jwk = parsed as JsonWebKey;
  if (Array.isArray(jwk['keys']))
    throw formatError(path, 'is a JWK Set; save the one key you need on its own');
  if (typeof jwk.kty !== 'string') throw formatError(path, 'is JSON without a "kty" member, not a JWK');
  if (jwk.kty !== 'RSA') throw notRsaError(path, `a JWK of kty "${jwk.kty}"`);
  if (typeof jwk.d === 'string') {
    return {
      kind: 'private',
      format: 'jwk',
      encrypted: false,
      decode: () => createPrivateKey({ key: jwk, format: 'jwk' }),
    };
  }
  // Only n and e: node:crypto rejects some unrelated members (e.g. a non-string "alg").
  const publicJwk: JsonWebKey = { kty: 'RSA', n: jwk.n, e: jwk.e };
  return {
    kind: 'public',
    format: 'jwk',
    encrypted: false,
    decode: () => createPublicKey({ key: publicJwk, format: 'jwk' }),
  };
}

/** Base64url of unsigned big-endian bytes, as JWK wants `n` and `e`. */
function base64url(bytes: Buffer): string {
  return bytes.toString('base64url');
}

/** Builds a public KeyObject from an `ssh-rsa` blob, or throws `ERR_KEY_FORMAT`/`ERR_KEY_NOT_RSA`. */
export function publicKeyFromSshBlob(blob: Buffer, path: string | undefined): KeyObject {
  const parsed = parseSshPublicBlob(blob);
  if (parsed === undefined) throw formatError(path, 'holds a malformed or truncated SSH public key');
  if (parsed.n === undefined) {
    if (isOtherSshKeyType(parsed.type)) throw notRsaError(path, `an ${parsed.type} key`);
    throw formatError(path, `holds an SSH key of unknown type "${parsed.type}"`);
  }
  return createPublicKey({
    key: { kty: 'RSA', n: base64url(parsed.n), e: base64url(parsed.e) },
    format: 'jwk',
  });
}

function detectOpenSshPublic(line: string, path: string | undefined): DetectedKey {
  const parsed = parseOpenSshPublicLine(line);
  if (parsed === undefined) {
    throw formatError(
      path,
      'is not a valid OpenSSH public key line ("ssh-rsa AAAA… comment"); it may be truncated',
    );
  }
  if (isOtherSshKeyType(parsed.type)) throw notRsaError(path, `an ${parsed.type} key`);
  if (parsed.type !== SSH_RSA) {
    throw formatError(path, `holds an SSH key of type "${parsed.type}", which secsess does not read`);
  }
  const blobType = parseSshPublicBlob(parsed.blob)?.type;
  if (blobType !== undefined && blobType !== parsed.type) {
    throw formatError(path, `says "${parsed.type}" but its key data is of type "${blobType}"`);
  }
  const key = publicKeyFromSshBlob(parsed.blob, path);
  return { kind: 'public', format: 'openssh', encrypted: false, decode: () => key };
}

function detectOpenSshPrivate(pem: string, path: string | undefined): DetectedKey {
  const container = readOpenSshPrivateContainer(decodeOpenSshPem(pem));
  if (container === undefined)
    throw formatError(path, 'is not a valid OpenSSH private key; it may be truncated');
  if (container.keyCount !== 1)
    throw formatError(path, `holds ${container.keyCount} keys; secsess reads one`);
  // The public half is in clear even in encrypted files, so non-RSA keys are refused first.
  const publicKey = publicKeyFromSshBlob(container.publicBlob, path);
  const encrypted = container.cipher !== 'none';
  const problem = encrypted ? openSshEncryptionProblem(container) : undefined;
  if (problem?.kind === 'malformed')
    throw formatError(path, `is an OpenSSH private key that ${problem.what}`);
  return {
    kind: 'private',
    format: 'openssh',
    encrypted,
    clearPublicKey: publicKey,
    undecryptable: problem?.what,
    decode: (passphrase) => {
      const plainPem =
        encrypted && passphrase !== undefined
          ? encodeOpenSshPem(decryptOpenSshContainer(container, passphrase))
          : pem;
      const key = createPrivateKey({ key: openSshPrivateToPkcs1Der(plainPem), format: 'der', type: 'pkcs1' });
      if (!createPublicKey(key).equals(publicKey)) {
        throw new Error('the private section does not match the public key in the header');
      }
      return key;
    },
  };
}

/** The `ERR_KEY_ENCRYPTED` error for `path`. */
export function encryptedError(path: string | undefined): KeyError {
  return new KeyError(
    KeyErrorCode.ENCRYPTED,
    `${describeSource(path)} is encrypted; a passphrase is needed to read it`,
    {
      path,
    },
  );
}

/** Options of {@link decodeDetectedKey}. */
export interface DecodeOptions {
  /** Passphrase for encrypted PKCS#8, legacy encrypted PEM or OpenSSH keys. Default: none. */
  passphrase?: string | Buffer | undefined;
  /** The file the data came from, for messages. */
  path?: string | undefined;
}

/**
 * Decodes a detected key into a KeyObject of its kind, then checks it with
 * {@link checkRsaKey}. Maps failures to `ERR_KEY_ENCRYPTED`, `ERR_KEY_PASSPHRASE`,
 * `ERR_KEY_OPENSSH_ENCRYPTED` or `ERR_KEY_FORMAT`.
 */
export function decodeDetectedKey(detected: DetectedKey, options: DecodeOptions = {}): KeyObject {
  const { passphrase, path } = options;
  const source = describeSource(path);
  if (detected.undecryptable !== undefined) {
    const file = path ?? 'FILE';
    throw new KeyError(
      KeyErrorCode.OPENSSH_ENCRYPTED,
      `${source} is a passphrase-protected OpenSSH private key that ${detected.undecryptable}, which secsess cannot decrypt; ` +
        `re-encrypt it with \`ssh-keygen -p -Z aes256-ctr -a 16 -f ${file}\` or convert it with \`ssh-keygen -p -m PKCS8 -f ${file}\` (both keep the passphrase)`,
      { path },
    );
  }
  if (detected.encrypted && passphrase === undefined) throw encryptedError(path);
  let key: KeyObject;
  try {
    key = detected.decode(detected.encrypted ? passphrase : undefined);
  } catch (cause) {
    if (detected.encrypted) {
      throw new KeyError(
        KeyErrorCode.PASSPHRASE,
        `the passphrase does not decrypt ${source} (wrong passphrase, or the file is corrupt)`,
        { path, cause },
      );
    }
    throw formatError(
      path,
      `could not be decoded as ${detected.format}; it may be truncated or corrupt`,
      cause,
    );
  }
  checkRsaKey(key, path);
  return key;
}

/** Throws `ERR_KEY_NOT_RSA` unless `key` is a plain RSA key, `ERR_KEY_TOO_SMALL` if under 2048 bits. */
export function checkRsaKey(key: KeyObject, path?: string): number {
  const type = key.asymmetricKeyType;
  if (type === 'rsa-pss') throw notRsaError(path, 'an RSA-PSS-restricted key (not plain rsaEncryption)');
  if (type !== 'rsa') throw notRsaError(path, `an ${type ?? 'unknown'} key`);
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < MIN_RSA_BITS) {
    throw new KeyError(
      KeyErrorCode.TOO_SMALL,
      `${describeSource(path)} holds a ${bits}-bit RSA key; secsess needs at least ${MIN_RSA_BITS} bits, generate a new key`,
      { path },
    );
  }
  return bits;
}

/** Options of {@link readKey}. */
export interface ReadKeyOptions extends DecodeOptions {
  /** Refuse data of the other kind with `ERR_KEY_FORMAT`. Default: accept both. */
  expect?: KeyKind | undefined;
  /** Called with what was detected, before anything is decrypted (the permission check). */
  check?: ((info: KeyFormatInfo) => void) | undefined;
}

/** Detects, checks and decodes key data: {@link detectKey} then {@link decodeDetectedKey}. */
export function readKey(
  data: Buffer,
  options: ReadKeyOptions = {},
): { info: KeyFormatInfo; keyObject: KeyObject } {
  const { expect, path } = options;
  const detected = detectKey(data, path);
  if (expect === 'private' && detected.kind === 'public') {
    throw formatError(path, 'holds a public key; a private key is needed here');
  }
  if (expect === 'public' && detected.kind === 'private') {
    throw formatError(
      path,
      `holds a private key; a public key is expected here (print its public half with \`secsess-keygen convert ${path ?? 'FILE'} --public\`)`,
    );
  }
  const info: KeyFormatInfo = { kind: detected.kind, format: detected.format, encrypted: detected.encrypted };
  options.check?.(info);
  return { info, keyObject: decodeDetectedKey(detected, options) };
}

/**
 * Tells what key data holds — public or private, which encoding, whether encrypted —
 * without decrypting or decoding the key.
 *
 * @throws KeyError `ERR_KEY_FORMAT` for unknown or visibly truncated data,
 *   `ERR_KEY_NOT_RSA` when the structure alone shows another algorithm
 */
export function detectKeyFormat(data: Buffer): KeyFormatInfo {
  const { kind, format, encrypted } = detectKey(data);
  return { kind, format, encrypted };
}
