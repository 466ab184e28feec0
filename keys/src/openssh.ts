/**
 * OpenSSH key formats: `.pub` lines (`ssh-rsa AAAA… comment`) and the `openssh-key-v1`
 * private-key container (PROTOCOL.key in the OpenSSH sources).
 *
 * We read the container header ourselves, so that encrypted keys and non-RSA keys are
 * recognised before anything is decoded. node-rsa is used only to convert the unencrypted
 * private section to and from PKCS#1, because node:crypto cannot read or write it; every
 * cryptographic operation stays in node:crypto, except bcrypt_pbkdf (openssh-decrypt.ts).
 */
import { randomBytes } from 'node:crypto';
import { NodeRSA } from 'node-rsa';
import { SshReader, sshString } from './ssh-wire.js';

/** PEM label of OpenSSH private keys. */
export const OPENSSH_PRIVATE_LABEL = 'OPENSSH PRIVATE KEY';

/** The container starts with this NUL-terminated magic string (not an SSH `string`). */
const AUTH_MAGIC = Buffer.from('openssh-key-v1\0', 'latin1');

/** OpenSSH wraps the container's base64 at 70 columns. */
const OPENSSH_BASE64_COLUMNS = 70;

/** One parsed `.pub` / `authorized_keys`-style line (without options). */
export interface OpenSshPublicLine {
  /** Key type name from the line, e.g. `ssh-rsa`. */
  type: string;
  /** The decoded public-key blob. */
  blob: Buffer;
  /** Everything after the base64 field, trimmed; `''` when absent. */
  comment: string;
}

/**
 * Parses `type base64 [comment]`. Returns `undefined` if the line does not have that
 * shape or the base64 is not canonical (a truncated or edited key).
 */
export function parseOpenSshPublicLine(line: string): OpenSshPublicLine | undefined {
  const match = /^(\S+)[ \t]+([A-Za-z0-9+/]+={0,2})(?:[ \t]+(.*))?$/.exec(line.trim());
  if (match === null) return undefined;
  const [, type, base64, comment] = match;
  if (type === undefined || base64 === undefined) return undefined;
  const blob = Buffer.from(base64, 'base64');
  // Buffer.from ignores a dangling partial quantum; re-encoding catches truncation.
  if (blob.toString('base64').replace(/=+$/, '') !== base64.replace(/=+$/, '')) return undefined;
  return { type, blob, comment: (comment ?? '').trim() };
}

/** Formats a `.pub` line (no trailing newline). Comments must be a single line. */
export function formatOpenSshPublicLine(type: string, blob: Buffer, comment?: string): string {
  const base = `${type} ${blob.toString('base64')}`;
  return comment === undefined || comment === '' ? base : `${base} ${comment}`;
}

/** The cleartext header of an `openssh-key-v1` container. */
export interface OpenSshPrivateContainer {
  /** `none` for unencrypted keys, e.g. `aes256-ctr` for passphrase-protected ones. */
  cipher: string;
  /** `none`, or `bcrypt` for passphrase-protected keys. */
  kdf: string;
  /** The KDF's options: for `bcrypt`, `string salt, uint32 rounds`; empty for `none`. */
  kdfOptions: Buffer;
  /** Number of keys; OpenSSH only ever writes 1. */
  keyCount: number;
  /** The first key's public blob, stored in clear even when the key is encrypted. */
  publicBlob: Buffer;
  /** Offset of the private section's first checkint in the decoded container. */
  checkOffset: number;
  /** The private section (ciphertext when `cipher` is not `none`), without its length. */
  privateSection: Buffer;
  /** Bytes after the private section: the tag of an AEAD cipher, else empty. */
  trailer: Buffer;
}

/**
 * Reads the header of a decoded container:
 *
 *   "openssh-key-v1\0"  string cipher  string kdf  string kdfoptions
 *   uint32 N  string publickey[N]  string private-section
 *
 * followed, for AEAD ciphers only, by their tag. Returns `undefined` if the magic is wrong,
 * any field is truncated, or an unencrypted container has trailing bytes.
 */
