/**
 * The two halves of a datagram session's record layer (PROTOCOL.md §D4–§D6): a
 * `DatagramOutbound` seals (and moves to its next epoch by the budgets and the rekey
 * interval, §D5), a `DatagramInbound` opens, in §D4's order — shape, session, epoch, budget,
 * replay (consulted, not changed), authentication, plaintext — and only then accepts.
 * A rejected packet is counted and changes nothing else. Sans-IO: no socket, no timer; the
 * clock is injected (`now`).
 */
import { Buffer } from 'node:buffer';
import { performance } from 'node:perf_hooks';
import type { RandomSource } from '../crypto.js';
import { secureRandom } from '../crypto.js';
import { ErrorCode, RECORD_REJECTED, RecordError, SessionError } from '../errors.js';
import { DEFAULT_SET, resolveSuite } from '../suite.js';
import type { AlgorithmSet, Suite } from '../suite.js';
import {
  CONN_ID_SIZE,
  DEFAULT_EPOCH_GRACE,
  DEFAULT_REKEY_INTERVAL,
  DEFAULT_WINDOW,
  DatagramRecordType,
  EPOCH_BYTE_BUDGET,
  EPOCH_BYTE_CUTOFF,
  EPOCH_RECORD_BUDGET,
  EPOCH_RECORD_CUTOFF,
  MAX_EPOCH,
  MAX_UDP_PAYLOAD,
} from './constants.js';
import { datagramTrafficSecrets, nextEpochSecret } from './key-schedule.js';
import {
  EpochKeys,
  maxRecordPayload,
  recordConnectionIdIs,
  recordEpoch,
  recordPacketSize,
  recordSeq,
  recordShapeOk,
} from './record-codec.js';
import { ReplayWindow, checkReplayMode, checkWindowSize } from './replay-window.js';
import type { ReplayMode } from './replay-window.js';

/**
 * The record types of PROTOCOL.md §D4 (the first byte of a record's plaintext), for `seal`
 * and for reading `open`'s `type`.
 */
export const DatagramRecordTypes = Object.freeze({
  Data: DatagramRecordType.Data,
  Close: DatagramRecordType.Close,
  Ping: DatagramRecordType.Ping,
  Pong: DatagramRecordType.Pong,
  Alert: DatagramRecordType.Alert,
  ServerFinished: DatagramRecordType.ServerFinished,
  ClientFinished: DatagramRecordType.ClientFinished,
  HandshakeDone: DatagramRecordType.HandshakeDone,
} as const);

/** Why `open` rejected a packet (§D4 steps 1–7; `'connection'`: another session's conn_id). */
export type Rejection =
  'malformed' | 'connection' | 'epoch' | 'exhausted' | 'duplicate' | 'too-old' | 'out-of-sequence' | 'auth';

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

