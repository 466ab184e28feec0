/**
 * The DataBatch payload (PROTOCOL.md §5 "Record types"): one or more entries
 * `u32 length ‖ bytes` that exactly fill it. A batch is checked whole before any of its
 * messages is delivered, so a malformed one delivers nothing.
 */
import type { Buffer } from 'node:buffer';

/** An entry's u32 length, read by hand (Buffer#readUInt32BE's checks cost more, per message). */
export function readBatchLength(buf: Buffer, at: number): number {
  return ((buf[at]! << 24) | (buf[at + 1]! << 16) | (buf[at + 2]! << 8) | buf[at + 3]!) >>> 0;
}

/**
 * Checks a whole batch: `'malformed'` (empty, a length past the end, 1–3 bytes left over),
 * `'tooLarge'` (an entry over `maxMessageSize`), or null when every entry may be delivered.
 */
export function checkBatch(payload: Buffer, maxMessageSize: number): 'malformed' | 'tooLarge' | null {
  const end = payload.length;
  if (end === 0) return 'malformed';
  let at = 0;
  while (at < end) {
    if (end - at < 4) return 'malformed';
    const len = readBatchLength(payload, at);
    if (len > end - at - 4) return 'malformed';
    if (len > maxMessageSize) return 'tooLarge';
    at += 4 + len;
  }
  return null;
}
