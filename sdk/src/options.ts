/**
 * Options of sessions, clients and servers, and their validation. Everything is checked
 * up front: TypeError for a wrong type or conflicting options, RangeError for a number out
 * of range.
 */
import { DEFAULT_MAX_MESSAGE_SIZE } from './protocol/index.js';
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_PENDING_SESSIONS,
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
   * `TimeoutError` (`limit: 'idle'`, code ERR_TIMEOUT). 0 turns it off. Default 0.
   * Time while this side has paused reading (backpressure) does not count.
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
}

/** Options of {@link Client}. */
export interface ClientOptions extends SessionOptions {
  /** Milliseconds to establish the TCP connection. Default 10000. */
  readonly connectTimeout?: number;
  /** Largest record payload this side sends, 1–65536. Default 65536. */
  readonly maxFragmentSize?: number;
}

/** Options of {@link Server}. */
export interface ServerOptions extends SessionOptions {
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
}

/** @internal Session options with every default applied. */
export interface ResolvedSessionOptions {
  readonly handshakeTimeout: number;
  readonly closeTimeout: number;
  readonly idleTimeout: number;
  readonly keepAliveInterval: number;
  readonly maxMessageSize: number;
  readonly readableHighWaterMark: number;
}

/** @internal */
export function resolveSessionOptions(options: SessionOptions | undefined): ResolvedSessionOptions {
  const o = checkObject(options, 'options');
  const idleTimeout = checkInt('idleTimeout', o.idleTimeout, DEFAULT_IDLE_TIMEOUT, 0, MAX_TIMER_MS);
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
  };
}

/** @internal */
export function resolveClientOptions(options: ClientOptions | undefined): ResolvedSessionOptions & {
  readonly connectTimeout: number;
  readonly maxFragmentSize: number | undefined;
} {
  const o = checkObject(options, 'options');
  return {
    ...resolveSessionOptions(o),
    connectTimeout: checkInt('connectTimeout', o.connectTimeout, DEFAULT_CONNECT_TIMEOUT, 1, MAX_TIMER_MS),
    // The core validates and defaults it (1–65536, default 65536).
    maxFragmentSize: o.maxFragmentSize,
  };
}

/** @internal */
export function resolveServerOptions(options: ServerOptions | undefined): ResolvedSessionOptions & {
  readonly workers: number;
  readonly maxPendingSessions: number;
} {
  const o = checkObject(options, 'options');
  return {
    ...resolveSessionOptions(o),
    workers: checkInt('workers', o.workers, defaultWorkerCount(), 0, 64),
    maxPendingSessions: checkInt(
      'maxPendingSessions',
      o.maxPendingSessions,
      DEFAULT_MAX_PENDING_SESSIONS,
      0,
      1 << 20,
    ),
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
