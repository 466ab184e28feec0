/**
 * Defaults and limits of the transport layer (sessions, servers, clients). Wire constants
 * live in protocol/constants.ts; these numbers never appear on the wire except the close
 * codes, which are documented in PROTOCOL.md and README.md.
 */
import cluster from 'node:cluster';
import { availableParallelism } from 'node:os';

/** How long `client.connect()` waits for the TCP connection: 10 s. */
export const DEFAULT_CONNECT_TIMEOUT = 10_000;
/** How long a handshake may take, from the first byte to an open session: 10 s. */
export const DEFAULT_HANDSHAKE_TIMEOUT = 10_000;
/** How long `close()` waits for the peer's close echo (and the transport to close): 5 s. */
export const DEFAULT_CLOSE_TIMEOUT = 5_000;
/** Idle limit of clients and `secureDuplex()`: 0 means off (a silent peer is never timed out). */
export const DEFAULT_IDLE_TIMEOUT = 0;
/**
 * Idle limit of a {@link Server}'s sessions: 5 minutes, with a keepalive ping every 150 s
 * (half of it), so a live client that says nothing keeps its session; a vanished one, or
 * one that stops reading, loses it instead of holding a slot forever.
 */
export const DEFAULT_SERVER_IDLE_TIMEOUT = 300_000;
/**
 * Bytes of received messages a session holds for the application before it pauses the
 * transport: 1 MiB. One message larger than this is still accepted whole (up to
 * `maxMessageSize`); the transport then stays paused until it is read.
 */
export const DEFAULT_READABLE_HIGH_WATER_MARK = 1024 * 1024;
/** Established sessions waiting for `acceptClient()` when nobody listens to `'session'`: 128. */
export const DEFAULT_MAX_PENDING_SESSIONS = 128;
/**
 * Bytes a session holds for sending (`bufferedAmount`) past which a `write()` fails the
 * session with ERR_BUFFER_FULL: 16 MiB. A writer that awaits `write()` never gets near it.
 */
export const DEFAULT_MAX_BUFFERED_AMOUNT = 16 * 1024 * 1024;
/** Connections a server lets run their handshake at once: 64. */
export const DEFAULT_MAX_HANDSHAKES = 64;
/**
 * Handshakes a server runs at once for one remote address (IPv6: one /64): 16. A client
 * host opening more connections at once (a connection pool) sees a few refusals, which
 * `Client` retries (`busyRetries`).
 */
export const DEFAULT_MAX_HANDSHAKES_PER_ADDRESS = 16;
/**
 * RSA decryptions a server lets wait for its worker pool: 64. With the default
 * `maxHandshakes` it never binds; it caps the CPU backlog (and so the latency of a
 * legitimate handshake) when `maxHandshakes` is raised to hold more slow clients.
 */
export const DEFAULT_MAX_PENDING_DECRYPTS = 64;
/**
 * Handshakes per second one source (IPv4 address, IPv6 /64) may bring to the RSA step,
 * sustained: 10. RSA-2048 decrypts at ~1500–3700/s per core and RSA-4096 at ~240/s, so one
 * source takes at most ~4% of two workers even with a 4096-bit key, while a client that
 * reconnects (one handshake per session) never comes near it. See SECURITY.md.
 */
export const DEFAULT_HANDSHAKE_RATE = 10;
/**
 * Handshakes one source may bring to the RSA step at once after a quiet spell: 32, twice
 * `maxHandshakesPerAddress`, so a connection pool can open all its connections together.
 */
export const DEFAULT_HANDSHAKE_BURST = 32;
/**
 * Sources whose handshake rate a server tracks at once: 16 384 (about 2 MiB at most).
 * Beyond, the least recently seen source is forgotten (see handshake-rate.ts).
 */
export const HANDSHAKE_RATE_SOURCES = 16_384;
/** Times `client.connect()` tries again when the server answers ERR_SERVER_BUSY: 5. */
export const DEFAULT_BUSY_RETRIES = 5;
/** First pause before such a retry, at most (full jitter; doubles each time): 50 ms. */
export const BUSY_RETRY_BASE = 50;
/** Longest pause before such a retry: 1 s. */
export const BUSY_RETRY_CAP = 1000;
/** Connections (handshaking and established) a server holds: 0, no limit but the OS's file descriptors. */
export const DEFAULT_MAX_CONNECTIONS = 0;
/** The largest setTimeout delay Node accepts (2^31 − 1 ms, about 24.8 days). */
export const MAX_TIMER_MS = 0x7fffffff;

/**
 * RSA worker threads a server starts by default: min(2, available cores) in a process of its
 * own; 1 in a node:cluster worker. A cluster runs about one process per core, and each
 * process's threads compete for the same cores: N processes × 1 thread keep N threads busy
 * with RSA, while × 2 only add threads (and ~5–10 MiB of RSS each) for no more handshakes. One, not
 * 0, keeps the ~1 ms RSA operation off the process's event loop. Measured in BENCHMARKS.md
 * ("Across cores").
 */
export function defaultWorkerCount(): number {
  return cluster.isWorker ? 1 : Math.min(2, availableParallelism());
}

/**
 * The close code reported locally when a session ended without an authenticated close
 * (failure, timeout, truncation, destroy). Never sent on the wire; as in WebSocket.
 */
export const CLOSE_ABNORMAL = 1006;
/** Sent by a server whose accept queue is full: the client may retry later. */
export const CLOSE_TRY_AGAIN_LATER = 1013;
