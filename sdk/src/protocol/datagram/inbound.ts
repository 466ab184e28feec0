/**
 * The receiving half of a datagram session's record layer (PROTOCOL.md §D4–§D6): opens
 * Record packets in §D4's order — shape, session, epoch, budget, replay (consulted, not
 * changed), authentication, plaintext — and only then accepts. A rejected packet is counted
 * and changes nothing else. Sans-IO; the clock is injected.
 */
import { Buffer } from 'node:buffer';
import { ErrorCode, RECORD_REJECTED, RecordError, SessionError } from '../errors.js';
import type { Suite } from '../suite.js';
import { DatagramRecordType, MAX_EPOCH_SKIP } from './constants.js';
import { copySecret, destroyedError, resolveOptions } from './context-options.js';
import type { DatagramContextOptions, Resolved } from './context-options.js';
import { nextEpochSecret } from './key-schedule.js';
import { EpochKeys, recordConnectionIdIs, recordEpoch, recordSeq, recordShapeOk } from './record-codec.js';
import { ReplayWindow } from './replay-window.js';

/** Why `open` rejected a packet (§D4 steps 1–7; `'connection'`: another session's conn_id). */
export type Rejection =
  'malformed' | 'connection' | 'epoch' | 'exhausted' | 'duplicate' | 'too-old' | 'out-of-sequence' | 'auth';

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
 * window. At most six epochs' keys are held: the previous one (during its grace), the
 * current one E, and E + 1 … E + j once a packet has named E + j (j ≤ MAX_EPOCH_SKIP).
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
  /** `T` of the newest epoch derived: the current one, or the last of `#ahead`. */
  readonly #secret: Buffer;
  #current: EpochState;
  #previous: EpochState | null = null;
  /** E + 1, E + 2, … in order, each derived once a packet named it or a later one (§D5). */
  #ahead: EpochState[] = [];
  /** Epochs derived ahead of the current one, over this half's life (tests read it). */
  #derived = 0;
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

  /**
   * @internal How many epochs' secrets and keys this half has derived ahead of its current
   * epoch, in all: §D5 bounds it by MAX_EPOCH_SKIP per epoch the receiver has been in.
   */
  get derivedEpochs(): number {
    return this.#derived;
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

  /**
   * The state of E + j (1 ≤ j ≤ MAX_EPOCH_SKIP): derives T and the keys of each epoch up to
   * E + j not yet held, along §D4's one-way chain, and keeps them until the receiver moves
   * (§D5) — so at most MAX_EPOCH_SKIP derivations per epoch the receiver is in.
   */
  #aheadState(j: number): EpochState {
    while (this.#ahead.length < j) {
      const next = nextEpochSecret(this.suite, this.#secret);
      next.copy(this.#secret);
      next.fill(0);
      this.#ahead.push(this.#state(this.#current.epoch + this.#ahead.length + 1));
      this.#derived += 1;
    }
    return this.#ahead[j - 1]!;
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
   * The epoch state a packet that passed steps 1–2 names (step 3), or null. Derives the keys
   * up to E + j when the packet names E + j, 1 ≤ j ≤ MAX_EPOCH_SKIP.
   */
  #epochOf(packet: Buffer): EpochState | null {
    this.#expire();
    const epoch = recordEpoch(packet);
    const current = this.#current;
    if (epoch === current.epoch) return current;
    const j = epoch - current.epoch;
    if (j >= 1 && j <= MAX_EPOCH_SKIP) return this.#aheadState(j);
    if (this.#previous && epoch === this.#previous.epoch) return this.#previous;
    return null;
  }

  /**
   * Opens one Record packet: §D4 steps 1–8. A rejection is counted and changes nothing else;
   * an accepted record is recorded in its epoch's window and counts, and a record of E + j
   * (1 ≤ j ≤ MAX_EPOCH_SKIP) moves this half to that epoch (E is kept for the grace). Throws
   * `ERR_INVALID_STATE` after destroy().
   */
  open(packet: Buffer): OpenResult {
    if (this.#destroyed) throw destroyedError();
    if (!(packet instanceof Uint8Array)) throw new TypeError('packet must be a Buffer');
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
    // Step 7b, budget: after authentication, so that only the peer itself — never a forger
    // naming the epoch — can make a session end for it.
    if (state.records >= this.#o.recordCutoff || state.bytes >= this.#o.byteCutoff) {
      record.payload.fill(0);
      c.exhausted += 1;
      return { ok: false, reason: 'exhausted' };
    }
    // Step 8: accept.
    const gapsBefore = state.window.gaps;
    const topMoved = state.window.accept(seq);
    c.gaps += state.window.gaps - gapsBefore;
    state.records += 1;
    state.bytes += record.payload.length;
    c.opened += 1;
    if (state.epoch > this.#current.epoch) this.#moveTo(state);
    return {
      ok: true,
      type: record.type,
      payload: record.payload,
      epoch: state.epoch,
      seq,
      advanced: topMoved && state === this.#current,
    };
  }

  /**
   * Moves to `state`, E + j of `#ahead` (§D4 step 8): E − 1 is forgotten, E becomes the
   * previous epoch (kept for the grace), E + 1 … E + j − 1 — none of their records opened —
   * are wiped and forgotten, and the epochs derived beyond E + j stay ahead of the new one.
   */
  #moveTo(state: EpochState): void {
    const skipped = this.#ahead.splice(0, this.#ahead.indexOf(state) + 1);
    skipped.pop();
    for (const s of skipped) s.keys.destroy();
    this.#previous?.keys.destroy();
    const previous = this.#current;
    previous.expires = this.#o.now() + this.#o.epochGrace;
    this.#previous = previous;
    this.#current = state;
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
    for (const s of this.#ahead) s.keys.release();
  }

  /** Wipes every key held; open() then throws `ERR_INVALID_STATE`. */
  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.#previous?.keys.destroy();
    this.#current.keys.destroy();
    for (const s of this.#ahead) s.keys.destroy();
    this.#previous = null;
    this.#ahead = [];
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
