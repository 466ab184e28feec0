/**
 * The `type base64 [comment]` part shared by known_hosts and authorized_keys lines, parsed
 * with the `.pub` line parser and classified for the trust stores: a usable RSA key, a key
 * of another SSH type (kept, never trusted), or something unusable with the reason why.
 */
import { KeyError } from './errors.js';
import { fingerprintBytesOf, formatFingerprint } from './fingerprint.js';
import { publicKeyFromSshBlob } from './formats.js';
import { parseOpenSshPublicLine } from './openssh.js';
import { PublicKey } from './public-key.js';
import { isOtherSshKeyType, parseSshPublicBlob, SSH_RSA } from './ssh-wire.js';

/** What the key part of a store line holds. */
export type SshKeyField =
  | { kind: 'rsa'; key: PublicKey; comment: string }
  | { kind: 'other'; type: string; fingerprint: string; comment: string }
  | { kind: 'invalid'; reason: string; fingerprint: string | undefined };

/** Whether `name` looks like an SSH key type name (`ssh-…`, `ecdsa-…`, `sk-…`). */
export function looksLikeSshKeyType(name: string): boolean {
  return /^(?:ssh|ecdsa|sk)-[A-Za-z0-9@.-]+$/.test(name);
}

/** Classifies `type base64 [comment]`. Never throws for bad input. */
export function parseSshKeyField(text: string): SshKeyField {
  const parsed = parseOpenSshPublicLine(text);
  if (parsed === undefined) {
    return {
      kind: 'invalid',
      reason: 'expected "ssh-rsa <base64> [comment]"; the key may be truncated',
      fingerprint: undefined,
    };
  }
  const blob = parseSshPublicBlob(parsed.blob);
  if (blob === undefined) {
    // No fingerprint: a hash of truncated bytes would look like a real key's.
    return {
      kind: 'invalid',
      reason: `the ${parsed.type} key data is malformed or truncated`,
      fingerprint: undefined,
    };
  }
  const fingerprint = formatFingerprint(fingerprintBytesOf(parsed.blob));
  const invalid = (reason: string): SshKeyField => ({ kind: 'invalid', reason, fingerprint });
  if (blob.type !== parsed.type) {
    return invalid(`the line says ${parsed.type} but its key data is of type ${blob.type}`);
  }
  if (parsed.type !== SSH_RSA) {
    if (isOtherSshKeyType(parsed.type) || /-cert-v01@openssh\.com$/.test(parsed.type)) {
      return { kind: 'other', type: parsed.type, fingerprint, comment: parsed.comment };
    }
    return invalid(`unknown key type "${parsed.type}"`);
  }
  try {
    return {
      kind: 'rsa',
      key: PublicKey.fromKeyObject(publicKeyFromSshBlob(parsed.blob, undefined)),
      comment: parsed.comment,
    };
  } catch (error) {
    // ERR_KEY_TOO_SMALL, or a modulus node:crypto refuses; messages say "key data holds …".
    if (error instanceof KeyError) return invalid(error.message.replace(/^key data /, 'the key '));
    return invalid('the ssh-rsa key data is not a valid RSA public key');
  }
}
