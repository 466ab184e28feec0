/**
 * Options of sessions, clients and servers, and their validation. Everything is checked
 * up front: TypeError for a wrong type or conflicting options, RangeError for a number out
 * of range.
 */
import type { AuthorizationOptions } from '../server/authorization.js';
import type { PrivateKeyInput } from './key-input.js';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../protocol/index.js';
import type { TrustOptions } from '../client/trust.js';
import {
  DEFAULT_BUSY_RETRIES,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HANDSHAKE_BURST,
  DEFAULT_HANDSHAKE_RATE,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  DEFAULT_MAX_PENDING_DECRYPTS,
  DEFAULT_MAX_PENDING_SESSIONS,
  DEFAULT_SERVER_IDLE_TIMEOUT,
  DEFAULT_READABLE_HIGH_WATER_MARK,
  MAX_TIMER_MS,
  defaultWorkerCount,
} from './defaults.js';

/** Options every session accepts (through `Server`, `Client` or `secureDuplex`). */
export interface SessionOptions {
  /** Milliseconds from the first byte to an open session. Default 10000. */
  readonly handshakeTimeout?: number;
  /** Milliseconds `close()` waits for the peer's close echo before dropping the transport. Default 5000. */
  readonly closeTimeout?: number;
  /**
   * Milliseconds without any record from the peer after which the session fails with
   * `TimeoutError` (`limit: 'idle'`, code ERR_TIMEOUT). 0 turns it off. Default 0 for
   * clients and `secureDuplex()`, 300000 (5 minutes) for a {@link ServerOptions | Server}'s
   * sessions. Time while this side has paused reading (backpressure) does not count.
   */
  readonly idleTimeout?: number;
  /**
   * Milliseconds of silence from the peer after which a keepalive ping is sent; its pong
   * keeps a live peer from hitting `idleTimeout`. 0 turns pings off. Default: half of
   * `idleTimeout` (so 0 when `idleTimeout` is off). Must be below `idleTimeout` when both are set.
   */
  readonly keepAliveInterval?: number;
  /** Largest message accepted from the peer, in bytes. Default 64 MiB. */
  readonly maxMessageSize?: number;
  /**
   * Bytes of received, unread messages after which the transport is paused (backpressure
   * to the peer); reading resumes it. Default 1 MiB.
   */
  readonly readableHighWaterMark?: number;
  /**
   * Largest `bufferedAmount` (bytes written and not yet handed to the OS) at which `write()`
   * still accepts a message. A `write()` that finds this much or more buffered fails the
   * session with ERR_BUFFER_FULL (the transport is dropped) instead of letting memory grow
   * without bound while the peer does not read. Writers that wait for each `write()` stay
   * near the transport's high-water mark and never reach it. One message larger than the
   * limit is still accepted when little is buffered. Default 16 MiB.
   */
  readonly maxBufferedAmount?: number;
}

/** Options of {@link Client}. */
export interface ClientOptions extends SessionOptions, TrustOptions {
  /**
   * The client's own private key (or its file's path), to authenticate to servers that
   * check `authorizedKeys` or an `authorize` hook. Default: none.
   */
  readonly clientKey?: PrivateKeyInput;
  /** Milliseconds to establish the TCP connection. Default 10000. */
  readonly connectTimeout?: number;
  /** Largest record payload this side sends, 1–65536. Default 65536. */
  readonly maxFragmentSize?: number;
  /**
   * Times `connect()` tries again when the server refuses the connection under load
   * (ERR_SERVER_BUSY), after a random pause that doubles each time (50 ms, 100 ms, … at
   * most 1 s). 0 reports the first refusal. Default 5.
   */
  readonly busyRetries?: number;
}

/** Options of {@link Server}. */
export interface ServerOptions extends SessionOptions, AuthorizationOptions {
  /**
   * Worker threads holding the private key(s) for the RSA decryption of each handshake,
   * so it never blocks the event loop. 0 decrypts on the main thread. Default
   * min(2, os.availableParallelism()).
   */
  readonly workers?: number;
  /**
   * Established sessions kept for `acceptClient()` when there is no `'session'` listener.
   * A session established while the queue is full is closed with code 1013 (try again
   * later). Default 128.
   */
  readonly maxPendingSessions?: number;
  /**
   * Connections allowed in their handshake at once. When they are all taken, a new
   * connection evicts the oldest one that has not yet sent a complete ClientHello (an idle
   * or slow-drip peer); if every one has, the new connection is refused. Default 64.
   */
  readonly maxHandshakes?: number;
  /**
   * Connections from one remote address (IPv6: one /64 prefix) allowed in their handshake
   * at once; more are refused. Default 16 (at most `maxHandshakes`).
   */
  readonly maxHandshakesPerAddress?: number;
  /**
   * ClientHellos per second that one remote address (IPv6: one /64 prefix) may bring to
   * the RSA decryption, sustained (a token bucket of `handshakeBurst` tokens refilled at
   * this rate). A hello over the rate is refused before any RSA work (ServerBusy; the
   * client sees ERR_SERVER_BUSY and retries; `'refused'` with `'handshakeRate'`).
   * 0 turns the limit off. Default 10.
   */
  readonly handshakeRate?: number;
  /**
   * ClientHellos one remote address may bring to the RSA decryption at once after a quiet
   * spell (the token bucket's size; see `handshakeRate`). Default 32.
   */
  readonly handshakeBurst?: number;
  /**
   * RSA decryptions allowed to wait for the worker pool; a ClientHello that arrives when
   * this many are queued is refused before any RSA work. Not used with `workers: 0`, where
   * each decryption runs at once on the main thread. Default 64.
   */
  readonly maxPendingDecrypts?: number;
  /**
   * Connections (in their handshake or established) the server holds at once; more are
   * refused. 0: no limit but the process's file-descriptor limit. Default 0.
   */
  readonly maxConnections?: number;
}