export function readOpenSshPrivateContainer(data: Buffer): OpenSshPrivateContainer | undefined {
  if (data.length < AUTH_MAGIC.length || !data.subarray(0, AUTH_MAGIC.length).equals(AUTH_MAGIC)) {
    return undefined;
  }
  const reader = new SshReader(data.subarray(AUTH_MAGIC.length));
  const cipher = reader.string()?.toString('latin1');
  const kdf = reader.string()?.toString('latin1');
  const kdfOptions = reader.string();
  const keyCount = reader.uint32();
  if (cipher === undefined || kdf === undefined || kdfOptions === undefined || keyCount === undefined) {
    return undefined;
  }
  if (keyCount < 1) return undefined;
  const publicBlob = reader.string();
  if (publicBlob === undefined) return undefined;
  // Skip the other public keys (never written by OpenSSH, but allowed by the format).
  for (let i = 1; i < keyCount; i++) if (reader.string() === undefined) return undefined;
  const sectionStart = reader.position;
  const privateSection = reader.string();
  if (privateSection === undefined || privateSection.length < 8) return undefined;
  if (cipher === 'none' && reader.remaining !== 0) return undefined;
  const trailer = data.subarray(data.length - reader.remaining);
  const checkOffset = AUTH_MAGIC.length + sectionStart + 4;
  return { cipher, kdf, kdfOptions, keyCount, publicBlob, checkOffset, privateSection, trailer };
}

/** Extracts and decodes the base64 body of an `OPENSSH PRIVATE KEY` PEM block. */
export function decodeOpenSshPem(pem: string): Buffer {
  const body = pem
    .replace(`-----BEGIN ${OPENSSH_PRIVATE_LABEL}-----`, '')
    .replace(`-----END ${OPENSSH_PRIVATE_LABEL}-----`, '')
    .replace(/\s+/g, '');
  return Buffer.from(body, 'base64');
}

/** Wraps a decoded container as an `OPENSSH PRIVATE KEY` PEM block, base64 at 70 columns. */
export function encodeOpenSshPem(container: Buffer): string {
  const base64 = container.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < base64.length; i += OPENSSH_BASE64_COLUMNS) {
    lines.push(base64.slice(i, i + OPENSSH_BASE64_COLUMNS));
  }
  return `-----BEGIN ${OPENSSH_PRIVATE_LABEL}-----\n${lines.join('\n')}\n-----END ${OPENSSH_PRIVATE_LABEL}-----\n`;
}

/**
 * The unencrypted container holding one key: `cipher` and `kdf` `none`, empty KDF options,
 * the public blob and a decrypted private section.
 */
export function unencryptedOpenSshContainer(publicBlob: Buffer, privateSection: Buffer): Buffer {
  const none = sshString(Buffer.from('none', 'latin1'));
  const count = Buffer.alloc(4);
  count.writeUInt32BE(1);
  return Buffer.concat([
    AUTH_MAGIC,
    none,
    none,
    sshString(Buffer.alloc(0)),
    count,
    sshString(publicBlob),
    sshString(privateSection),
  ]);
}

/**
 * Converts an unencrypted single-RSA-key OpenSSH private key (already checked with
 * {@link readOpenSshPrivateContainer}) to PKCS#1 DER. Throws node-rsa's error if the private
 * section is malformed.
 */
export function openSshPrivateToPkcs1Der(pem: string): Buffer {
  const rsa = new NodeRSA(pem, 'openssh-private');
  return Buffer.from(rsa.exportKey('pkcs1-private-der'));
}

/**
 * Converts a PKCS#1 DER private key to an unencrypted OpenSSH private key file.
 *
 * node-rsa 2.0.0 writes both checkints as zero; OpenSSH writes one random value twice (it
 * lets a decryptor spot a wrong passphrase). We fill in a random value so our files look
 * like ssh-keygen's, then re-wrap the base64 at OpenSSH's 70 columns.
 */
export function pkcs1DerToOpenSshPrivate(der: Buffer, comment: string): string {
  const rsa = new NodeRSA(der, 'pkcs1-private-der');
  rsa.keyPair.sshcomment = comment;
  const container = decodeOpenSshPem(rsa.exportKey('openssh-private'));
  const header = readOpenSshPrivateContainer(container);
  if (header === undefined) throw new Error('node-rsa produced an unreadable OpenSSH container');
  const check = randomBytes(4);
  check.copy(container, header.checkOffset);
  check.copy(container, header.checkOffset + 4);
  return encodeOpenSshPem(container);
}
