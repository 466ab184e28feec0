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
import { createCipheriv, createDecipheriv, createHash, hash } from 'node:crypto';
import type { Cipher, Decipher } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';

/** Node's Buffer class (what Buffer.from(arrayBuffer, …) constructs). */
const BufferView = (
  Buffer as unknown as { readonly [Symbol.species]: new (b: ArrayBufferLike, o: number, l: number) => Buffer }
)[Symbol.species];

const KEY = Buffer.alloc(32, 0x4b);
const MAC_KEY = Buffer.alloc(32, 0x4d);
const BLOCK = 64;
const HEADER = 4;
const IV = 16;
const TAG = 32;
const INNER = 13;

/** Records of one floor: a sealed record per payload, a whole record's payload back. */
export interface FloorCodec {
  seal(payload: Buffer): Buffer;
  open(frame: Buffer): Buffer;
}

export class FloorRecords implements FloorCodec {
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
    let inner: string;
    if (macStart >= 16384) {
      // Large: hashed where it lies (a copy would cost more than a streaming hash's setup).
      inner = createHash('sha256').update(this.#ipad).update(frame.subarray(0, macStart)).digest('binary');
    } else {
      const covered = this.#room(BLOCK + macStart);
      covered.set(this.#ipad, 0);
      covered.set(frame.subarray(0, macStart), BLOCK);
      inner = hash('sha256', covered.subarray(0, BLOCK + macStart), 'binary');
    }
    this.#outer.write(inner, BLOCK, 'binary');
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

/**
 * Splits a byte stream of floor records and opens each: returns the 'data' handler. A record
 * that spans chunks is copied once into a buffer of its own (what any reader must do before
 * authenticating it); a chunk's whole records are opened where they lie.
 */
export function floorReader(
  records: FloorCodec,
  onPayload: (payload: Buffer) => void,
): (chunk: Buffer) => void {
  const held: Buffer[] = [];
  let heldBytes = 0;
  return (chunk) => {
    let buf = chunk;
    if (heldBytes > 0) {
      held.push(chunk);
      heldBytes += chunk.length;
      if (heldBytes < HEADER) return;
      if (held[0]!.length < HEADER) held.splice(0, held.length, Buffer.concat(held, heldBytes));
      const first = held[0]!;
      if (heldBytes < HEADER + ((first[1]! << 16) | (first[2]! << 8) | first[3]!)) return;
      buf = Buffer.concat(held, heldBytes);
      held.length = 0;
      heldBytes = 0;
    }
    let at = 0;
    while (buf.length - at >= HEADER) {
      const end = at + HEADER + ((buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!);
      if (end > buf.length) break;
      onPayload(records.open(at === 0 && end === buf.length ? buf : buf.subarray(at, end)));
      at = end;
    }
    if (at < buf.length) {
      held.push(buf.subarray(at));
      heldBytes = buf.length - at;
    }
  };
}

/** Largest batch payload, as secsess's default fragment size. */
const BATCH_MAX = 65536;

/**
 * Messages over floor records, for `pipeline-16` (kind `floor`, sink mode): what a
 * message-oriented protocol must at least do per message on top of the records. The sender
 * copies each message into a batch (u32 length ‖ bytes, as secsess's DataBatch) sealed on a
 * microtask or when full; the receiver opens each record and hands every message to its
 * listeners as a Buffer through an EventEmitter (`'message'`), as secsess's API does. The
 * records are the CBC floor's unless another codec is given (floor-aead.ts).
 */
export class FloorMessages extends EventEmitter {
  readonly #records: FloorCodec;
  readonly #socket: Socket;
  #batch = Buffer.allocUnsafe(BATCH_MAX);
  #length = 0;
  #scheduled = false;
  /** A write to the socket returned false and its 'drain' has not come yet. */
  #blocked = false;
  #drained: Promise<void> | null = null;
  #wake: (() => void) | null = null;
  readonly #flush = (): void => {
    this.#scheduled = false;
    this.#seal();
  };

  constructor(socket: Socket, records: FloorCodec = new FloorRecords()) {
    super();
    this.#records = records;
    this.#socket = socket;
    // Every 'drain' unblocks, waited for or not: a flag left set by a 'drain' nobody waited
    // for would make the next writer wait for one that never comes.
    socket.on('drain', () => {
      this.#blocked = false;
      const wake = this.#wake;
      this.#wake = null;
      this.#drained = null;
      wake?.();
    });
    socket.on(
      'data',
      floorReader(this.#records, (payload) => {
        // Views made as secsess makes them (Node's Buffer class on the record's ArrayBuffer,
        // sdk/src/protocol/record-bytes.ts BufferView), so the floor stays the least work.
        const bytes = payload.buffer;
        const base = payload.byteOffset;
        for (let at = 0; at < payload.length;) {
          const start = at + 4;
          at =
            start +
            (((payload[at]! << 24) |
              (payload[at + 1]! << 16) |
              (payload[at + 2]! << 8) |
              payload[at + 3]!) >>>
              0);
          this.emit('message', new BufferView(bytes, base + start, at - start));
        }
      }),
    );
  }

  /** Queues one message; returns false when the socket asks the writer to wait for 'drain'. */
  write(message: Buffer): boolean {
    if (this.#length + 4 + message.length > BATCH_MAX) this.#seal();
    const at = this.#length;
    const batch = this.#batch;
    const length = message.length;
    batch[at] = length >>> 24;
    batch[at + 1] = length >>> 16;
    batch[at + 2] = length >>> 8;
    batch[at + 3] = length;
    batch.set(message, at + 4);
    this.#length = at + 4 + message.length;
    if (!this.#scheduled) {
      this.#scheduled = true;
      queueMicrotask(this.#flush);
    }
    return !this.#blocked;
  }

  #seal(): void {
    if (this.#length === 0) return;
    const record = this.#records.seal(this.#batch.subarray(0, this.#length));
    this.#length = 0;
    if (!this.#socket.write(record)) this.#blocked = true;
  }

  /** Resolves once the socket drained (at once if it is not blocked); one promise however many writers ask. */
  drained(): Promise<void> {
    if (!this.#blocked) return Promise.resolve();
    this.#drained ??= new Promise<void>((resolve) => (this.#wake = resolve));
    return this.#drained;
  }
}