/** @internal Session options with every default applied. */
export interface ResolvedSessionOptions {
  readonly handshakeTimeout: number;
  readonly closeTimeout: number;
  readonly idleTimeout: number;
  readonly keepAliveInterval: number;
  readonly maxMessageSize: number;
  readonly readableHighWaterMark: number;
  readonly maxBufferedAmount: number;
}

/**
 * @internal
 * @param idleDefault The idle limit when none is given: servers use another default.
 */
export function resolveSessionOptions(
  options: SessionOptions | undefined,
  idleDefault = DEFAULT_IDLE_TIMEOUT,
): ResolvedSessionOptions {
  const o = checkObject(options, 'options');
  const idleTimeout = checkInt('idleTimeout', o.idleTimeout, idleDefault, 0, MAX_TIMER_MS);
  const keepAliveInterval = checkInt(
    'keepAliveInterval',
    o.keepAliveInterval,
    Math.floor(idleTimeout / 2),
    0,
    MAX_TIMER_MS,
  );
  if (idleTimeout > 0 && keepAliveInterval >= idleTimeout) {
    throw new TypeError(
      'keepAliveInterval must be below idleTimeout, or the idle limit fires before the ping',
    );
  }
  return {
    handshakeTimeout: checkInt(
      'handshakeTimeout',
      o.handshakeTimeout,
      DEFAULT_HANDSHAKE_TIMEOUT,
      1,
      MAX_TIMER_MS,
    ),
    closeTimeout: checkInt('closeTimeout', o.closeTimeout, DEFAULT_CLOSE_TIMEOUT, 1, MAX_TIMER_MS),
    idleTimeout,
    keepAliveInterval,
    maxMessageSize: checkInt('maxMessageSize', o.maxMessageSize, DEFAULT_MAX_MESSAGE_SIZE, 1, 0x7fffffff),
    readableHighWaterMark: checkInt(
      'readableHighWaterMark',
      o.readableHighWaterMark,
      DEFAULT_READABLE_HIGH_WATER_MARK,
      1,
      0x7fffffff,
    ),
    maxBufferedAmount: checkInt(
      'maxBufferedAmount',
      o.maxBufferedAmount,
      DEFAULT_MAX_BUFFERED_AMOUNT,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
  };
}

/** @internal */
export function resolveClientOptions(options: ClientOptions | undefined): ResolvedSessionOptions & {
  readonly connectTimeout: number;
  readonly maxFragmentSize: number | undefined;
  readonly busyRetries: number;
} {
  const o = checkObject(options, 'options');
  return {
    ...resolveSessionOptions(o),
    connectTimeout: checkInt('connectTimeout', o.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 1, MAX_TIMER_MS),
    busyRetries: checkInt('busyRetries', o.busyRetries, DEFAULT_BUSY_RETRIES, 0, 100),
    // The core validates and defaults it (1–65536, default 65536).
    maxFragmentSize: o.maxFragmentSize,
  };
}

/** @internal Server options with every default applied. */
export interface ResolvedServerOptions extends ResolvedSessionOptions {
  readonly workers: number;
  readonly maxPendingSessions: number;
  readonly maxHandshakes: number;
  readonly maxHandshakesPerAddress: number;
  readonly maxPendingDecrypts: number;
  readonly maxConnections: number;
  readonly handshakeRate: number;
  readonly handshakeBurst: number;
}

/** @internal */
export function resolveServerOptions(options: ServerOptions | undefined): ResolvedServerOptions {
  const o = checkObject(options, 'options');
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
  const maxConnections = checkInt('maxConnections', o.maxConnections, DEFAULT_MAX_CONNECTIONS, 0, 1 << 24);
  return {
    ...resolveSessionOptions(o, DEFAULT_SERVER_IDLE_TIMEOUT),
    workers: checkInt('workers', o.workers, defaultWorkerCount(), 0, 64),
    maxPendingSessions: checkInt(
      'maxPendingSessions',
      o.maxPendingSessions,
      DEFAULT_MAX_PENDING_SESSIONS,
      0,
      1 << 20,
    ),
    maxHandshakes,
    maxHandshakesPerAddress,
    maxPendingDecrypts: checkInt(
      'maxPendingDecrypts',
      o.maxPendingDecrypts,
      DEFAULT_MAX_PENDING_DECRYPTS,
      1,
      1 << 20,
    ),
    maxConnections,
    handshakeRate: checkInt('handshakeRate', o.handshakeRate, DEFAULT_HANDSHAKE_RATE, 0, 1 << 20),
    handshakeBurst: checkInt('handshakeBurst', o.handshakeBurst, DEFAULT_HANDSHAKE_BURST, 1, 1 << 20),
  };
}

function checkObject<T extends object>(options: T | undefined, name: string): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw new TypeError(`${name} must be an object`);
  return options;
}

/** @internal */
export function checkInt(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new TypeError(`${name} must be an integer`);
  if (value < min || value > max) throw new RangeError(`${name} must be from ${min} to ${max}, got ${value}`);
  return value;
}
