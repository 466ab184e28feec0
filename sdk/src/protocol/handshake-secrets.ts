/**
 * What a stream handshake takes from `master` (PROTOCOL.md §4, §6a), the same on both sides:
 * master from its inputs, one HKDF-Extract of it, then the two traffic secrets, the
 * ServerFinished proof, the exporter and (when a ticket was asked for) the resumption psk.
 * `master` and its extract are wiped here; the caller wipes its own inputs. With `keyLog`,
 * the traffic secrets are handed to it (PROTOCOL.md "Key log format").
 */
import type { Buffer } from 'node:buffer';
import { exporterSecret } from './datagram/key-schedule.js';
import {
  deriveMaster,
  initialTrafficSecret,
  masterPrk,
  resumptionSecret,
  serverFinishedProof,
} from './key-schedule.js';
import type { MasterInputs } from './key-schedule.js';
import { STREAM_LABELS, logSecrets } from './key-log.js';
import type { KeyLog } from './key-log.js';
import type { Suite } from './suite.js';

export interface HandshakeSecrets {
  readonly c2s: Buffer;
  readonly s2c: Buffer;
  /** HMAC(finished_key, th): sent by the server, expected by the client. */
  readonly proof: Buffer;
  readonly exporter: Buffer;
  /** The resumption psk, or null when no ticket was asked for. */
  readonly psk: Buffer | null;
}

export function handshakeSecrets(
  suite: Suite,
  inputs: MasterInputs,
  masterLabel: string,
  wantPsk: boolean,
  keyLog?: KeyLog,
): HandshakeSecrets {
  const master = deriveMaster(suite, inputs, masterLabel);
  const prk = masterPrk(suite, master);
  try {
    const c2s = initialTrafficSecret(suite, prk, 'c2s');
    const s2c = initialTrafficSecret(suite, prk, 's2c');
    logSecrets(keyLog, STREAM_LABELS, inputs.clientRandom, c2s, s2c);
    return {
      c2s,
      s2c,
      proof: serverFinishedProof(suite, prk, inputs.transcriptHash),
      exporter: exporterSecret(suite, prk),
      psk: wantPsk ? resumptionSecret(suite, prk) : null,
    };
  } finally {
    prk.destroy();
    master.fill(0);
  }
}
