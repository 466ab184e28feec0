import type { AeadCipher } from './aead.js';
import { AEAD_TAG_SIZE } from './constants.js';
import type { CbcCipher } from './ciphers.js';
import type { HashName } from './crypto.js';
import { ErrorCode, HandshakeError } from './errors.js';

/** Key transport algorithm. Only RSA (OAEP-SHA-256) exists; the field keeps SecSess's shape. */
export const Asymmetric = { RSA: 'RSA' } as const;
export type Asymmetric = (typeof Asymmetric)[keyof typeof Asymmetric];

/**
 * Record cipher. `AES` is SecSess's name and means AES-256-CBC (with HMAC, encrypt-then-MAC).
 * `AES256GCM` and `CHACHA20POLY1305` are opt-in AEAD suites (one record format, the tag is
 * the AEAD's own): AES-256-GCM where the CPU has AES instructions, ChaCha20-Poly1305 where it
 * has not (ARM sensors and gateways) and wherever the native backend loads (README "Suites").
 */
export const Symmetric = {
  AES: 'AES-256-CBC',
  AES256: 'AES-256-CBC',
  AES128: 'AES-128-CBC',
  AES256GCM: 'AES-256-GCM',
  CHACHA20POLY1305: 'ChaCha20-Poly1305',
} as const;
export type Symmetric = (typeof Symmetric)[keyof typeof Symmetric];

/** HMAC and HKDF hash. Weak hashes (MD5, SHA-1, none) cannot be expressed. */
export const Hash = { SHA256: 'SHA-256', SHA384: 'SHA-384', SHA512: 'SHA-512' } as const;
export type Hash = (typeof Hash)[keyof typeof Hash];

/**
 * The algorithm set, as in SecSess: `{ asymmetric, symmetric, hash }`. The client sends it
 * in its hello and it is bound into the transcript, so it cannot be downgraded in transit.
 * Default: RSA, AES-256-CBC, SHA-256.
 */
export interface AlgorithmSet {
  readonly asymmetric?: Asymmetric;
  readonly symmetric?: Symmetric;
  readonly hash?: Hash;
}

/** A validated, fully specified suite with its wire identifiers. */
export interface Suite {
  readonly asymmetric: Asymmetric;
  readonly symmetric: Symmetric;
  readonly hash: Hash;
  /** Wire bytes: asymmetric id, symmetric id, hash id. */
  readonly ids: readonly [number, number, number];
  /** 'cbc': AES-CBC + HMAC (encrypt-then-MAC); 'aead': AES-256-GCM or ChaCha20-Poly1305. */
  readonly mode: 'cbc' | 'aead';
  /** @internal The node:crypto cipher name. */
  readonly cipher: CbcCipher | AeadCipher;
  readonly keyLength: number;
  /** @internal The node:crypto hash name. */
  readonly hashName: HashName;
  /** Output length of the suite's hash: HKDF outputs, HMAC keys, the server proof. */
  readonly hashLength: number;
  /** Length of a record's authentication tag: the HMAC for CBC suites, 16 for AEAD suites. */
  readonly tagLength: number;
}

const SYMMETRIC: Record<
  Symmetric,
  { id: number; mode: 'cbc' | 'aead'; cipher: CbcCipher | AeadCipher; keyLength: number }
> = {
  'AES-128-CBC': { id: 0x01, mode: 'cbc', cipher: 'aes-128-cbc', keyLength: 16 },
  'AES-256-CBC': { id: 0x02, mode: 'cbc', cipher: 'aes-256-cbc', keyLength: 32 },
  'AES-256-GCM': { id: 0x03, mode: 'aead', cipher: 'aes-256-gcm', keyLength: 32 },
  'ChaCha20-Poly1305': { id: 0x04, mode: 'aead', cipher: 'chacha20-poly1305', keyLength: 32 },
};

const HASH: Record<Hash, { id: number; name: HashName; length: number }> = {
  'SHA-256': { id: 0x01, name: 'sha256', length: 32 },
  'SHA-384': { id: 0x02, name: 'sha384', length: 48 },
  'SHA-512': { id: 0x03, name: 'sha512', length: 64 },
};

const ASYMMETRIC_RSA_ID = 0x01;

/** The default set: RSA, AES-256-CBC, SHA-256. */
export const DEFAULT_SET: Required<AlgorithmSet> = {
  asymmetric: Asymmetric.RSA,
  symmetric: Symmetric.AES256,
  hash: Hash.SHA256,
};

/**
 * Validates a user-supplied set. Throws TypeError naming the bad field and the values that
 * are accepted.
 */
export function resolveSuite(set: AlgorithmSet = {}): Suite {
  if (set === null || typeof set !== 'object') throw new TypeError('set must be an object');
  const asymmetric = set.asymmetric ?? DEFAULT_SET.asymmetric;
  const symmetric = set.symmetric ?? DEFAULT_SET.symmetric;
  const hash = set.hash ?? DEFAULT_SET.hash;
  if (asymmetric !== Asymmetric.RSA) {
    throw new TypeError(`set.asymmetric must be 'RSA', got ${String(asymmetric)}`);
  }
  const sym = SYMMETRIC[symmetric];
  if (!sym) {
    throw new TypeError(
      `set.symmetric must be one of ${Object.keys(SYMMETRIC).join(', ')}, got ${String(symmetric)}`,
    );
  }
  const h = HASH[hash];
  if (!h) {
    throw new TypeError(`set.hash must be one of ${Object.keys(HASH).join(', ')}, got ${String(hash)}`);
  }
  return {
    asymmetric,
    symmetric,
    hash,
    ids: [ASYMMETRIC_RSA_ID, sym.id, h.id],
    mode: sym.mode,
    cipher: sym.cipher,
    keyLength: sym.keyLength,
    hashName: h.name,
    hashLength: h.length,
    tagLength: sym.mode === 'aead' ? AEAD_TAG_SIZE : h.length,
  };
}

/** Every suite this implementation supports, default first. */
export const ALL_SUITES: readonly Suite[] = (Object.keys(SYMMETRIC) as Symmetric[])
  .flatMap((symmetric) => (Object.keys(HASH) as Hash[]).map((hash) => resolveSuite({ symmetric, hash })))
  .sort(
    (a, b) => Number(b.symmetric === DEFAULT_SET.symmetric) - Number(a.symmetric === DEFAULT_SET.symmetric),
  );

/** Finds the supported suite with these wire ids, or null. */
export function suiteFromIds(a: number, s: number, h: number): Suite | null {
  return ALL_SUITES.find((x) => x.ids[0] === a && x.ids[1] === s && x.ids[2] === h) ?? null;
}

/**
 * The suite a hello names, if `accepted` has it; else the refusal of §2 "Parsing" step 3
 * (ERR_SUITE_MISMATCH, answered with SuiteMismatch). One check for every kind of hello.
 */
export function acceptedSuite(ids: readonly [number, number, number], accepted: readonly Suite[]): Suite {
  const suite = suiteFromIds(ids[0], ids[1], ids[2]);
  if (!suite || !accepted.some((x) => x.ids.join() === suite.ids.join())) {
    throw new HandshakeError(
      ErrorCode.SUITE_MISMATCH,
      'handshake: client asked for an algorithm set this server does not accept',
    );
  }
  return suite;
}
