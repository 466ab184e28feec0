/**
 * Defaults and limits of the transport layer (sessions, servers, clients). Wire constants
 * live in protocol/constants.ts; these numbers never appear on the wire except the close
 * codes, which are documented in PROTOCOL.md and README.md.
 */
import { availableParallelism } from 'node:os';

/** How long `client.connect()` waits for the TCP connection: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;
/** How long a handshake may take, from the first byte to an open session: 10 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** How long `close()` waits for the peer's close echo (and the transport to close): 5 s. */
export const DEFAULT_CLOSE_TIMEOUT = 5_000;
/** Idle limit: 0 means off (a silent peer is never timed out). */
export const DEFAULT_IDLE_TIMEOUT = 0;
/**
 * Bytes of received messages a session holds for the application before it pauses the
 * transport: 1 MiB. One message larger than this is still accepted whole (up to
 * `maxMessageSize`); the transport then stays paused until it is read.
 */
export const DEFAULT_READABLE_HIGH_WATER_MARK = 1024 * 1024;
/** Established sessions waiting for `acceptClient()` when nobody listens to `'session'`: 128. */
export const DEFAULT_MAX_PENDING_SESSIONS = 128;
/** The largest setTimeout delay Node accepts (2^31 − 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 0x7fffffff;

/** Decryption workers a server starts by default: min(2, available cores). */
export function defaultWorkerCount(): number {
  return Math.min(2, availableParallelism());
}

/**
 * The close code reported locally when a session ended without an authenticated close
 * (failure, timeout, truncation, destroy). Never sent on the wire; as in WebSocket.
 */
export const CLOSE_ABNORMAL = 1006;
/** Sent by a server whose accept queue is full: the client may retry later. */
export const CLOSE_TRY_AGAIN_LATER = 1013;
