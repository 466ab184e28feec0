/**
 * Options every datagram session shares (PROTOCOL.md §D5, §D6, §D8), whichever side made
 * it: `DatagramServer`'s and `DatagramClient`'s options extend these (datagram-options.ts).
 * Everything is checked up front: TypeError for a wrong type or conflicting options,
 * RangeError for a number out of range.
 */
import type { DatagramContextOptions } from '../protocol/datagram/contexts.js';
import type { ReplayMode } from '../protocol/datagram/replay-window.js';
import {
  DEFAULT_DATAGRAM_IDLE_TIMEOUT,
  DEFAULT_DATAGRAM_KEEPALIVE,
  DEFAULT_EPOCH_GRACE,
  DEFAULT_MAX_DATAGRAM_SIZE,
  DEFAULT_REKEY_INTERVAL,
  DEFAULT_WINDOW,
  EPOCH_BYTE_BUDGET,
  EPOCH_RECORD_BUDGET,
  MAX_UDP_PAYLOAD,
  MAX_WINDOW,
  MIN_DATAGRAM_SIZE,
  MIN_WINDOW,
} from '../protocol/datagram/constants.js';
import { MAX_TIMER_MS } from '../common/defaults.js';
import { checkInt, checkObject } from '../common/options.js';

/** Bytes a session lets wait for the socket (sent, not yet handed to the OS) by default: 1 MiB. */
export const DEFAULT_MAX_QUEUED_BYTES = 1024 * 1024;
/** Bytes of received messages kept for an async iterator that does not keep up, by default: 1 MiB. */
export const DEFAULT_MAX_UNREAD_BYTES = 1024 * 1024;

/** Options of every datagram session (through `DatagramServer` or `DatagramClient`). */
export interface DatagramSessionOptions {
  /**
   * Milliseconds this side may send nothing before it sends a Ping (§D8), so NAT bindings
   * and the peer's idle timer see it alive. 0 turns pings off. Default 15000 (below common
   * NAT timeouts). Must be below `idleTimeout` when both are set.
   */
  readonly keepAliveInterval?: number;
  /**
   * Milliseconds without any record that opens after which the session ends with
   * `TimeoutError` (`limit: 'idle'`, ERR_TIMEOUT): silence is the only way a datagram peer
   * can vanish. 0 turns it off. Default 60000.
   */
  readonly idleTimeout?: number;
  /**
   * Largest UDP payload this side sends, in bytes: a message whose record would not fit is
   * refused with ERR_MESSAGE_TOO_LARGE, never fragmented. 1200 to 65507. Default 1200
   * (fits a 1280-byte IPv6 MTU). `session.maxMessageSize` tells the largest message.
   */
  readonly maxDatagramSize?: number;
  /**
   * Bytes of packets handed to the socket and not yet sent that a session holds; `send()`
   * beyond it returns false and drops the message (counted in `counters.sendDropped`).
   * Default 1 MiB.
   */
  readonly maxQueuedBytes?: number;
  /**
   * Bytes (plus 96 per message) of received messages kept for an async iterator that has
   * not taken them yet; beyond it the oldest are dropped (counted in
   * `counters.unreadDropped`). Default 1 MiB.
   */
  readonly maxUnreadBytes?: number;
  /**
   * How this side's replay window treats reordering (§D6): `'window'` (default) delivers
   * reordered datagrams once each, `'increasing'` drops late ones, `'sequential'` (for
   * carriers that never lose or reorder) accepts only the next seq.
   */
  readonly replay?: ReplayMode;
  /** Replay window size in datagrams: 1024 to 65536, a multiple of 32. Default 2048. */
  readonly window?: number;
  /** Milliseconds the previous epoch's receive keys are kept after a move (§D5). Default 10000. */
  readonly epochGrace?: number;
  /** Milliseconds after which this side moves its sending direction to the next epoch. Default 600000; it may only be lowered. */
  readonly rekeyInterval?: number;
  /** Records per epoch after which this side moves to the next one. Default and maximum 2^24. */
  readonly rekeyAfterRecords?: number;
  /** Payload bytes per epoch after which this side moves to the next one. Default and maximum 2^32. */
  readonly rekeyAfterBytes?: number;
}

