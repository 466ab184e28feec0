/**
 * The replay window of one epoch of one receiving direction (PROTOCOL.md §D6).
 *
 * `check(seq)` says whether a record may be accepted and changes nothing (§D4 step 5);
 * `accept(seq)` records it, and is called only after the record authenticated (step 8).
 * A rejected packet therefore never moves the window.
 *
 * Window mode is RFC 6479's bitmap: bit `seq mod W` of a ring of W bits (W a multiple of
 * 32, held as 32-bit words) says whether `seq` was accepted, for the W values
 * `top − W < seq ≤ top`. When `top` advances, the bits of the values that leave the window
 * are cleared word by word (at most W / 32 stores, however far it jumps).
 */
import { DEFAULT_WINDOW, MAX_SEQ, MAX_WINDOW, MIN_WINDOW } from './constants.js';

/**
 * How a receiver treats `seq` (§D6): `'window'` (default) delivers reordered records within
 * the window, each at most once; `'increasing'` drops anything not above every accepted
 * `seq`; `'sequential'` accepts only the next `seq` (carriers that neither lose nor reorder).
 */
export type ReplayMode = 'window' | 'increasing' | 'sequential';

/** What `check` found: `null` for a new `seq`, else the rejection. */
export type ReplayVerdict = null | 'duplicate' | 'too-old' | 'out-of-sequence';

const MODES: readonly ReplayMode[] = ['window', 'increasing', 'sequential'];

/** Validates a replay mode option; throws TypeError naming the accepted values. */
export function checkReplayMode(mode: unknown): ReplayMode {
  if (!MODES.includes(mode as ReplayMode)) {
    throw new TypeError(`replay must be one of ${MODES.join(', ')}, got ${String(mode)}`);
  }
  return mode as ReplayMode;
}

/** Validates a window size (bits): an integer multiple of 32 from 1024 to 65536. */
export function checkWindowSize(size: unknown): number {
  if (typeof size !== 'number' || !Number.isInteger(size)) throw new TypeError('window must be an integer');
  if (size < MIN_WINDOW || size > MAX_WINDOW || size % 32 !== 0) {
    throw new RangeError(`window must be a multiple of 32 from ${MIN_WINDOW} to ${MAX_WINDOW}, got ${size}`);
  }
  return size;
}

export class ReplayWindow {
  readonly mode: ReplayMode;
  /** W, in `seq` values (window mode; 0 in the others, which keep no bitmap). */
  readonly size: number;
  /** The highest accepted `seq`; −1 before the first. */
  #top = -1;
  /** `seq` values skipped when `top` advanced (window and increasing modes). */
  #gaps = 0;
  readonly #bits: Uint32Array | null;

  /**
   * @param mode default `'window'`.
   * @param size window size in bits (window mode): default 2048, 1024–65536, a multiple of 32.
   */
  constructor(mode: ReplayMode = 'window', size: number = DEFAULT_WINDOW) {
    this.mode = checkReplayMode(mode);
    if (this.mode === 'window') {
      this.size = checkWindowSize(size);
      this.#bits = new Uint32Array(this.size / 32);
    } else {
      this.size = 0;
      this.#bits = null;
    }
  }

  /** The highest accepted `seq`, or −1. */
  get top(): number {
    return this.#top;
  }

  /** Skipped `seq` values seen so far (lost or still in flight). */
  get gaps(): number {
    return this.#gaps;
  }

  /** Whether `seq` (an integer 0 … 2^48 − 1) may be accepted. Changes nothing. */
  check(seq: number): ReplayVerdict {
    const top = this.#top;
    if (seq > top) {
      return this.mode === 'sequential' && seq !== top + 1 ? 'out-of-sequence' : null;
    }
    if (seq === top) return 'duplicate';
    if (this.mode !== 'window') return 'too-old';
    const size = this.size;
    if (seq <= top - size) return 'too-old';
    const bit = seq % size;
    return (this.#bits![bit >>> 5]! & (1 << (bit & 31))) !== 0 ? 'duplicate' : null;
  }

  /**
   * Records `seq`, which `check` has just passed. Returns whether `top` advanced (the record
   * is the freshest so far: §D7 lets only such a record move a session).
   */
  accept(seq: number): boolean {
    const top = this.#top;
    const bits = this.#bits;
    if (seq > top) {
      if (seq > MAX_SEQ) throw new RangeError('seq out of range');
      this.#gaps += seq - top - 1;
      if (bits) this.#clearAfter(top, seq);
      this.#top = seq;
    }
    if (bits) {
      const bit = seq % this.size;
      bits[bit >>> 5]! |= 1 << (bit & 31);
    }
    return seq > top;
  }

  /** Clears the bits of `from + 1 … to`: the slots the values that leave the window held. */
  #clearAfter(from: number, to: number): void {
    const bits = this.#bits!;
    const size = this.size;
    const count = to - from;
    if (count >= size) {
      bits.fill(0);
      return;
    }
    const start = (from + 1) % size;
    const end = start + count;
    if (end <= size) {
      clearBits(bits, start, end);
    } else {
      clearBits(bits, start, size);
      clearBits(bits, 0, end - size);
    }
  }
}

/** Clears bits `[a, b)` of `bits`: partial words at the ends, whole words between. */
function clearBits(bits: Uint32Array, a: number, b: number): void {
  let word = a >>> 5;
  const lastWord = (b - 1) >>> 5;
  const lowMask = (1 << (a & 31)) - 1; // bits below a in its word: kept
  const highBits = b & 31;
  const highMask = highBits === 0 ? 0 : ~((1 << highBits) - 1); // bits from b on in its word: kept
  if (word === lastWord) {
    bits[word]! &= lowMask | highMask;
    return;
  }
  bits[word]! &= lowMask;
  for (word += 1; word < lastWord; word++) bits[word] = 0;
  bits[lastWord]! &= highMask;
}
