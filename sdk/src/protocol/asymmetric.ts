/**
 * The asymmetric operations: ephemeral X25519, RSA-OAEP key transport, RSA-PSS client
 * signatures, SPKI parsing. (Hashing and randomness: crypto.ts; record ciphers: ciphers.ts.)
 */
import { Buffer } from 'node:buffer';
import {
  constants as cryptoConstants,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  privateDecrypt,
  publicEncrypt,
  sign,
  verify,
} from 'node:crypto';
import type { JsonWebKey, KeyObject } from 'node:crypto';
import { OAEP_LABEL, X25519_KEY_SIZE } from './constants.js';

/** An ephemeral X25519 key pair with its raw 32-byte public value. */
export interface EphemeralKey {
  readonly privateKey: KeyObject;
  readonly publicRaw: Buffer;
}

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// X25519 keys cross the node:crypto boundary as JWK: OpenSSL 3's DER encoders and decoders
// cost ~90 µs per call here, JWK ~1–9 µs (measured; see BENCHMARKS.md).

/**
 * A fresh X25519 key; or, given 32 private bytes (test vectors only), that key.
 *
 * The public value of a fresh key comes out of the generation itself (`publicKeyEncoding`),
 * never from exporting the generated KeyObject afterwards. Node 20 can deadlock on the
 * latter: exporting holds the key's mutex while it allocates, an allocation can run the
 * garbage collector, and the collector may then finalize the finished synchronous
 * generation job, whose destructor takes the same mutex (reproduced: the process hung for
 * good within 50 000 handshakes' worth of keys; with the public value from the generation,
 * 400 000 keys ran clean).
 */
export function x25519Key(privateRaw?: Buffer): EphemeralKey {
  if (!privateRaw) {
    const { privateKey, publicKey } = generateKeyPairSync('x25519', {
      publicKeyEncoding: { type: 'spki', format: 'jwk' },
    });
    // A JWK object at run time (@types/node types it as a KeyObject).
    const { x } = publicKey as unknown as JsonWebKey;
    return { privateKey, publicRaw: Buffer.from(x!, 'base64url') };
  }
  // Not from a generation job: exporting it is safe.
  const privateKey = createPrivateKey({
    key: Buffer.concat([X25519_PKCS8_PREFIX, privateRaw]),
    format: 'der',
    type: 'pkcs8',
  });
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  return { privateKey, publicRaw: Buffer.from(x!, 'base64url') };
}

/** X25519 shared secret with a peer's raw public value. Throws on an all-zero (low-order) result. */
export function x25519Shared(own: KeyObject, peerRaw: Buffer): Buffer {
  if (peerRaw.length !== X25519_KEY_SIZE) throw new Error('x25519: bad public key length');
  const peer = createPublicKey({
    key: { kty: 'OKP', crv: 'X25519', x: peerRaw.toString('base64url') },
    format: 'jwk',
  });
  const shared = diffieHellman({ privateKey: own, publicKey: peer });
  if (shared.every((b) => b === 0)) throw new Error('x25519: low-order point');
  return shared;
}

/** RSA-OAEP (SHA-256, MGF1-SHA-256, fixed label) encryption of the pre-secret. */
export function oaepEncrypt(publicKey: KeyObject, data: Buffer): Buffer {
  return publicEncrypt(
    {
      key: publicKey,
      padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
      oaepLabel: OAEP_LABEL,
    },
    data,
  );
}

/** RSA-OAEP decryption. Returns null on any failure; the caller substitutes random key material. */
export function oaepDecrypt(privateKey: KeyObject, data: Buffer): Buffer | null {
  try {
    return privateDecrypt(
      {
        key: privateKey,
        padding: cryptoConstants.RSA_PKCS1_OAEP_PADDING,
        oaepHash: 'sha256',
        oaepLabel: OAEP_LABEL,
      },
      data,
    );
  } catch {
    return null;
  }
}

/** RSA-PSS (SHA-256, MGF1-SHA-256, salt = 32) signature, for client authentication. */
export function pssSign(privateKey: KeyObject, data: Buffer): Buffer {
  return sign('sha256', data, {
    key: privateKey,
    padding: cryptoConstants.RSA_PKCS1_PSS_PADDING,
    saltLength: 32,
  });
}

export function pssVerify(publicKey: KeyObject, data: Buffer, signature: Buffer): boolean {
  try {
    return verify(
      'sha256',
      data,
      { key: publicKey, padding: cryptoConstants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      signature,
    );
  } catch {
    return false;
  }
}

/** Parse an SPKI DER public key; null if it is not one. */
export function parseSpki(der: Buffer): KeyObject | null {
  try {
    return createPublicKey({ key: der, format: 'der', type: 'spki' });
  } catch {
    return null;
  }
}
