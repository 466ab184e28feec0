/**
 * The options of the datagram record layer's halves (PROTOCOL.md §D4–§D6), validated up
 * front: TypeError for a wrong type, RangeError for a value out of range.
 */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { RandomSource } from '../crypto.js';
import { secureRandom } from '../crypto.js';
import { ErrorCode, SessionError } from '../errors.js';
import { DEFAULT_SET, resolveSuite } from '../suite.js';
import type { AlgorithmSet, Suite } from '../suite.js';
import {
  CONN_ID_SIZE,
  DEFAULT_EPOCH_GRACE,
  DEFAULT_REKEY_INTERVAL,
  DEFAULT_WINDOW,
  EPOCH_BYTE_BUDGET,
  EPOCH_BYTE_CUTOFF,
  EPOCH_RECORD_BUDGET,
  EPOCH_RECORD_CUTOFF,
} from './constants.js';
import { checkReplayMode, checkWindowSize } from './replay-window.js';
import type { ReplayMode } from './replay-window.js';

export interface DatagramContextOptions {
  /** The algorithm set. Default {@link DEFAULT_SET} (RSA, AES-256-CBC, SHA-256). */
  readonly set?: AlgorithmSet;
  /** The session's conn_id: 8 bytes. Default 8 zero bytes. */
  readonly connectionId?: Buffer;
  /** Inbound: how `seq` is checked (§D6). Default `'window'`. */
  readonly replay?: ReplayMode;
  /** Inbound, window mode: the window in `seq` values. Default 2048; 1024–65536, a multiple of 32. */
  readonly window?: number;
  /**
   * Outbound: records per epoch before moving on. Default 2^24; 1 … 2^24. A receiver accepts
   * only the epoch after its current one (§D4 step 3), so an epoch whose every record is lost
   * leaves the peer behind for good: keep this (and `rekeyInterval`) far above what a burst of
   * loss can swallow whole.
   */
  readonly rekeyAfterRecords?: number;
  /** Outbound: payload bytes per epoch before moving on. Default 2^32; 1 … 2^32. */
  readonly rekeyAfterBytes?: number;
  /**
   * Outbound: the longest an epoch is used, ms. Default 600000; 1 … 600000. Keep it far above
   * the keepalive interval, so that every epoch carries many records (see `rekeyAfterRecords`).
   */
  readonly rekeyInterval?: number;
  /** Inbound: how long the previous epoch's keys are kept after a move, ms. Default 10000; 0 … 600000. */
  readonly epochGrace?: number;
  /** The clock, ms. Default `performance.now`. */
  readonly now?: () => number;
  /** @internal A fixed random source (CBC IVs), for test vectors only. */
  readonly random?: RandomSource;
  /** @internal Inbound cut-off per epoch, records (default 2^25), for tests only. */
  readonly receiveRecordCutoff?: number;
  /** @internal Inbound cut-off per epoch, payload bytes (default 2^33), for tests only. */
  readonly receiveByteCutoff?: number;
}

/** @internal Options with every default filled in. */
export interface Resolved {
  readonly suite: Suite;
  readonly connectionId: Buffer;
  readonly replay: ReplayMode;
  readonly window: number;
  readonly rekeyAfterRecords: number;
  readonly rekeyAfterBytes: number;
  readonly rekeyInterval: number;
  readonly epochGrace: number;
  readonly now: () => number;
  readonly random: RandomSource;
  readonly recordCutoff: number;
  readonly byteCutoff: number;
}

const defaultNow = (): number => performance.now();

function integerIn(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new TypeError(`${name} must be an integer`);
  if (value < min || value > max) throw new RangeError(`${name} must be from ${min} to ${max}, got ${value}`);
  return value;
}

function numberIn(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value)) throw new TypeError(`${name} must be a number`);
  if (value < min || value > max) throw new RangeError(`${name} must be from ${min} to ${max}, got ${value}`);
  return value;
}

/** @internal Checks the options and fills in every default. */
export function resolveOptions(options: DatagramContextOptions = {}): Resolved {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const suite = resolveSuite(options.set ?? DEFAULT_SET);
  let connectionId = Buffer.alloc(CONN_ID_SIZE);
  if (options.connectionId !== undefined) {
    if (!Buffer.isBuffer(options.connectionId)) throw new TypeError('connectionId must be a Buffer');
    if (options.connectionId.length !== CONN_ID_SIZE) {
      throw new RangeError(`connectionId must be ${CONN_ID_SIZE} bytes, got ${options.connectionId.length}`);
    }
    connectionId = Buffer.from(options.connectionId);
  }
  const replay = checkReplayMode(options.replay ?? 'window');
  const window = options.window === undefined ? DEFAULT_WINDOW : checkWindowSize(options.window);
  if (options.now !== undefined && typeof options.now !== 'function')
    throw new TypeError('now must be a function');
  return {
    suite,
    connectionId,
    replay,
    window,
    rekeyAfterRecords: integerIn(
      'rekeyAfterRecords',
      options.rekeyAfterRecords,
      EPOCH_RECORD_BUDGET,
      1,
      EPOCH_RECORD_BUDGET,
    ),
    rekeyAfterBytes: integerIn(
      'rekeyAfterBytes',
      options.rekeyAfterBytes,
      EPOCH_BYTE_BUDGET,
      1,
      EPOCH_BYTE_BUDGET,
    ),
    rekeyInterval: numberIn(
      'rekeyInterval',
      options.rekeyInterval,
      DEFAULT_REKEY_INTERVAL,
      1,
      DEFAULT_REKEY_INTERVAL,
    ),
    epochGrace: numberIn('epochGrace', options.epochGrace, DEFAULT_EPOCH_GRACE, 0, DEFAULT_REKEY_INTERVAL),
    now: options.now ?? defaultNow,
    random: options.random ?? secureRandom,
    recordCutoff: integerIn(
      'receiveRecordCutoff',
      options.receiveRecordCutoff,
      EPOCH_RECORD_CUTOFF,
      1,
      EPOCH_RECORD_CUTOFF,
    ),
    byteCutoff: integerIn(
      'receiveByteCutoff',
      options.receiveByteCutoff,
      EPOCH_BYTE_CUTOFF,
      1,
      EPOCH_BYTE_CUTOFF,
    ),
  };
}

/** Copies `secret` after checking it is one hash output of the suite (the caller wipes its own). */
export function copySecret(suite: Suite, secret: Buffer): Buffer {
  if (!Buffer.isBuffer(secret)) throw new TypeError('secret must be a Buffer');
  if (secret.length !== suite.hashLength) {
    throw new RangeError(`secret must be ${suite.hashLength} bytes for ${suite.hash}, got ${secret.length}`);
  }
  return Buffer.from(secret);
}

export function destroyedError(): SessionError {
  return new SessionError(ErrorCode.INVALID_STATE, 'datagram context destroyed');
}