/** @internal Datagram session options with every default applied. */
export interface ResolvedDatagramSessionOptions {
  readonly keepAliveInterval: number;
  readonly idleTimeout: number;
  readonly maxDatagramSize: number;
  readonly maxQueuedBytes: number;
  readonly maxUnreadBytes: number;
  readonly replay: ReplayMode;
  readonly window: number;
  readonly epochGrace: number;
  readonly rekeyInterval: number;
  readonly rekeyAfterRecords: number;
  readonly rekeyAfterBytes: number;
}

const REPLAY_MODES: readonly ReplayMode[] = ['window', 'increasing', 'sequential'];

/** @internal Checks `options` and applies the defaults. */
export function resolveDatagramSessionOptions(
  options: DatagramSessionOptions | undefined,
): ResolvedDatagramSessionOptions {
  const o = checkObject(options, 'options');
  const idleTimeout = checkInt('idleTimeout', o.idleTimeout, DEFAULT_DATAGRAM_IDLE_TIMEOUT, 0, MAX_TIMER_MS);
  const keepAliveInterval = checkInt(
    'keepAliveInterval',
    o.keepAliveInterval,
    idleTimeout === 0 || DEFAULT_DATAGRAM_KEEPALIVE < idleTimeout
      ? DEFAULT_DATAGRAM_KEEPALIVE
      : Math.floor(idleTimeout / 2),
    0,
    MAX_TIMER_MS,
  );
  if (idleTimeout > 0 && keepAliveInterval >= idleTimeout) {
    throw new TypeError(
      'keepAliveInterval must be below idleTimeout, or the idle limit fires before the ping',
    );
  }
  const replay = o.replay ?? 'window';
  if (!REPLAY_MODES.includes(replay)) {
    throw new TypeError(`replay must be one of ${REPLAY_MODES.join(', ')}`);
  }
  const window = checkInt('window', o.window, DEFAULT_WINDOW, MIN_WINDOW, MAX_WINDOW);
  if (window % 32 !== 0) throw new RangeError(`window must be a multiple of 32, got ${window}`);
  return {
    keepAliveInterval,
    idleTimeout,
    maxDatagramSize: checkInt(
      'maxDatagramSize',
      o.maxDatagramSize,
      DEFAULT_MAX_DATAGRAM_SIZE,
      MIN_DATAGRAM_SIZE,
      MAX_UDP_PAYLOAD,
    ),
    maxQueuedBytes: checkInt(
      'maxQueuedBytes',
      o.maxQueuedBytes,
      DEFAULT_MAX_QUEUED_BYTES,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    maxUnreadBytes: checkInt(
      'maxUnreadBytes',
      o.maxUnreadBytes,
      DEFAULT_MAX_UNREAD_BYTES,
      1,
      Number.MAX_SAFE_INTEGER,
    ),
    replay,
    window,
    epochGrace: checkInt('epochGrace', o.epochGrace, DEFAULT_EPOCH_GRACE, 0, DEFAULT_REKEY_INTERVAL),
    rekeyInterval: checkInt(
      'rekeyInterval',
      o.rekeyInterval,
      DEFAULT_REKEY_INTERVAL,
      1,
      DEFAULT_REKEY_INTERVAL,
    ),
    rekeyAfterRecords: checkInt(
      'rekeyAfterRecords',
      o.rekeyAfterRecords,
      EPOCH_RECORD_BUDGET,
      1,
      EPOCH_RECORD_BUDGET,
    ),
    rekeyAfterBytes: checkInt('rekeyAfterBytes', o.rekeyAfterBytes, EPOCH_BYTE_BUDGET, 1, EPOCH_BYTE_BUDGET),
  };
}

/**
 * @internal The record contexts' share of the options (replay, window, epochs), for
 * `datagramContexts()` or the handshakes that make a session's contexts. The suite and
 * conn_id come from the handshake.
 */
export function contextOptions(options: ResolvedDatagramSessionOptions): DatagramContextOptions {
  return {
    replay: options.replay,
    window: options.window,
    epochGrace: options.epochGrace,
    rekeyInterval: options.rekeyInterval,
    rekeyAfterRecords: options.rekeyAfterRecords,
    rekeyAfterBytes: options.rekeyAfterBytes,
  };
}
