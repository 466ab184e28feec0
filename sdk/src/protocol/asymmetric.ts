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
import { fillBytes, secureRandom } from './crypto.js';

/** An ephemeral X25519 key pair with its raw 32-byte public value. */
export interface EphemeralKey {
  readonly privateKey: KeyObject;
  readonly publicRaw: Buffer;
}

const X25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex');

// X25519 keys cross the node:crypto boundary as JWK: OpenSSL 3's DER encoders and decoders
// cost ~90 µs per call here (a PKCS#8 private key ~380 µs), JWK ~1–9 µs (measured; see BENCHMARKS.md).

/**
 * A private X25519 KeyObject from its 32 raw bytes, through JWK. For a private OKP key node
 * reads `d` alone (`x` must be a string and is not used) and OpenSSL computes the public
 * value from it, so a private key made this way costs one fixed-base scalar multiplication
 * (~26 µs) where `generateKeyPairSync` costs ~36 µs for the same multiplication and
 * PKCS#8 DER ~380 µs. `raw` is not changed; the base64url string of it is transient (as are
 * the 'binary' digest strings of crypto.ts).
 */
function privateFromRaw(raw: Buffer): KeyObject {
  const d = raw.toString('base64url');
  return createPrivateKey({ key: { kty: 'OKP', crv: 'X25519', d, x: '' }, format: 'jwk' });
}

/** The raw public value of an X25519 private key (not from a generation job: see x25519Key). */
function publicRawOf(privateKey: KeyObject): Buffer {
  const { x } = createPublicKey(privateKey).export({ format: 'jwk' });
  return Buffer.from(x!, 'base64url');
}

/**
 * Whether {@link privateFromRaw} does what it says on this node: RFC 7748 §6.1's key pair
 * (Alice's), checked once per process. A node that checked `x` against `d`, or took `x` as
 * the public value, fails it; the keys then come from `generateKeyPairSync` and PKCS#8.
 */
let jwkImportChecked: boolean | undefined;
function jwkImportWorks(): boolean {
  if (jwkImportChecked === undefined) {
    try {
      const alice = Buffer.from('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a', 'hex');
      const expected = '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a';
      jwkImportChecked = publicRawOf(privateFromRaw(alice)).toString('hex') === expected;
    } catch {
      jwkImportChecked = false;
    }
  }
  return jwkImportChecked;
}

/** Scratch for a fresh private key's bytes (own allocation, not the shared pool; wiped after each use). */
const freshPrivate = Buffer.allocUnsafeSlow(X25519_KEY_SIZE);

/**
 * A fresh X25519 key; or, given 32 private bytes (test vectors only), that key.
 *
 * A fresh key is 32 bytes from node:crypto's CSPRNG (the pooled source of crypto.ts),
 * clamped as RFC 7748 §5 decodes a scalar (X25519 clamps anyway: the clamped bytes are
 * what `generateKeyPairSync` would hold), imported through JWK and its public value exported
 * (~28 µs, against ~36 µs for `generateKeyPairSync`).
 *
 * A KeyObject made by a generation job is never exported: Node 20 can deadlock on that.
 * Exporting holds the key's mutex while it allocates, an allocation can run the garbage
 * collector, and the collector may then finalize the finished synchronous generation job,
 * whose destructor takes the same mutex (reproduced: the process hung for good within
 * 50 000 handshakes' worth of keys). Where the JWK import is not available (see
 * `jwkImportWorks`), the public value of a generated key comes out of the generation itself
 * (`publicKeyEncoding`) instead (400 000 keys ran clean that way; 200 000 keys and shared
 * secrets ran clean through the JWK import).
 */
export function x25519Key(privateRaw?: Buffer): EphemeralKey {
  if (privateRaw) {
    if (jwkImportWorks()) {
      const privateKey = privateFromRaw(privateRaw);
      return { privateKey, publicRaw: publicRawOf(privateKey) };
    }
    // Not from a generation job: exporting it is safe.
    const privateKey = createPrivateKey({
      key: Buffer.concat([X25519_PKCS8_PREFIX, privateRaw]),
      format: 'der',
      type: 'pkcs8',
    });
    return { privateKey, publicRaw: publicRawOf(privateKey) };
  }
  if (jwkImportWorks()) {
    const raw = freshPrivate;
    try {
      secureRandom.into!(raw, 0, X25519_KEY_SIZE);
      raw[0]! &= 248;
      raw[31]! &= 127;
      raw[31]! |= 64;
      const privateKey = privateFromRaw(raw);
      return { privateKey, publicRaw: publicRawOf(privateKey) };
    } finally {
      fillBytes.call(raw, 0);
    }
  }
  const { privateKey, publicKey } = generateKeyPairSync('x25519', {
    publicKeyEncoding: { type: 'spki', format: 'jwk' },
  });
  // A JWK object at run time (@types/node types it as a KeyObject).
  const { x } = publicKey as unknown as JsonWebKey;
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
  // Every byte ORed in, no early exit.
  let any = 0;
  for (let i = 0; i < shared.length; i++) any |= shared[i]!;
  if (any === 0) throw new Error('x25519: low-order point');
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
