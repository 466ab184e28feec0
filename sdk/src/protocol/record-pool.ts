/**
 * Reused buffers for large records, so that a bulk stream does not allocate (and fault in,
 * and leave to the garbage collector) a fresh 64 KiB buffer per record: each record a
 * session seals into a pool buffer goes back to the pool once the transport has written it,
 * and each record opened into one goes back once its message has been written onwards.
 *
 * Measured by hand on a 1 GiB tunnel copy: a fresh output buffer per record (node:crypto's
 * way) costs about 3× the cipher itself in page faults, zeroing and mark-compact GCs driven
 * by external memory; sealing and opening in place in reused buffers does not.
 *
 * A buffer is lent by `take()` and comes back only through `release()` of the very view it
 * was lent as, once: a buffer never released is simply collected, so a caller that keeps a
 * record (a sans-IO user, a transport that holds its chunks) loses nothing but the reuse, and
 * a stale or second release is ignored. A pool keeps at most `keep` free buffers. A pool of
 * plaintext wipes each buffer as it comes back.
 */
import { Buffer } from 'node:buffer';
import { AEAD_TAG_SIZE, FRAME_HEADER_SIZE, INNER_HEADER_SIZE, MAX_FRAGMENT } from './constants.js';
import { fillBytes } from './crypto.js';

/** AEAD records of this many payload bytes and more are sealed or opened in pool buffers. */
export const POOLED_RECORD_MIN = 16384;

/** A pool buffer holds the largest AEAD record: frame and inner header, a full fragment, the tag. */
export const POOLED_RECORD_SIZE = FRAME_HEADER_SIZE + INNER_HEADER_SIZE + MAX_FRAGMENT + AEAD_TAG_SIZE;

export class RecordPool {
  /**
   * Each buffer this pool made and has lent: the one view of it that gives it back (the
   * buffer `take()` returned, or the view `handOver()` put in its place). Keyed by memory.
   */
  readonly #lent = new WeakMap<ArrayBufferLike, Uint8Array>();
  readonly #free: Buffer[] = [];
  readonly #size: number;
  readonly #keep: number;
  readonly #wipe: boolean;

  /** Buffers of `size` bytes; at most `keep` kept free; `wipe`: zeroed as they come back. */
  constructor(size: number, keep: number, wipe: boolean) {
    this.#size = size;
    this.#keep = keep;
    this.#wipe = wipe;
  }

  /** Free buffers held now. */
  get free(): number {
    return this.#free.length;
  }

  /** A buffer of `length` bytes (at most the pool's size), lent until it is released. */
  take(length: number): Buffer {
    if (length > this.#size) throw new RangeError(`record pool: ${length} > ${this.#size} bytes`);
    let whole = this.#free.pop();
    // A wiping pool's buffers start zeroed too: a message's `.buffer` shows nothing but it.
    whole ??= this.#wipe ? Buffer.alloc(this.#size) : Buffer.allocUnsafeSlow(this.#size);
    const buf = whole.subarray(0, length);
    this.#lent.set(buf.buffer, buf);
    return buf;
  }

  /**
   * From now on `view` (of a lent buffer, in place of `holder`) is what gives it back: the
   * message handed out of an opened record. Does nothing unless `holder` gives it back now.
   */
  handOver(holder: Uint8Array, view: Uint8Array): void {
    if (this.#lent.get(holder.buffer) === holder && view.buffer === holder.buffer) {
      this.#lent.set(holder.buffer, view);
    }
  }

  /**
   * Gives back the buffer `view` lies in, if `view` is exactly what this pool lent it as
   * (`take()`'s result or `handOver()`'s view) and it has not come back since. Anything else
   * is ignored: another view of it, a second release (the buffer may be lent again by then),
   * a buffer of another pool or of none.
   */
  release(view: Uint8Array): void {
    const memory = view.buffer;
    if (this.#lent.get(memory) !== view) return;
    this.#lent.delete(memory);
    const buf = Buffer.from(memory, 0, this.#size);
    if (this.#wipe) fillBytes.call(buf, 0);
    if (this.#free.length < this.#keep) this.#free.push(buf);
  }

  /** Whether `view` is what this pool lent a buffer as, not yet given back. */
  lends(view: Uint8Array): boolean {
    return this.#lent.get(view.buffer) === view;
  }
}

/**
 * Free buffers a receiving direction keeps (RecordOpener.recycle): a relay writes a message on
 * and gets it back at the write's callback, so two in turn are enough; wiped, 128 KiB at most.
 */
export const RECEIVE_POOL_KEEP = 2;

/**
 * This thread's sealed records (ciphertext: not wiped), for connections whose transport gives
 * each record back once written (`ConnectionOptions.pooled`). At most 32 kept: 2 MiB.
 */
export const sentRecords = new RecordPool(POOLED_RECORD_SIZE, 32, false);
