/**
 * The message being reassembled from DataMore fragments (§5 "Record types"), in one buffer
 * that grows by doubling (capped at `maxMessageSize`): memory follows the bytes received,
 * never the number of fragments (a flood of 1-byte fragments costs no per-fragment objects).
 */
import { Buffer } from 'node:buffer';
import { MAX_FRAGMENT } from './constants.js';

export class Reassembly {
  readonly #max: number;
  #buffer: Buffer | null = null;
  #length = 0;
  #active = false;

  constructor(maxMessageSize: number) {
    this.#max = maxMessageSize;
  }

  /** Whether a message is between fragments (a DataMore came, its Data not yet). */
  get active(): boolean {
    return this.#active;
  }

  /** Bytes held so far. */
  get length(): number {
    return this.#length;
  }

  /** Appends a fragment; false (nothing appended) if the message would exceed `maxMessageSize`. */
  append(payload: Buffer): boolean {
    const need = this.#length + payload.length;
    if (need > this.#max) return false;
    this.#active = true;
    const current = this.#buffer;
    if (!current || current.length < need) {
      const grown = Buffer.allocUnsafeSlow(
        Math.min(this.#max, Math.max(need, 2 * (current?.length ?? 0), MAX_FRAGMENT)),
      );
      current?.copy(grown, 0, 0, this.#length);
      this.#buffer = grown;
    }
    payload.copy(this.#buffer!, this.#length);
    this.#length = need;
    return true;
  }

  /** The whole message (after its last fragment was appended); the buffer is let go. */
  take(): Buffer {
    const message = this.#buffer!.subarray(0, this.#length);
    this.clear();
    return message;
  }

  clear(): void {
    this.#buffer = null;
    this.#length = 0;
    this.#active = false;
  }
}
