/**
 * The send path of a connection: messages sealed into records (fragmented when long,
 * packed into DataBatch records when queued), pings, End (half-close), and the KeyUpdate a
 * key budget makes due. {@link Connection} extends it with the receive path, close and
 * alerts; the state the two share (`connState`, `sentClose`, `sentEnd`, `receivedEnd`,
 * `sealer`, `opener`) is a plain field here, read directly.
 */
import { Buffer } from 'node:buffer';
import { BATCH_ENTRY_OVERHEAD, CLOSE_NORMAL, RecordType } from './constants.js';
import type { ConnectionHandler, ConnectionState } from './connection-types.js';
import { fillBytes } from './crypto.js';
import { ErrorCode, SessionError } from './errors.js';
import type { RecordSealer } from './record-layer.js';
import type { RecordOpener } from './record-opener.js';
import { NATIVE_AEAD_MAX } from './aead.js';
import type { RecordPool } from './record-pool.js';

const EMPTY = Buffer.alloc(0);
/**
 * Data records of this many payload bytes and more are sealed in parts where the key allows
 * (node:crypto's large records): the payload is not copied into a record buffer first.
 */
const PARTS_MIN = NATIVE_AEAD_MAX;

/** A batch buffer larger than this is released after each flush rather than kept. */
const MAX_KEPT_BATCH = 4096;

/**
 * The last large batch buffer released by a flush, wiped, for whichever session of this
 * thread next outgrows its own: a session written to in bursts takes the same buffer back
 * on every tick instead of growing a new one by doubling (five allocations and copies per
 * flush of a 5 KiB batch), while idle sessions still keep no large buffer. A batch is
 * detached from its connection while it is sealed, and given here only once wiped, so a
 * buffer is only ever held by one batch.
 */
let spareBatch: Buffer | null = null;

export abstract class MessageSender {
  protected readonly handler: ConnectionHandler;
  protected readonly maxFragment: number;
  protected sealer: RecordSealer | null = null;
  protected opener: RecordOpener | null = null;
  protected connState: ConnectionState = 'handshake';
  protected sentClose = false;
  /** We sent End: no more messages from this side (PROTOCOL.md §5 "Half-close"). */
  protected sentEnd = false;
  /** A message record (Data, DataMore, DataBatch) has been sent (a NewTicket must come before, §6a). */
  protected sentMessage = false;
  /** The peer's End arrived: no more messages from the peer. */
  protected receivedEnd = false;
  /**
   * Where large records are sealed (ConnectionOptions.pooled): a pool whose buffers the
   * transport gives back once written; null: a new buffer (or parts) per record.
   */
  protected sendPool: RecordPool | null = null;
  /** Messages queued for the next batch record, as u32 length ‖ bytes entries. */
  #batch: Buffer = EMPTY;
  #batchLength = 0;
  #batchCount = 0;

  protected constructor(handler: ConnectionHandler, maxFragment: number) {
    this.handler = handler;
    this.maxFragment = maxFragment;
  }

  /**
   * Records sealed so far, handshake records included: the sequence number, which runs on
   * across key updates and never resets (`session.stats`).
   */
  get recordsSent(): number {
    return this.sealer?.seq ?? 0;
  }

  /** Records opened (authenticated) so far, as `recordsSent`. */
  get recordsReceived(): number {
    return this.opener?.seq ?? 0;
  }

  /** Sends one application message, fragmented into records as needed. */
  write(message: Buffer): void {
    this.assertSendable();
    this.sentMessage = true;
    if (message.length <= this.maxFragment) {
      this.#sendData(RecordType.Data, message);
      return;
    }
    // A record sent may make the peer fail us synchronously (an in-memory peer): stop then.
    for (let at = 0; at < message.length && this.connState !== 'closed'; at += this.maxFragment) {
      const end = Math.min(at + this.maxFragment, message.length);
      const type = end === message.length ? RecordType.Data : RecordType.DataMore;
      this.#sendData(type, message.subarray(at, end));
    }
  }