interface Resolved {
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

function resolveOptions(options: DatagramContextOptions = {}): Resolved {
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
function copySecret(suite: Suite, secret: Buffer): Buffer {
  if (!Buffer.isBuffer(secret)) throw new TypeError('secret must be a Buffer');
  if (secret.length !== suite.hashLength) {
    throw new RangeError(`secret must be ${suite.hashLength} bytes for ${suite.hash}, got ${secret.length}`);
  }
  return Buffer.from(secret);
}

function destroyedError(): SessionError {
  return new SessionError(ErrorCode.INVALID_STATE, 'datagram context destroyed');
}

/**
 * The sending half: seals records under the current epoch's keys and moves to the next epoch
 * (§D5) before a record that would exceed the epoch's budget or interval.
 */
export class DatagramOutbound {
  readonly suite: Suite;
  readonly #connectionId: Buffer;
  readonly #o: Resolved;
  /** T_e of the current epoch; overwritten in place by T_(e+1). */
  readonly #secret: Buffer;
  #keys: EpochKeys;
  #epoch = 0;
  #seq = 0;
  #bytes = 0;
  #epochStart: number;
  #destroyed = false;

  /**
   * @param secret `T_0` of this direction (`c2s_0` or `s2c_0`), one hash output long. It is
   *   copied; the caller wipes its own.
   */
  constructor(secret: Buffer, options?: DatagramContextOptions) {
    this.#o = resolveOptions(options);
    this.suite = this.#o.suite;
    this.#connectionId = this.#o.connectionId;
    this.#secret = copySecret(this.suite, secret);
    this.#keys = new EpochKeys(this.suite, this.#secret, true, this.#o.random);
    this.#epochStart = this.#o.now();
  }

  /** The epoch the next record uses (unless it moves on first, §D5). */
  get epoch(): number {
    return this.#epoch;
  }

  /** The seq the next record uses (unless the epoch moves on first). */
  get seq(): number {
    return this.#seq;
  }

  /** A copy of the conn_id every record carries. */
  get connectionId(): Buffer {
    return Buffer.from(this.#connectionId);
  }

  /**
   * Seals one record into a whole Record packet. Throws SessionError `ERR_INVALID_STATE`
   * after destroy(), `ERR_MESSAGE_TOO_LARGE` if the packet would exceed 65 507 bytes (the
   * caller checks its own datagram size first, with `packetSize`), `ERR_KEY_EXHAUSTED` when
   * the epochs are used up (2^32 of them).
   */
  seal(type: number, payload: Buffer): Buffer {
    if (this.#destroyed) throw destroyedError();
    if (!Number.isInteger(type) || type < 0 || type > 255) throw new RangeError('type must be a byte');
    if (recordPacketSize(this.suite, payload.length) > MAX_UDP_PAYLOAD) {
      throw new SessionError(ErrorCode.MESSAGE_TOO_LARGE, 'record does not fit in a UDP datagram');
    }
    const o = this.#o;
    if (
      this.#seq >= o.rekeyAfterRecords ||
      this.#bytes >= o.rekeyAfterBytes ||
      o.now() - this.#epochStart >= o.rekeyInterval
    ) {
      this.#nextEpoch();
    }
    const packet = this.#keys.seal(this.#connectionId, this.#epoch, this.#seq, type, payload);
    this.#seq += 1;
    this.#bytes += payload.length;
    return packet;
  }

  /** CommSec's `encode`: a Data record carrying `message`. */
  encode(message: Buffer): Buffer {
    return this.seal(DatagramRecordType.Data, message);
  }

  /** The size of the Record packet that carries `payloadLength` bytes. */
  packetSize(payloadLength: number): number {
    return recordPacketSize(this.suite, payloadLength);
  }

  /** The largest payload whose packet is at most `datagramSize` bytes (RangeError if none fits). */
  maxPayload(datagramSize: number): number {
    return maxRecordPayload(this.suite, datagramSize);
  }

  /** Moves to epoch e + 1: derives T_(e+1) over T_e, wipes the keys of e. */
  #nextEpoch(): void {
    if (this.#epoch >= MAX_EPOCH)
      throw new SessionError(ErrorCode.KEY_EXHAUSTED, 'datagram epochs exhausted');
    const next = nextEpochSecret(this.suite, this.#secret);
    this.#keys.destroy();
    next.copy(this.#secret);
    next.fill(0);
    this.#keys = new EpochKeys(this.suite, this.#secret, true, this.#o.random);
    this.#epoch += 1;
    this.#seq = 0;
    this.#bytes = 0;
    this.#epochStart = this.#o.now();
  }

  /** Frees the cipher context while the session is idle (CBC suites); the next seal remakes it. */
  release(): void {
    if (!this.#destroyed) this.#keys.release();
  }

  /** Wipes the keys; seal() then throws `ERR_INVALID_STATE`. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#keys.destroy();
    this.#secret.fill(0);
  }
}

export type OpenResult =
  | {
      readonly ok: true;
      readonly type: number;
      readonly payload: Buffer;
      readonly epoch: number;
      readonly seq: number;
      /** The record moved its epoch's `top` and is of the current epoch: §D7 lets it move a session. */
      readonly advanced: boolean;
    }
  | { readonly ok: false; readonly reason: Rejection };

/** What an inbound half has seen (§D6's counts, and each rejection by reason). */
export interface InboundCounters {
  /** Every packet given to `open`. */
  received: number;
  /** Records accepted. */
  opened: number;
  duplicates: number;
  tooOld: number;
  outOfSequence: number;
  authFailures: number;
  malformed: number;
  /** Another session's conn_id (`'connection'`). */
  foreign: number;
  /** An epoch whose keys are not held (`'epoch'`). */
  staleEpoch: number;
  exhausted: number;
  /** `seq` values skipped when a window's top advanced: lost, or still in flight. */
  gaps: number;
}

/** One receiving epoch: its keys, window and counts. */
interface EpochState {
  readonly epoch: number;
  readonly keys: EpochKeys;
  readonly window: ReplayWindow;
  records: number;
  bytes: number;
  /** Previous epoch only: when its keys go (clock ms). */
  expires: number;
}

/**
 * The receiving half: opens Record packets in §D4's order and keeps, per epoch, a replay
 * window. At most three epochs' keys are held: the previous one (during its grace), the
 * current one, and the next one once a packet has named it.
 */
export class DatagramInbound {
  readonly suite: Suite;
  readonly #connectionId: Buffer;
  readonly #o: Resolved;
  readonly #counters: InboundCounters = {
    received: 0,
    opened: 0,
    duplicates: 0,
    tooOld: 0,
    outOfSequence: 0,
    authFailures: 0,
    malformed: 0,
    foreign: 0,
    staleEpoch: 0,
    exhausted: 0,
    gaps: 0,
  };
  /** The secret of the newest epoch derived (the current one, or the next once derived). */
  readonly #secret: Buffer;
  #current: EpochState;
  #previous: EpochState | null = null;
  #next: EpochState | null = null;
  #destroyed = false;

  /**
   * @param secret `T_0` of the peer's direction, one hash output long. It is copied; the
   *   caller wipes its own.
   */
  constructor(secret: Buffer, options?: DatagramContextOptions) {
    this.#o = resolveOptions(options);
    this.suite = this.#o.suite;
    this.#connectionId = this.#o.connectionId;
    this.#secret = copySecret(this.suite, secret);
    this.#current = this.#state(0);
  }

  /** Live counts; read-only to the caller. */
  get counters(): Readonly<InboundCounters> {
    return this.#counters;
  }

  /** The current receiving epoch E. */
  get epoch(): number {
    return this.#current.epoch;
  }

  /** A copy of the conn_id this half accepts. */
  get connectionId(): Buffer {
    return Buffer.from(this.#connectionId);
  }

  #state(epoch: number): EpochState {
    return {
      epoch,
      keys: new EpochKeys(this.suite, this.#secret, false),
      window: new ReplayWindow(this.#o.replay, this.#o.window),
      records: 0,
      bytes: 0,
      expires: Infinity,
    };
  }

  /** The keys of E + 1, derived on the first packet that names it and kept until used (§D5). */
  #nextState(): EpochState {
    if (this.#next) return this.#next;
    const next = nextEpochSecret(this.suite, this.#secret);
    next.copy(this.#secret);
    next.fill(0);
    this.#next = this.#state(this.#current.epoch + 1);
    return this.#next;
  }

  /** Wipes the previous epoch once its grace is over. */
  #expire(): void {
    const previous = this.#previous;
    if (previous && this.#o.now() >= previous.expires) {
      previous.keys.destroy();
      this.#previous = null;
    }
  }

  /**
   * The epoch state a packet that passed steps 1–2 names (step 3), or null. Creates the
   * next epoch's keys when the packet names E + 1.
   */
  #epochOf(packet: Buffer): EpochState | null {
    this.#expire();
    const epoch = recordEpoch(packet);
    const current = this.#current;
    if (epoch === current.epoch) return current;
    if (epoch === current.epoch + 1) return this.#nextState();
    if (this.#previous && epoch === this.#previous.epoch) return this.#previous;
    return null;
  }

  /**
   * Opens one Record packet: §D4 steps 1–8. A rejection is counted and changes nothing else;
   * an accepted record is recorded in its epoch's window and counts, and a record of E + 1
   * moves this half to that epoch (E is kept for the grace). Throws `ERR_INVALID_STATE`
   * after destroy().
   */
  open(packet: Buffer): OpenResult {
    if (this.#destroyed) throw destroyedError();
    const c = this.#counters;
    c.received += 1;
    if (!recordShapeOk(this.suite, packet)) {
      c.malformed += 1;
      return { ok: false, reason: 'malformed' };
    }
    if (!recordConnectionIdIs(packet, this.#connectionId)) {
      c.foreign += 1;
      return { ok: false, reason: 'connection' };
    }
    const state = this.#epochOf(packet);
    if (!state) {
      c.staleEpoch += 1;
      return { ok: false, reason: 'epoch' };
    }
    if (state.records >= this.#o.recordCutoff || state.bytes >= this.#o.byteCutoff) {
      c.exhausted += 1;
      return { ok: false, reason: 'exhausted' };
    }
    const seq = recordSeq(packet);
    const verdict = state.window.check(seq);
    if (verdict !== null) {
      if (verdict === 'duplicate') c.duplicates += 1;
      else if (verdict === 'too-old') c.tooOld += 1;
      else c.outOfSequence += 1;
      return { ok: false, reason: verdict };
    }
    const record = state.keys.open(packet);
    if (!record) {
      c.authFailures += 1;
      return { ok: false, reason: 'auth' };
    }
    // Step 8: accept.
    const gapsBefore = state.window.gaps;
    const topMoved = state.window.accept(seq);
    c.gaps += state.window.gaps - gapsBefore;
    state.records += 1;
    state.bytes += record.payload.length;
    c.opened += 1;
    if (state === this.#next) this.#moveToNext();
    return {
      ok: true,
      type: record.type,
      payload: record.payload,
      epoch: state.epoch,
      seq,
      advanced: topMoved && state === this.#current,
    };
  }

  /** E − 1 is forgotten, E becomes the previous epoch (kept for the grace), E + 1 the current. */
  #moveToNext(): void {
    this.#previous?.keys.destroy();
    const previous = this.#current;
    previous.expires = this.#o.now() + this.#o.epochGrace;
    this.#previous = previous;
    this.#current = this.#next!;
    this.#next = null;
  }

  /**
   * CommSec's `decode`: the message of a Data record. Throws {@link DatagramRecordError} for
   * a rejected packet (`reason` says why: `ERR_RECORD_AUTH` for malformed, foreign and
   * forged packets, `ERR_REPLAY` for duplicate, too-old and out-of-sequence ones,
   * `ERR_KEY_EXHAUSTED` for an epoch not held or a budget exceeded), and SessionError
   * `ERR_PROTOCOL` for a record that opened but is not Data (it has been accepted).
   */
  decode(packet: Buffer): Buffer {
    const result = this.open(packet);
    if (!result.ok) throw new DatagramRecordError(result.reason);
    if (result.type !== DatagramRecordType.Data) {
      throw new SessionError(
        ErrorCode.PROTOCOL,
        `decode: record type 0x${result.type.toString(16)} is not Data`,
      );
    }
    return result.payload;
  }

  /**
   * Whether `packet` is one the window reports as a duplicate and that authenticates: a
   * retransmitted ClientFinished whose HandshakeDone was lost (§D3). Changes nothing: no
   * window, no counts, no epoch.
   */
  reopenDuplicate(packet: Buffer): boolean {
    if (this.#destroyed) return false;
    if (!recordShapeOk(this.suite, packet) || !recordConnectionIdIs(packet, this.#connectionId)) return false;
    this.#expire();
    const epoch = recordEpoch(packet);
    const state =
      epoch === this.#current.epoch ? this.#current : epoch === this.#previous?.epoch ? this.#previous : null;
    if (!state || state.window.check(recordSeq(packet)) !== 'duplicate') return false;
    const record = state.keys.open(packet);
    if (!record) return false;
    record.payload.fill(0);
    return true;
  }

  /**
   * Frees the cipher contexts while the session is idle (CBC suites), and the previous
   * epoch's keys if its grace is over; the next open remakes what it needs.
   */
  release(): void {
    if (this.#destroyed) return;
    this.#expire();
    this.#previous?.keys.release();
    this.#current.keys.release();
    this.#next?.keys.release();
  }

  /** Wipes every key held; open() then throws `ERR_INVALID_STATE`. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#previous?.keys.destroy();
    this.#current.keys.destroy();
    this.#next?.keys.destroy();
    this.#previous = null;
    this.#next = null;
    this.#secret.fill(0);
  }
}

const REJECTION_MESSAGES: Record<Rejection, string> = {
  malformed: RECORD_REJECTED,
  connection: RECORD_REJECTED,
  auth: RECORD_REJECTED,
  duplicate: 'record rejected: replayed or out of order',
  'too-old': 'record rejected: replayed or out of order',
  'out-of-sequence': 'record rejected: replayed or out of order',
  epoch: 'record rejected: its epoch keys are not held',
  exhausted: 'record rejected: the peer exceeded its epoch budget',
};

/** A datagram record `decode()` rejected; `reason` is `open()`'s. */
export class DatagramRecordError extends RecordError {
  readonly reason: Rejection;

  constructor(reason: Rejection) {
    const code =
      reason === 'duplicate' || reason === 'too-old' || reason === 'out-of-sequence'
        ? ErrorCode.REPLAY
        : reason === 'epoch' || reason === 'exhausted'
          ? ErrorCode.KEY_EXHAUSTED
          : ErrorCode.RECORD_AUTH;
    super(code, REJECTION_MESSAGES[reason]);
    this.reason = reason;
  }
}

/**
 * Both halves for one side of a datagram session keyed by a shared secret from elsewhere
 * (PROTOCOL.md §D9 "Keys from elsewhere"): `c2s_0 = HKDF(secret, "", "secsess v1 dgram c2s",
 * Hlen)`, `s2c_0` likewise. The client seals with c2s and opens s2c; the server the reverse.
 *
 * @param secret at least 32 bytes of secret key material (not wiped here).
 */
export function datagramContexts(
  secret: Buffer,
  role: 'client' | 'server',
  options?: DatagramContextOptions,
): { outbound: DatagramOutbound; inbound: DatagramInbound } {
  if (!Buffer.isBuffer(secret)) throw new TypeError('secret must be a Buffer');
  if (secret.length < 32) throw new RangeError(`secret must be at least 32 bytes, got ${secret.length}`);
  if (role !== 'client' && role !== 'server') throw new TypeError(`role must be 'client' or 'server'`);
  const suite = resolveSuite(options?.set ?? DEFAULT_SET);
  const { c2s, s2c } = datagramTrafficSecrets(suite, secret);
  try {
    return role === 'client'
      ? { outbound: new DatagramOutbound(c2s, options), inbound: new DatagramInbound(s2c, options) }
      : { outbound: new DatagramOutbound(s2c, options), inbound: new DatagramInbound(c2s, options) };
  } finally {
    c2s.fill(0);
    s2c.fill(0);
  }
}
