/**
 * Options every session shares, and the validation helpers (client/client-options.ts and
 * server/server-options.ts hold each side's own). Everything is checked
 * up front: TypeError for a wrong type or conflicting options, RangeError for a number out
 * of range.
 */
import { DEFAULT_MAX_MESSAGE_SIZE } from '../protocol/index.js';
import {
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_READABLE_HIGH_WATER_MARK,
  MAX_TIMER_MS,
} from './defaults.js';

/** Options every session accepts (through `Server`, `Client` or `secureDuplex`). */
export interface SessionOptions {
  /** Milliseconds from the first byte to an open session. Default 10000. */
  readonly handshakeTimeout?: number;
  /**
   * Milliseconds a close waits for the peer's echo before dropping the transport, counted
   * from when our Close has been handed to the OS (it waits behind everything written
   * before it; until then `idleTimeout` bounds a peer that does not read). A stopping
   * `Server` waits at most this long for each session it closes. Default 5000.
   */
  readonly closeTimeout?: number;
  /**
   * Milliseconds without any record from the peer after which the session fails with
   * `TimeoutError` (`limit: 'idle'`, code ERR_TIMEOUT). 0 turns it off. Default 0 for
   * clients and `secureDuplex()`, 300000 (5 minutes) for a `Server`'s
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
export function checkObject<T extends object>(options: T | undefined, name: string): Partial<T> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object') throw new TypeError(`${name} must be an object`);
  return options;
}

/** @internal */
export function checkBoolean(name: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === 'boolean') return value;
  throw new TypeError(`${name} must be a boolean`);
}

/** @internal */
export function checkInt(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new TypeError(`${name} must be an integer`);
  if (value < min || value > max) throw new RangeError(`${name} must be from ${min} to ${max}, got ${value}`);
  return value;
}

/**
 * @internal
 * A per-address share of a total cap (`maxHandshakesPerAddress` of `maxHandshakes`, …): an
 * integer from 1 to `max`, by default `min(fallback, total)`, never above the total.
 */
export function checkPerAddressCap(
  name: string,
  value: unknown,
  fallback: number,
  total: { readonly name: string; readonly value: number },
  max: number,
): number {
  const cap = checkInt(name, value, Math.min(fallback, total.value), 1, max);
  if (cap > total.value) throw new TypeError(`${name} must not exceed ${total.name}`);
  return cap;
}
