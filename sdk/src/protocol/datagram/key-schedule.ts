/**
 * The datagram key schedule (PROTOCOL.md §D3, §D4, §D9). Part I's HKDF with Part II's own
 * labels, so no datagram key can equal a stream key:
 *
 *   master  = HKDF(ikm = pre_secret ‖ shared, salt = client_random ‖ server_random,
 *                  info = "secsess v1 dgram master" ‖ th, L = Hlen)
 *   c2s_0   = HKDF(master, "", "secsess v1 dgram c2s", Hlen)
 *   s2c_0   = HKDF(master, "", "secsess v1 dgram s2c", Hlen)
 *   T_(e+1) = HKDF(T_e, "", "secsess v1 dgram epoch", Hlen)
 *   exporter = HKDF(stream master, "", "secsess v1 exporter", Hlen)          (§D9)
 *   base    = HKDF(exporter, "", "secsess v1 dgram channel", Hlen)
 *   conn_id = HKDF(base, "", "secsess v1 dgram conn id", 8); c2s_0, s2c_0 from base as above
 *
 * The keys of one epoch (cipher_key, mac_key, iv) are Part I's `trafficKeys(T_e)`.
 */
import { Buffer } from 'node:buffer';
import { hkdf } from '../crypto.js';
import { deriveMaster, expand, label } from '../key-schedule.js';
import type { ExpandFrom, MasterInputs } from '../key-schedule.js';
import type { Suite } from '../suite.js';
import {
  CONN_ID_SIZE,
  LABEL_DGRAM_C2S,
  LABEL_DGRAM_CHANNEL,
  LABEL_DGRAM_CONN_ID,
  LABEL_DGRAM_EPOCH,
  LABEL_DGRAM_MASTER,
  LABEL_DGRAM_S2C,
  LABEL_EXPORTER,
} from './constants.js';

const EMPTY = Buffer.alloc(0);

/** The datagram handshake's master secret (§D3): `th` here includes the conn_id. */
export function datagramMaster(suite: Suite, i: MasterInputs): Buffer {
  return deriveMaster(suite, i, LABEL_DGRAM_MASTER);
}

/** `c2s_0` and `s2c_0` from a datagram master (or a §D9 channel base). The caller wipes `master`. */
export function datagramTrafficSecrets(suite: Suite, master: Buffer): { c2s: Buffer; s2c: Buffer } {
  return {
    c2s: hkdf(suite.hashName, master, EMPTY, label(LABEL_DGRAM_C2S), suite.hashLength),
    s2c: hkdf(suite.hashName, master, EMPTY, label(LABEL_DGRAM_S2C), suite.hashLength),
  };
}

/** `T_(e+1)` from `T_e` (§D4). The caller wipes `secret` once it is no longer needed. */
export function nextEpochSecret(suite: Suite, secret: Buffer): Buffer {
  return hkdf(suite.hashName, secret, EMPTY, label(LABEL_DGRAM_EPOCH), suite.hashLength);
}

/** The exporter of an OPEN stream session (§D9), from Part I's `master` before it is wiped. */
export function exporterSecret(suite: Suite, master: ExpandFrom): Buffer {
  return expand(suite, master, LABEL_EXPORTER, suite.hashLength);
}

/**
 * A datagram channel's conn_id and initial traffic secrets from a stream session's exporter
 * (§D9). The intermediate `base` is wiped here; the caller wipes `exporter` when done.
 */
export function channelSecrets(
  suite: Suite,
  exporter: Buffer,
): { connectionId: Buffer; c2s: Buffer; s2c: Buffer } {
  const base = hkdf(suite.hashName, exporter, EMPTY, label(LABEL_DGRAM_CHANNEL), suite.hashLength);
  try {
    const connectionId = hkdf(suite.hashName, base, EMPTY, label(LABEL_DGRAM_CONN_ID), CONN_ID_SIZE);
    return { connectionId, ...datagramTrafficSecrets(suite, base) };
  } finally {
    base.fill(0);
  }
}
