/**
 * The SSH wire encoding of RSA public keys (RFC 4253 §6.6): the blob that OpenSSH
 * base64-encodes in `.pub` files and hashes for fingerprints.
 *
 *   string  "ssh-rsa"
 *   mpint   e
 *   mpint   n
 *
 * `string` is a uint32 big-endian length then the bytes; `mpint` is a `string` holding a
 * two's-complement big-endian integer with no redundant leading zero bytes, so a positive
 * value whose top bit is set gets one 0x00 in front (RFC 4251 §5).
 */

/** The key type name of RSA keys in SSH, and the first field of their blob. */
export const SSH_RSA = 'ssh-rsa';

/** SSH key type names we recognise only to refuse them with `ERR_KEY_NOT_RSA`. */
export function isOtherSshKeyType(name: string): boolean {
  return (
    name === 'ssh-ed25519' ||
    name === 'ssh-ed448' ||
    name === 'ssh-dss' ||
    name.startsWith('ecdsa-sha2-') ||
    name.startsWith('sk-ssh-ed25519@') ||
    name.startsWith('sk-ecdsa-sha2-')
  );
}

/** Encodes an SSH `string`. */
export function sshString(data: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.set(data, 4);
  return out;
}

/** Encodes an unsigned big-endian integer (any leading zeros) as an SSH `mpint`. */
export function sshMpint(unsigned: Uint8Array): Buffer {
  let start = 0;
  while (start < unsigned.length && unsigned[start] === 0) start++;
  const digits = unsigned.subarray(start);
  if (digits.length === 0) return sshString(digits);
  const needsZero = ((digits[0] as number) & 0x80) !== 0;
  return sshString(needsZero ? Buffer.concat([Buffer.of(0), digits]) : digits);
}

/** The public-key blob of an RSA key given its unsigned big-endian modulus and exponent. */
export function rsaPublicBlob(n: Uint8Array, e: Uint8Array): Buffer {
  return Buffer.concat([sshString(Buffer.from(SSH_RSA)), sshMpint(e), sshMpint(n)]);
}

/** Reads SSH wire fields; every method returns `undefined` instead of reading past the end. */
export class SshReader {
  private offset = 0;

  constructor(private readonly data: Buffer) {}

  /** Bytes not read yet. */
  get remaining(): number {
    return this.data.length - this.offset;
  }

  /** Current read position. */
  get position(): number {
    return this.offset;
  }

  uint32(): number | undefined {
    if (this.remaining < 4) return undefined;
    const value = this.data.readUInt32BE(this.offset);
    this.offset += 4;
    return value;
  }

  string(): Buffer | undefined {
    const length = this.uint32();
    if (length === undefined || length > this.remaining) return undefined;
    const value = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return value;
  }

  /** Reads an `mpint` and returns it as unsigned big-endian bytes; refuses negative values. */
  positiveMpint(): Buffer | undefined {
    const value = this.string();
    if (value === undefined || value.length === 0 || ((value[0] as number) & 0x80) !== 0) return undefined;
    return value[0] === 0 ? value.subarray(1) : value;
  }
}

/** What a public-key blob holds: its type name and, for `ssh-rsa`, the modulus and exponent. */
export type SshPublicBlob =
  { type: typeof SSH_RSA; n: Buffer; e: Buffer } | { type: string; n?: undefined; e?: undefined };

/**
 * Parses a public-key blob. Returns `undefined` if it is malformed: truncated fields,
 * negative integers or trailing bytes after an `ssh-rsa` key.
 */
export function parseSshPublicBlob(blob: Buffer): SshPublicBlob | undefined {
  const reader = new SshReader(blob);
  const type = reader.string()?.toString('latin1');
  if (type === undefined) return undefined;
  if (type !== SSH_RSA) return { type };
  const e = reader.positiveMpint();
  const n = reader.positiveMpint();
  if (e === undefined || n === undefined || reader.remaining !== 0) return undefined;
  return { type, n, e };
}
