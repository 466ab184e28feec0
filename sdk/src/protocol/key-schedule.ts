/**
 * The key schedule (PROTOCOL.md "Key schedule"). Every key is HKDF output; labels give
 * each key its own domain, so no two keys are ever equal even when their inputs are.
 *
 *   master    = HKDF(ikm = pre_secret ‖ x25519_shared, salt = client_random ‖ server_random,
 *                    info = "secsess v1 master" ‖ transcript_hash, L = hash length)
 *   c2s_0     = HKDF(master, salt = "", info = "secsess v1 c2s traffic", L)
 *   s2c_0     = HKDF(master, salt = "", info = "secsess v1 s2c traffic", L)
 *   cipher    = HKDF(traffic, "", "secsess v1 key", key length)
 *   mac       = HKDF(traffic, "", "secsess v1 mac", L)            (CBC suites)
 *   iv        = HKDF(traffic, "", "secsess v1 iv", 12)             (GCM suites)
 *   next      = HKDF(traffic, "", "secsess v1 update", L)
 *   finished  = HKDF(master, "", "secsess v1 server finished", L)
 *   exporter  = HKDF(master, "", "secsess v1 exporter", L)        (Part II §D9: datagram/key-schedule.ts)
 *
 * Resumption (§6a):
 *   psk       = HKDF(master, "", "secsess v1 resumption", L)       (sealed in the ticket, kept by the client)
 *   binder    = HMAC(HKDF(psk, "", "secsess v1 binder", L), H(ResumeHello up to the binder))
 *   master    = HKDF(ikm = psk ‖ x25519_shared, salt = client_random ‖ server_random,
 *                    info = "secsess v1 resumed master" ‖ transcript_hash, L)   (resumed session)
 */
import { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import {
  AEAD_IV_SIZE,
  LABEL_BINDER,
  LABEL_C2S,
  LABEL_IV,
  LABEL_KEY,
  LABEL_MAC,
  LABEL_MASTER,
  LABEL_RESUMPTION,
  LABEL_S2C,
  LABEL_SERVER_FINISHED,
  LABEL_UPDATE,
} from './constants.js';
import { HkdfPrk, hash, hkdf, hmacRaw, secretKey } from './crypto.js';
import type { Suite } from './suite.js';

const EMPTY = Buffer.alloc(0);
const labels = new Map<string, Buffer>();

/** A label's bytes, made once per label (labels are public constants; do not mutate). */
export function label(s: string): Buffer {
  let bytes = labels.get(s);
  if (bytes === undefined) {
    bytes = Buffer.from(s, 'ascii');
    labels.set(s, bytes);
  }
  return bytes;
}

/**
 * A secret the key schedule expands labels from: its raw bytes, or (to derive several
 * labels) its HKDF-Extract done once — `masterPrk` — which gives the same outputs.
 */
export type ExpandFrom = Buffer | HkdfPrk;

/** `HKDF(secret, salt = "", info, L)`, from the raw secret or its prepared PRK. */
export function expand(suite: Suite, secret: ExpandFrom, info: string, length: number): Buffer {
  return secret instanceof HkdfPrk
    ? secret.expand(label(info), length)
    : hkdf(suite.hashName, secret, EMPTY, label(info), length);
}

/**
 * `master`'s HKDF-Extract (salt ""), for the five labels a handshake takes from it
 * (traffic secrets, finished, resumption, exporter). The caller destroys it with `master`.
 */
export function masterPrk(suite: Suite, master: Buffer): HkdfPrk {
  return new HkdfPrk(suite.hashName, master, EMPTY);
}

export interface MasterInputs {
  readonly preSecret: Buffer;
  readonly shared: Buffer;
  readonly clientRandom: Buffer;
  readonly serverRandom: Buffer;
  readonly transcriptHash: Buffer;
}

/**
 * `master` of a full handshake; with `masterLabel` "secsess v1 resumed master" and the psk
 * as `preSecret`, that of a resumed one (§6a).
 */
export function deriveMaster(suite: Suite, i: MasterInputs, masterLabel: string = LABEL_MASTER): Buffer {
  // The ikm in its two parts: the secret is never joined into a buffer left to the collector.
  return hkdf(
    suite.hashName,
    [i.preSecret, i.shared],
    Buffer.concat([i.clientRandom, i.serverRandom]),
    [label(masterLabel), i.transcriptHash],
    suite.hashLength,
  );
}

/** The resumption secret of a session, derived before `master` is wiped (§6a). */
export function resumptionSecret(suite: Suite, master: ExpandFrom): Buffer {
  return expand(suite, master, LABEL_RESUMPTION, suite.hashLength);
}

/** The binder of a ResumeHello: HMAC(binder_key, H(the frame up to the binder)) (§6a). */
export function resumeBinder(suite: Suite, psk: Buffer, binderInput: Buffer): Buffer {
  const raw = hkdf(suite.hashName, psk, EMPTY, label(LABEL_BINDER), suite.hashLength);
  try {
    return hmacRaw(suite.hashName, raw, hash(suite.hashName, binderInput));
  } finally {
    raw.fill(0);
  }
}

export type Direction = 'c2s' | 's2c';

export function initialTrafficSecret(suite: Suite, master: ExpandFrom, direction: Direction): Buffer {
  return expand(suite, master, direction === 'c2s' ? LABEL_C2S : LABEL_S2C, suite.hashLength);
}

/** The next traffic secret after a key update. The caller wipes the old one. */
export function nextTrafficSecret(suite: Suite, secret: Buffer): Buffer {
  return hkdf(suite.hashName, secret, EMPTY, label(LABEL_UPDATE), suite.hashLength);
}

export interface TrafficKeys {
  /**
   * The raw cipher key. The record layer copies it into its storage (CBC: where its cipher
   * context is made from it when needed; AEAD: into its AeadKey) and wipes it.
   */
  readonly cipherRaw: Buffer;
  /**
   * The raw HMAC key (CBC suites; empty for AEAD). The record layer turns it into its HMAC
   * pads at once and wipes it.
   */
  readonly macKey: Buffer;
  /** The 12-byte nonce base (AEAD suites); empty for CBC. */
  readonly iv: Buffer;
}

export function trafficKeys(suite: Suite, secret: Buffer): TrafficKeys {
  // Two outputs of one secret: its HKDF-Extract once.
  const prk = new HkdfPrk(suite.hashName, secret, EMPTY);
  try {
    const cipherRaw = prk.expand(label(LABEL_KEY), suite.keyLength);
    if (suite.mode === 'aead') {
      return { cipherRaw, macKey: EMPTY, iv: prk.expand(label(LABEL_IV), AEAD_IV_SIZE) };
    }
    return { cipherRaw, macKey: prk.expand(label(LABEL_MAC), suite.hashLength), iv: EMPTY };
  } finally {
    prk.destroy();
  }
}

export function serverFinishedKey(suite: Suite, master: ExpandFrom): KeyObject {
  const raw = expand(suite, master, LABEL_SERVER_FINISHED, suite.hashLength);
  const key = secretKey(raw);
  raw.fill(0);
  return key;
}

/**
 * The ServerFinished proof, HMAC(finished_key, transcript_hash): what
 * `hmac(name, serverFinishedKey(suite, master), th)` gives, from the raw key (wiped here).
 */
export function serverFinishedProof(suite: Suite, master: ExpandFrom, transcriptHash: Buffer): Buffer {
  const raw = expand(suite, master, LABEL_SERVER_FINISHED, suite.hashLength);
  try {
    return hmacRaw(suite.hashName, raw, transcriptHash);
  } finally {
    raw.fill(0);
  }
}