  /**
   * Sends several messages, packing runs of small ones into shared records (a DataBatch
   * record carries whole messages as u32 length ‖ bytes). The peer still receives each
   * message separately and in order. Same as `queue()` for each, then `flushQueued()`.
   */
  writeMany(messages: readonly Buffer[]): void {
    this.assertSendable();
    for (const m of messages) {
      // A record sent may make the peer fail us synchronously (an in-memory peer): stop then.
      if (this.connState === 'closed') return;
      this.queue(m);
    }
    this.flushQueued();
  }

  /**
   * Adds one message to the pending batch: its bytes are copied now (the caller may reuse
   * its buffer), and a batch that would outgrow one record is sealed first. A message too
   * big for a batch entry flushes the batch and is sent at once, fragmented as needed, so
   * messages always leave in call order. Call `flushQueued()` to send what is pending.
   */
  queue(message: Buffer): void {
    this.assertSendable();
    const need = BATCH_ENTRY_OVERHEAD + message.length;
    if (need > this.maxFragment) {
      this.flushQueued();
      if (this.connState !== 'closed') this.write(message);
      return;
    }
    if (this.#batchLength + need > this.maxFragment) {
      this.flushQueued();
      // Sending may have made a synchronous peer fail us: nothing more goes into a batch then.
      if (this.connState === 'closed') return;
    }
    this.#append(message, this.#batchLength + need);
  }

  /**
   * Queues `message` if it fits in the pending batch without sealing anything, and returns
   * true; otherwise (or if the connection is not writable) does nothing and returns false,
   * and the caller uses `queue()`. The writer's fast path: no record can come of it.
   */
  tryQueue(message: Buffer): boolean {
    if (this.connState !== 'open' || this.sentClose || this.sentEnd) return false;
    const end = this.#batchLength + BATCH_ENTRY_OVERHEAD + message.length;
    if (end > this.maxFragment) return false;
    this.#append(message, end);
    return true;
  }

  /** Appends one batch entry (u32 length ‖ bytes) ending at `end`, growing the batch if needed. */
  #append(message: Buffer, end: number): void {
    let batch = this.#batch;
    if (batch.length < end) {
      // Grows by doubling up to one record: memory follows what is pending, not a fixed 64 KiB.
      const spare = spareBatch;
      let grown: Buffer;
      if (spare !== null && spare.length >= end && spare.length <= this.maxFragment) {
        spareBatch = null;
        grown = spare;
      } else {
        grown = Buffer.allocUnsafeSlow(Math.min(this.maxFragment, Math.max(end, 2 * batch.length, 256)));
      }
      batch.copy(grown, 0, 0, this.#batchLength);
      batch.fill(0, 0, this.#batchLength);
      this.#batch = batch = grown;
    }
    const at = this.#batchLength;
    const length = message.length;
    batch[at] = length >>> 24;
    batch[at + 1] = length >>> 16;
    batch[at + 2] = length >>> 8;
    batch[at + 3] = length;
    batch.set(message, at + BATCH_ENTRY_OVERHEAD);
    this.#batchLength = end;
    this.#batchCount += 1;
  }

  /** Bytes of queued messages not yet sealed (with their batch length prefixes). */
  get queuedBytes(): number {
    return this.#batchLength;
  }

  /** Seals the pending batch: one Data record for a lone message, else one DataBatch record. */
  flushQueued(): void {
    const count = this.#batchCount;
    if (count === 0) return;
    const length = this.#batchLength;
    const batch = this.#batch;
    // Detached while it is sealed and sent: a synchronous peer answering inside send() may
    // make this connection queue and flush again, into a batch of its own, never this one.
    this.#batch = EMPTY;
    this.#batchCount = 0;
    this.#batchLength = 0;
    try {
      if (this.connState === 'closed') return;
      const sealer = this.sealer!;
      const pool = this.#poolFor(sealer);
      const record =
        count === 1
          ? sealer.seal(RecordType.Data, batch.subarray(BATCH_ENTRY_OVERHEAD, length), pool)
          : sealer.seal(RecordType.DataBatch, batch.subarray(0, length), pool);
      this.sentMessage = true;
      this.sendRecord(record);
    } finally {
      // The batch held plaintext: wipe it, and let a large one go (idle sessions stay small)
      // to the next session that needs one (spareBatch).
      // Only this call holds it now (detached above), so it is given to one place at most.
      fillBytes.call(batch, 0, 0, length);
      if (batch.length > MAX_KEPT_BATCH) {
        if (spareBatch === null || spareBatch.length < batch.length) spareBatch = batch;
      } else if (this.#batch === EMPTY) {
        this.#batch = batch;
      }
    }
  }

  /** Sends a keepalive ping; the peer answers with a pong carrying the same payload (≤ 64 bytes). */
  ping(payload: Buffer = Buffer.alloc(0)): void {
    if (payload.length > 64) throw new RangeError('ping payload must be at most 64 bytes');
    this.assertWritable();
    this.sendRecord(this.sealer!.seal(RecordType.Ping, payload));
  }

  /**
   * Ends this side's sending direction (half-close): seals the messages still queued, then
   * sends End. Messages can no longer be written (ERR_WRITE_AFTER_END); Ping, KeyUpdate,
   * Close and alerts still go out, and the peer's messages are still received. Once the
   * peer's End has arrived too, both directions are over and the connection sends Close
   * 1000 with an empty reason at once (state `'closing'`). A second call does nothing.
   * Throws ERR_SESSION_CLOSED unless open (never after our Close).
   */
  end(): void {
    this.assertWritable();
    if (this.sentEnd) return;
    this.flushQueued();
    // Sending may have made a synchronous peer fail us.
    if (this.connState === 'closed') return;
    this.sentEnd = true;
    this.sendRecord(this.sealer!.seal(RecordType.End, EMPTY));
    if (this.receivedEnd && this.connState === 'open') this.close(CLOSE_NORMAL, '');
  }

  /** Sends an authenticated close (defined by Connection). */
  abstract close(code?: number, reason?: string): void;

  /** Sends a sealed record, then a KeyUpdate if the sealer's key budget made one due. */
  /** The send pool, where the key seals in place (a copy into a pool buffer saves nothing otherwise). */
  #poolFor(sealer: RecordSealer): RecordPool | null {
    return this.sendPool !== null && sealer.sealsInPlace ? this.sendPool : null;
  }

