/**
 * The sending half of a datagram session's record layer (PROTOCOL.md §D4, §D5): seals records
 * under the current epoch's keys and moves to the next epoch before a record that would
 * exceed the epoch's budget or interval. Sans-IO; the clock is injected.
 */
import { Buffer } from 'node:buffer';
import { ErrorCode, SessionError } from '../errors.js';
import type { Suite } from '../suite.js';
import { DatagramRecordType, MAX_EPOCH, MAX_UDP_PAYLOAD } from './constants.js';
import { copySecret, destroyedError, resolveOptions } from './context-options.js';
import type { DatagramContextOptions, Resolved } from './context-options.js';
import { nextEpochSecret } from './key-schedule.js';
import { EpochKeys, maxRecordPayload, recordPacketSize } from './record-codec.js';

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
  /** The largest payload a UDP datagram can carry under this suite. */
  readonly #maxPayload: number;

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
    this.#maxPayload = maxRecordPayload(this.suite, MAX_UDP_PAYLOAD);
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
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Buffer or Uint8Array');
    if (payload.length > this.#maxPayload) {
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

  /**
   * The largest payload whose packet is at most `datagramSize` bytes (and at most 65 507, what
   * UDP carries and `seal` accepts). RangeError if not even an empty payload fits.
   */
  maxPayload(datagramSize: number): number {
    return maxRecordPayload(this.suite, Math.min(datagramSize, MAX_UDP_PAYLOAD));
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
