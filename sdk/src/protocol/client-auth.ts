/**
 * The server's reading of a ClientFinished (PROTOCOL.md §6): every check on the client's
 * key short of verifying its signature, cheapest first, so that nothing a client sends can
 * make the server spend more than one bounded RSA verification — and that one only for a
 * key the server would let in.
 *
 *   shape (flags, exact length) → key (RSA SPKI in DER, 2048–4096 bits, exponent 65537)
 *   → membership (`allowed`, e.g. authorized_keys) → signature length = modulus length
 *
 * The signature itself is verified by the caller (in the server's worker pool).
 */
import type { Buffer } from 'node:buffer';
import { PublicKey } from '@secsess/keys';
import { CLIENT_KEY_EXPONENT, CLIENT_KEY_MAX_BITS, CLIENT_KEY_MIN_BITS, MAX_FRAGMENT } from './constants.js';
import { parseSpki } from './asymmetric.js';
import { ErrorCode, SessionError } from './errors.js';
import { FLAG_CLIENT_AUTH } from './handshake-messages.js';

/** A client key that passed every check but its signature, and that signature. */
export interface ClientAuth {
  readonly key: PublicKey;
  readonly signature: Buffer;
}

/**
 * Bytes of frames that may queue while the client's signature is verified: the client is
 * open on its side and may already send records. The session stops reading meanwhile, so
 * this holds at most the rest of the read that carried the ClientFinished.
 */
export const MAX_QUEUED_VERIFYING = 2 * (MAX_FRAGMENT + 1024);

/** Why a client whose key is not allowed was refused (the client learns only NotAuthorized). */
const KEY_NOT_ALLOWED = 'client not authorized: key not authorized';

/** A malformed ClientFinished, or a signature that does not verify. */
export function clientAuthFailed(): SessionError {
  return new SessionError(ErrorCode.NOT_AUTHORIZED, 'handshake: client authentication failed');
}

/**
 * Reads a ClientFinished payload. Returns null for a client that does not authenticate
 * (payload 0x00, and the hello did not announce authentication), the key and signature
 * to verify otherwise. Throws the refusal (a SessionError whose alert is NotAuthorized).
 *
 * @param wantsAuth Whether the ClientHello set the client-authentication flag.
 * @param allowed Whether a key may authenticate at all; asked before any signature work.
 */
export function readClientFinished(
  payload: Buffer,
  wantsAuth: boolean,
  allowed?: (key: PublicKey) => boolean,
): ClientAuth | null {
  if (payload.length === 1 && payload[0] === 0 && !wantsAuth) return null;
  if (!wantsAuth || payload.length < 5 || payload[0] !== FLAG_CLIENT_AUTH) throw clientAuthFailed();
  const spkiLength = payload.readUInt16BE(1);
  if (payload.length < 5 + spkiLength) throw clientAuthFailed();
  const spki = payload.subarray(3, 3 + spkiLength);
  const sigLength = payload.readUInt16BE(3 + spkiLength);
  if (payload.length !== 5 + spkiLength + sigLength) throw clientAuthFailed();
  const signature = payload.subarray(5 + spkiLength);
  const key = supportedClientKey(spki);
  checkKeyAllowed(key, allowed);
  // An RSA signature is exactly as long as the modulus.
  if (signature.length !== Math.ceil(key.bits / 8)) throw clientAuthFailed();
  return { key, signature };
}

/** Membership (step 3): throws NOT_AUTHORIZED unless `allowed` (if any) lets `key` in. */
export function checkKeyAllowed(key: PublicKey, allowed: ((key: PublicKey) => boolean) | undefined): void {
  if (allowed && !allowed(key)) throw new SessionError(ErrorCode.NOT_AUTHORIZED, KEY_NOT_ALLOWED);
}

/**
 * The client key in a ClientFinished, if it is one this server verifies: the DER encoding
 * of an RSA SubjectPublicKeyInfo (rsaEncryption), 2048–4096 bits, public exponent 65537.
 * Read from the parsed key's details, before any RSA operation: a huge exponent or
 * modulus would make the verification arbitrarily expensive (a 3071-bit exponent: ~10 ms).
 */
export function supportedClientKey(spki: Buffer): PublicKey {
  const keyObject = parseSpki(spki);
  if (!keyObject || keyObject.asymmetricKeyType !== 'rsa') throw unsupported();
  const details = keyObject.asymmetricKeyDetails;
  const bits = details?.modulusLength ?? 0;
  if (bits < CLIENT_KEY_MIN_BITS || bits > CLIENT_KEY_MAX_BITS) throw unsupported();
  if (details?.publicExponent !== BigInt(CLIENT_KEY_EXPONENT)) throw unsupported();
  let key: PublicKey;
  try {
    key = PublicKey.fromKeyObject(keyObject);
  } catch {
    throw unsupported();
  }
  // One encoding per key: what was parsed must be exactly its DER.
  if (!key.toSpkiDer().equals(spki)) throw unsupported();
  return key;
}

function unsupported(): SessionError {
  return new SessionError(
    ErrorCode.CLIENT_KEY_UNSUPPORTED,
    `handshake: client key refused: not an RSA key of ${CLIENT_KEY_MIN_BITS}–${CLIENT_KEY_MAX_BITS} bits with exponent ${CLIENT_KEY_EXPONENT}`,
  );
}
