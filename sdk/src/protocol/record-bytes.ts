/**
 * The byte-level pieces of the record formats (PROTOCOL.md §5, §D4) that the stream record
 * layer (record-layer.ts) and the datagram codec (datagram/record-codec.ts) share: big-endian
 * stores and loads, the stream frame header, payload parts laid out, PKCS#7 checked.
 *
 * Byte stores rather than Buffer#writeUInt32BE: these run several times per record, and the
 * Buffer methods' argument checks cost more than the stores (a Uint8Array store keeps the low
 * 8 bits). Every value is in range by construction.
 */
import { Buffer } from 'node:buffer';
import { AES_BLOCK, FrameType } from './constants.js';

type ViewConstructor = new (bytes: ArrayBufferLike, offset: number, length: number) => Buffer;

/**
 * The class of Node's Buffers (`Buffer[Symbol.species]`, what `Buffer.from(arrayBuffer,
 * offset, length)` constructs), to make a message's view of an opened record without
 * Buffer.from's argument checks or subarray()'s species lookup: a third of what handing a
 * 16-byte message to its listener costs (bench pipeline-16). `Buffer.from` where a runtime
 * does not expose it. Callers pass ranges already checked to lie inside `bytes`.
 */
export const BufferView: ViewConstructor = (() => {
  const species = (Buffer as unknown as { readonly [Symbol.species]?: unknown })[Symbol.species];
  if (typeof species === 'function' && species !== Buffer) {
    const View = species as ViewConstructor;
    try {
      const probe = new View(new ArrayBuffer(4), 1, 2);
      if (Buffer.isBuffer(probe) && probe.byteOffset === 1 && probe.length === 2) return View;
    } catch {
      // not a constructor of views: Buffer.from below
    }
  }
  return function View(bytes: ArrayBufferLike, offset: number, length: number): Buffer {
    return Buffer.from(bytes, offset, length);
  } as unknown as ViewConstructor;
})();

export function writeSeq(buf: Buffer, seq: number, offset = 0): void {
  const high = Math.floor(seq / 0x100000000);
  const low = seq >>> 0;
  buf[offset] = high >>> 24;
  buf[offset + 1] = high >>> 16;
  buf[offset + 2] = high >>> 8;
  buf[offset + 3] = high;
  buf[offset + 4] = low >>> 24;
  buf[offset + 5] = low >>> 16;
  buf[offset + 6] = low >>> 8;
  buf[offset + 7] = low;
}

export function writeU32(buf: Buffer, value: number, offset: number): void {
  buf[offset] = value >>> 24;
  buf[offset + 1] = value >>> 16;
  buf[offset + 2] = value >>> 8;
  buf[offset + 3] = value;
}

export function readU32(buf: Buffer, offset: number): number {
  return ((buf[offset]! << 24) | (buf[offset + 1]! << 16) | (buf[offset + 2]! << 8) | buf[offset + 3]!) >>> 0;
}

/** The stream frame header: record type and u24 body length (a record body is far below 2^24 bytes). */
export function writeRecordHeader(buf: Buffer, offset: number, bodyLength: number): void {
  buf[offset] = FrameType.Record;
  buf[offset + 1] = bodyLength >>> 16;
  buf[offset + 2] = bodyLength >>> 8;
  buf[offset + 3] = bodyLength;
}

/**
 * PKCS#7: the last byte n (1–16) and the n bytes before it all equal n. Returns the length
 * without the padding, or -1 if the padding is bad (checked over a fixed span, no early exit).
 * Callers run it on authentic records only.
 */
export function pkcs7Length(padded: Buffer): number {
  const n = padded[padded.length - 1]!;
  let bad = n === 0 || n > AES_BLOCK ? 1 : 0;
  for (let i = padded.length - Math.min(n, AES_BLOCK); i < padded.length; i++) bad |= padded[i]! ^ n;
  return bad === 0 ? padded.length - n : -1;
}

/** Copies `payload` (one buffer or parts) into `buf` at `at`; returns where it ends. */
export function putPayload(buf: Buffer, at: number, payload: Buffer | readonly Buffer[]): number {
  // TypedArray#set: whole-buffer copies without Buffer#copy's argument handling.
  if (Buffer.isBuffer(payload)) {
    buf.set(payload, at);
    return at + payload.length;
  }
  for (const p of payload) {
    buf.set(p, at);
    at += p.length;
  }
  return at;
}
