import { createHash } from 'node:crypto';

/** Prefix of fingerprint strings, as OpenSSH prints it. */
export const FINGERPRINT_PREFIX = 'SHA256:';

/** SHA-256 of an SSH public-key blob: the raw 32 fingerprint bytes. */
export function fingerprintBytesOf(blob: Uint8Array): Buffer {
  return createHash('sha256').update(blob).digest();
}

/**
 * Formats fingerprint bytes the way `ssh-keygen -l -E sha256` does:
 * `SHA256:` then standard base64 with the `=` padding removed.
 */
export function formatFingerprint(bytes: Uint8Array): string {
  return FINGERPRINT_PREFIX + Buffer.from(bytes).toString('base64').replace(/=+$/, '');
}
