/**
 * Options of {@link DatagramServer} and {@link DatagramClient}, their defaults and their
 * validation (the rules of common/options.ts: TypeError for a wrong type or conflicting
 * options, RangeError for a number out of range, each checked at `create()`).
 *
 * What a datagram session needs (keepalive, idle limit, datagram size, send queue, replay
 * mode) is {@link DatagramSessionOptions}; each side adds its own. PROTOCOL.md §D6/§D8 and
 * README.md "Datagrams" give the reasons for the defaults.
 */
import {
  DEFAULT_DATAGRAM_IDLE_TIMEOUT,
  DEFAULT_DATAGRAM_KEEPALIVE,
  DEFAULT_EPOCH_GRACE,
  DEFAULT_MAX_DATAGRAM_SIZE,
  DEFAULT_REKEY_INTERVAL,
  DEFAULT_WINDOW,
  MAX_UDP_PAYLOAD,
  MAX_WINDOW,
  MIN_DATAGRAM_SIZE,
  MIN_WINDOW,
} from '../protocol/datagram/constants.js';
import type { AuthorizationOptions } from '../server/authorization.js';
import type { TrustOptions } from '../client/trust.js';
import type { PrivateKeyInput } from '../common/key-input.js';
import {
  DEFAULT_BUSY_RETRIES,
  DEFAULT_HANDSHAKE_BURST,
  DEFAULT_HANDSHAKE_RATE,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  DEFAULT_MAX_PENDING_DECRYPTS,
  MAX_TIMER_MS,
  defaultWorkerCount,
} from '../common/defaults.js';
import { checkInt, checkObject } from '../common/options.js';

/** How a receiver treats reordered datagrams (PROTOCOL.md §D6); the wire is the same. */
export type DatagramReplayMode = 'window' | 'increasing' | 'sequential';

/** Sessions a {@link DatagramServer} holds at once by default: 10 000. */
export const DEFAULT_MAX_DATAGRAM_SESSIONS = 10_000;
/** Bytes a datagram session lets wait for the socket before `send()` drops: 1 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;

/** Options every datagram session accepts (through a DatagramServer or a DatagramClient). */
export interface DatagramSessionOptions {
  /** Milliseconds from the first handshake packet to an open session. Default 10000. */
  readonly handshakeTimeout?: number;
  /**
   * Milliseconds without an authenticated record from the peer after which the session
   * ends with `TimeoutError` (`limit: 'idle'`, ERR_TIMEOUT). 0 turns it off. Default 60000.
   */
  readonly idleTimeout?: number;
  /**
   * Milliseconds without sending anything after which a Ping is sent (keeps NAT mappings
   * and the peer's idle timer alive). 0 turns pings off. Default 15000; must be below
   * `idleTimeout` when both are on.
   */
  readonly keepAliveInterval?: number;
  /**
   * Largest UDP payload this side sends, 1200–65507. A message whose record would not fit
   * is refused with ERR_MESSAGE_TOO_LARGE, never fragmented. Default 1200.
   */
  readonly maxDatagramSize?: number;
  /**
   * Bytes of packets waiting for the socket at which `send()` starts dropping (and returns
   * false) rather than let memory grow. Default 1 MiB.
   */
  readonly maxQueuedBytes?: number;
  /**
   * Which reordered datagrams are delivered (PROTOCOL.md §D6): `'window'` delivers each
   * message at most once within a window of `window` records; `'increasing'` drops anything
   * older than the newest; `'sequential'` only the next one (no loss allowed). Default 'window'.
   */
  readonly replay?: DatagramReplayMode;
  /** Replay window size in records, 1024–65536, a multiple of 32. Default 2048. */
  readonly window?: number;
}

/** @internal What a datagram session is given: every default applied. */
export interface ResolvedDatagramSessionOptions {
  readonly handshakeTimeout: number;
  readonly idleTimeout: number;
  readonly keepAliveInterval: number;
  readonly maxDatagramSize: number;
  readonly maxQueuedBytes: number;
  readonly replay: DatagramReplayMode;
  readonly window: number;
  /** The outbound's rekey interval (ms); not a public option (PROTOCOL.md §D5 fixes 10 minutes). */
  readonly rekeyInterval: number;
  /** The inbound's epoch grace (ms); not a public option. */
  readonly epochGrace: number;
}

/** Options of {@link DatagramServer}. */
export interface DatagramServerOptions extends DatagramSessionOptions, AuthorizationOptions {
  /** Worker threads doing the RSA of each handshake; 0: the main thread. Default min(2, cores). */
  readonly workers?: number;
  /** Open sessions held at once; a Hello beyond is refused (ServerBusy). Default 10000. */
  readonly maxSessions?: number;
  /**
   * Handshakes in progress at once (from a Hello whose cookie verified to its
   * ClientFinished or its timeout); a Hello beyond is refused (ServerBusy). Default 64.
   */
  readonly maxHandshakes?: number;
  /** The same, per source address (IPv6: per /64). Default 16 (at most `maxHandshakes`). */
  readonly maxHandshakesPerAddress?: number;
  /**
   * Hellos per second one source (IPv4 address, IPv6 /64) may bring to RSA, sustained (a
   * token bucket of `handshakeBurst`); beyond, refused with ServerBusy before any RSA.
   * Counted only for Hellos whose cookie verified. 0 turns it off. Default 10.
   */
  readonly handshakeRate?: number;
  /** The bucket's size: Hellos one source may bring to RSA at once. Default 32. */
  readonly handshakeBurst?: number;
  /** RSA decryptions allowed to wait for the worker pool; beyond, ServerBusy. Default 64. */
  readonly maxPendingDecrypts?: number;
}