  /**
   * One Data or DataMore record: a large one into a pool buffer where the transport gives
   * them back and the key seals in place, else in parts where the key allows
   * (RecordSealer.sealParts: node:crypto's new output buffer, without a copy of the payload).
   */
  #sendData(type: number, payload: Buffer): void {
    const sealer = this.sealer!;
    const pool = this.#poolFor(sealer);
    const parts = pool === null && payload.length >= PARTS_MIN ? sealer.sealParts(type, payload) : null;
    this.sendRecord(parts ?? sealer.seal(type, payload, pool));
  }

  /** Sends a record (one buffer, or its parts in order), then a KeyUpdate if the key is spent. */
  protected sendRecord(record: Buffer | readonly Buffer[]): void {
    if (Buffer.isBuffer(record)) this.handler.send(record);
    else for (const part of record) this.handler.send(part);
    // After our Close nothing more is sent, not even a KeyUpdate the Close made due.
    if (this.connState === 'closed' || this.sentClose) return;
    const sealer = this.sealer!;
    if (sealer.needsUpdate) {
      this.handler.send(sealer.seal(RecordType.KeyUpdate, Buffer.alloc(0)));
      sealer.update();
      this.handler.keyUpdated?.('send', sealer.generation);
    }
  }

  protected assertWritable(): void {
    if (this.connState === 'handshake') {
      throw new SessionError(
        ErrorCode.SESSION_CLOSED,
        'session is not open yet: the handshake is not complete',
      );
    }
    if (this.connState !== 'open' || this.sentClose) {
      throw new SessionError(ErrorCode.SESSION_CLOSED, 'session is closed');
    }
  }

  /** Messages may be sent: open, and neither Close nor End sent. */
  protected assertSendable(): void {
    this.assertWritable();
    if (this.sentEnd) {
      throw new SessionError(
        ErrorCode.WRITE_AFTER_END,
        'write after end: this side has ended its messages (sent End)',
      );
    }
  }

  /** Wipes and drops the pending batch (the connection is closed). */
  protected dropBatch(): void {
    this.#batch.fill(0, 0, this.#batchLength);
    this.#batch = EMPTY;
    this.#batchLength = 0;
    this.#batchCount = 0;
  }
}
