/**
 * The key log's labels and the hook through which a core hands out its initial traffic
 * secrets (PROTOCOL.md "Key log format"). Off unless a transport sets the hook: the core
 * then calls it once per secret, right after deriving it, and keeps nothing of the call.
 * Writing the log (a file, `SECSESS_KEYLOG_FILE`) is the transport's: sdk/src/observe/keylog.ts.
 */
import type { Buffer } from 'node:buffer';

/**
 * Receives one secret: `label` (one of the `KEYLOG_*` names), the handshake's
 * client_random (32 bytes) and the secret. Both buffers belong to the core and are wiped
 * later: copy what you keep (the writer turns them into hex at once). Must not throw.
 */
export type KeyLog = (label: string, clientRandom: Buffer, secret: Buffer) => void;

/** Stream session (full or resumed, PROTOCOL.md §4 / §6a): `c2s_0`. */
export const KEYLOG_C2S = 'SECSESS_C2S_TRAFFIC_SECRET_0';
/** Stream session (full or resumed): `s2c_0`. */
export const KEYLOG_S2C = 'SECSESS_S2C_TRAFFIC_SECRET_0';
/** Datagram session (PROTOCOL.md §D3): the epoch-0 client-to-server secret `c2s_0`. */
export const KEYLOG_DGRAM_C2S = 'SECSESS_DGRAM_C2S_SECRET_0';
/** Datagram session (§D3): the epoch-0 server-to-client secret `s2c_0`. */
export const KEYLOG_DGRAM_S2C = 'SECSESS_DGRAM_S2C_SECRET_0';
/**
 * A datagram channel of a stream session (§D9): its epoch-0 `c2s_0`, under the stream
 * session's client_random.
 */
export const KEYLOG_CHANNEL_C2S = 'SECSESS_CHANNEL_C2S_SECRET_0';
/** A datagram channel of a stream session (§D9): its epoch-0 `s2c_0`. */
export const KEYLOG_CHANNEL_S2C = 'SECSESS_CHANNEL_S2C_SECRET_0';

/** Logs a pair of initial secrets under `labels` (client-to-server first), if `keyLog` is set. */
export function logSecrets(
  keyLog: KeyLog | undefined,
  labels: readonly [c2s: string, s2c: string],
  clientRandom: Buffer,
  c2s: Buffer,
  s2c: Buffer,
): void {
  if (!keyLog) return;
  keyLog(labels[0], clientRandom, c2s);
  keyLog(labels[1], clientRandom, s2c);
}

export const STREAM_LABELS = [KEYLOG_C2S, KEYLOG_S2C] as const;
export const DGRAM_LABELS = [KEYLOG_DGRAM_C2S, KEYLOG_DGRAM_S2C] as const;
export const CHANNEL_LABELS = [KEYLOG_CHANNEL_C2S, KEYLOG_CHANNEL_S2C] as const;