/** @internal */
export interface ResolvedDatagramServerOptions {
  readonly session: ResolvedDatagramSessionOptions;
  readonly handshakeTimeout: number;
  readonly workers: number;
  readonly maxSessions: number;
  readonly maxHandshakes: number;
  readonly maxHandshakesPerAddress: number;
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
  readonly maxPendingDecrypts: number;
}

/** Options of {@link DatagramClient}. */
export interface DatagramClientOptions extends DatagramSessionOptions, TrustOptions {
  /** The client's private key (or its path), for servers that authorize clients. Default: none. */
  readonly clientKey?: PrivateKeyInput;
  /**
   * Times `connect()` tries again when the server refuses the handshake under load
   * (ERR_SERVER_BUSY), after a random pause that doubles (50 ms, … at most 1 s). Default 5.
   */
  readonly busyRetries?: number;
}

/** @internal */
export interface ResolvedDatagramClientOptions {
  readonly session: ResolvedDatagramSessionOptions;
  readonly handshakeTimeout: number;
  readonly busyRetries: number;
}

const REPLAY_MODES: readonly DatagramReplayMode[] = ['window', 'increasing', 'sequential'];

/** @internal */
export function resolveDatagramSessionOptions(
  options: DatagramSessionOptions | undefined,
): ResolvedDatagramSessionOptions {
  const o = checkObject(options, 'options');
  const idleTimeout = checkInt('idleTimeout', o.idleTimeout, DEFAULT_DATAGRAM_IDLE_TIMEOUT, 0, MAX_TIMER_MS);
  const keepAliveInterval = checkInt(
    'keepAliveInterval',
    o.keepAliveInterval,
    // An idle limit set below the default keepalive gets pings at half of it, as streams do.
    idleTimeout > 0 && idleTimeout <= DEFAULT_DATAGRAM_KEEPALIVE
      ? Math.floor(idleTimeout / 2)
      : DEFAULT_DATAGRAM_KEEPALIVE,
    0,
    MAX_TIMER_MS,
  );
  if (idleTimeout > 0 && keepAliveInterval >= idleTimeout) {
    throw new TypeError(
      'keepAliveInterval must be below idleTimeout, or the idle limit fires before the ping',
    );
  }
  if (o.replay !== undefined && !REPLAY_MODES.includes(o.replay)) {
    throw new TypeError("options.replay must be 'window', 'increasing' or 'sequential'");
  }
  const window = checkInt('window', o.window, DEFAULT_WINDOW, MIN_WINDOW, MAX_WINDOW);
  if (window % 32 !== 0) throw new RangeError(`window must be a multiple of 32, got ${window}`);
  return {
    handshakeTimeout: checkInt(
      'handshakeTimeout',
      o.handshakeTimeout,
      DEFAULT_HANDSHAKE_TIMEOUT,
      1,
      MAX_TIMER_MS,
    ),
    idleTimeout,
    keepAliveInterval,
    maxDatagramSize: checkInt(
      'maxDatagramSize',
      o.maxDatagramSize,
      DEFAULT_MAX_DATAGRAM_SIZE,
      MIN_DATAGRAM_SIZE,
      MAX_UDP_PAYLOAD,
    ),
    maxQueuedBytes: checkInt('maxQueuedBytes', o.maxQueuedBytes, DEFAULT_MAX_QUEUED_BYTES, 1, 0x7fffffff),
    replay: o.replay ?? 'window',
    window,
    rekeyInterval: DEFAULT_REKEY_INTERVAL,
    epochGrace: DEFAULT_EPOCH_GRACE,
  };
}

/** @internal */
export function resolveDatagramServerOptions(
  options: DatagramServerOptions | undefined,
): ResolvedDatagramServerOptions {
  const o = checkObject(options, 'options');
  const session = resolveDatagramSessionOptions(o);
  const maxHandshakes = checkInt('maxHandshakes', o.maxHandshakes, DEFAULT_MAX_HANDSHAKES, 1, 1 << 20);
  const maxHandshakesPerAddress = checkInt(
    'maxHandshakesPerAddress',
    o.maxHandshakesPerAddress,
    Math.min(DEFAULT_MAX_HANDSHAKES_PER_ADDRESS, maxHandshakes),
    1,
    1 << 20,
  );
  if (maxHandshakesPerAddress > maxHandshakes) {
    throw new TypeError('maxHandshakesPerAddress must not exceed maxHandshakes');
  }
  return {
    session,
    handshakeTimeout: session.handshakeTimeout,
    workers: checkInt('workers', o.workers, defaultWorkerCount(), 0, 64),
    maxSessions: checkInt('maxSessions', o.maxSessions, DEFAULT_MAX_DATAGRAM_SESSIONS, 1, 1 << 24),
    maxHandshakes,
    maxHandshakesPerAddress,
    handshakeRate: checkInt('handshakeRate', o.handshakeRate, DEFAULT_HANDSHAKE_RATE, 0, 1 << 20),
    handshakeBurst: checkInt('handshakeBurst', o.handshakeBurst, DEFAULT_HANDSHAKE_BURST, 1, 1 << 20),
    maxPendingDecrypts: checkInt(
      'maxPendingDecrypts',
      o.maxPendingDecrypts,
      DEFAULT_MAX_PENDING_DECRYPTS,
      1,
      1 << 20,
    ),
  };
}

/** @internal */
export function resolveDatagramClientOptions(
  options: DatagramClientOptions | undefined,
): ResolvedDatagramClientOptions {
  const o = checkObject(options, 'options');
  const session = resolveDatagramSessionOptions(o);
  return {
    session,
    handshakeTimeout: session.handshakeTimeout,
    busyRetries: checkInt('busyRetries', o.busyRetries, DEFAULT_BUSY_RETRIES, 0, 100),
  };
}
