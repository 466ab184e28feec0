/**
 * A floor, not a protocol: the least node:crypto work that a record of secsess's default
 * suite (AES-256-CBC, then HMAC-SHA256 over the header, IV and ciphertext) can cost. Sealing
 * is one `update` on a long-lived AES context and two one-shot SHA-256 calls (HMAC's inner
 * and outer hash, with the pads prepared once); opening is the same two hashes, a
 * comparison and one `update`. The record has secsess's size and layout.
 *
 * Left out on purpose, because a real protocol needs them: fresh IVs (the IV field is sent
 * as zeros and the contexts simply chain), sequence numbers, key updates, every check
 * beyond the tag, and all framing state. Whatever secsess costs above this is its own code;
 * what this costs is the price of the primitives through node:crypto's per-call API.
 *
 * The bench uses it twice: beside `record-*-seal`/`-open` (in-process), and as the `floor`
 * kind of the ping-pong scenarios (raw TCP carrying these records, both sides doing the work),
 * which shows what any CBC+HMAC record protocol over node:crypto can reach on this machine.
 */
import { createCipheriv, createDecipheriv, hash } from 'node:crypto';
import type { Cipher, Decipher } from 'node:crypto';

const KEY = Buffer.alloc(32, 0x4b);
const MAC_KEY = Buffer.alloc(32, 0x4d);
const BLOCK = 64;
const HEADER = 4;
const IV = 16;
const TAG = 32;
const INNER = 13;

export class FloorRecords {
  readonly #enc: Cipher = createCipheriv('aes-256-cbc', KEY, Buffer.alloc(16)).setAutoPadding(false);
  readonly #dec: Decipher = createDecipheriv('aes-256-cbc', KEY, Buffer.alloc(16)).setAutoPadding(false);
  /** K ⊕ ipad. */
  readonly #ipad = Buffer.alloc(BLOCK, 0x36);
  /** K ⊕ opad, then room for the inner digest. */
  readonly #outer = Buffer.alloc(BLOCK + TAG, 0x5c);
  #scratch = Buffer.alloc(1024);

  constructor() {
    for (let i = 0; i < MAC_KEY.length; i++) {
      this.#ipad[i]! ^= MAC_KEY[i]!;
      this.#outer[i]! ^= MAC_KEY[i]!;
    }
    this.#outer.fill(0, BLOCK);
  }

  /** One record carrying `payload`: 0x17 ‖ u24 length ‖ IV ‖ ciphertext ‖ tag. */
  seal(payload: Buffer): Buffer {
    const ctLength = (Math.floor((INNER + payload.length) / 16) + 1) * 16;
    const size = HEADER + IV + ctLength + TAG;
    const buf = Buffer.allocUnsafe(BLOCK + size);
    buf[BLOCK] = 0x17;
    buf[BLOCK + 1] = (size - HEADER) >>> 16;
    buf[BLOCK + 2] = (size - HEADER) >>> 8;
    buf[BLOCK + 3] = size - HEADER;
    buf.fill(0, BLOCK + HEADER, BLOCK + HEADER + IV);
    const plain = this.#room(ctLength);
    plain.fill(0, 0, INNER);
    plain.writeUInt32BE(payload.length, 9);
    plain.set(payload, INNER);
    plain.fill(ctLength - INNER - payload.length, INNER + payload.length, ctLength);
    buf.set(this.#enc.update(plain.subarray(0, ctLength)), BLOCK + HEADER + IV);
    const macEnd = BLOCK + HEADER + IV + ctLength;
    buf.set(this.#ipad, 0);
    this.#outer.write(hash('sha256', buf.subarray(0, macEnd), 'binary'), BLOCK, 'binary');
    buf.write(hash('sha256', this.#outer, 'binary'), macEnd, 'binary');
    return buf.subarray(BLOCK);
  }

  /** The payload of one whole record; throws if its tag is wrong. */
  open(frame: Buffer): Buffer {
    const macStart = frame.length - TAG;
    const covered = this.#room(BLOCK + macStart);
    covered.set(this.#ipad, 0);
    covered.set(frame.subarray(0, macStart), BLOCK);
    this.#outer.write(hash('sha256', covered.subarray(0, BLOCK + macStart), 'binary'), BLOCK, 'binary');
    const expected = hash('sha256', this.#outer, 'binary');
    let diff = 0;
    for (let i = 0; i < TAG; i++) diff |= expected.charCodeAt(i) ^ frame[macStart + i]!;
    if (diff !== 0) throw new Error('floor record: bad tag');
    const plain = this.#dec.update(frame.subarray(HEADER + IV, macStart));
    return plain.subarray(INNER, INNER + plain.readUInt32BE(9));
  }

  #room(size: number): Buffer {
    if (this.#scratch.length < size) this.#scratch = Buffer.alloc(Math.max(size, 2 * this.#scratch.length));
    return this.#scratch;
  }
}

/** Splits a byte stream of floor records and opens each: returns the 'data' handler. */
export function floorReader(
  records: FloorRecords,
  onPayload: (payload: Buffer) => void,
): (chunk: Buffer) => void {
  let pending: Buffer | null = null;
  return (chunk) => {
    const buf: Buffer = pending ? Buffer.concat([pending, chunk]) : chunk;
    let at = 0;
    while (buf.length - at >= HEADER) {
      const end = at + HEADER + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
      if (end > buf.length) break;
      onPayload(records.open(at === 0 && end === buf.length ? buf : buf.subarray(at, end)));
      at = end;
    }
    pending = at === buf.length ? null : buf.subarray(at);
  };
}
