/**
 * The records that end a direction or the session (PROTOCOL.md §5 "Close", "Half-close
 * (End)"): the Close payload, u16 code ‖ UTF-8 reason of at most 123 bytes, made and read
 * with its checks; End, whose payload is empty; and the receiver's refusals of both.
 * Connection (connection.ts) decides what happens once one is accepted.
 */
import { Buffer } from 'node:buffer';
import { MAX_CLOSE_REASON_BYTES } from './constants.js';
import { ErrorCode, SessionError } from './errors.js';

/** Close reasons must be valid UTF-8: a fatal decoder throws on any bad sequence. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

/** ERR_PROTOCOL: the peer broke a receiver rule after authentication. */
export function protocolError(what: string): SessionError {
  return new SessionError(ErrorCode.PROTOCOL, `protocol: ${what}`);
}

/** A Close payload; RangeError for a code outside u16 or a reason over 123 bytes of UTF-8. */
export function encodeClose(code: number, reason: string): Buffer {
  if (!Number.isInteger(code) || code < 0 || code > 0xffff) {
    throw new RangeError('close code must be an integer from 0 to 65535');
  }
  const reasonBytes = Buffer.from(reason, 'utf8');
  if (reasonBytes.length > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(`close reason must be at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8`);
  }
  const body = Buffer.allocUnsafe(2 + reasonBytes.length);
  body.writeUInt16BE(code);
  reasonBytes.copy(body, 2);
  return body;
}

/**
 * A received Close payload, checked: 2–125 bytes, a well-formed UTF-8 reason, and not
 * between the fragments of a message (a Close there would end the session "normally" with
 * a message cut short: truncation must always be detectable).
 */
export function decodeClose(payload: Buffer, betweenFragments: boolean): { code: number; reason: string } {
  if (payload.length < 2 || payload.length > 2 + MAX_CLOSE_REASON_BYTES) {
    throw protocolError('malformed close');
  }
  if (betweenFragments) throw protocolError('close between the fragments of a message');
  const code = payload.readUInt16BE(0);
  try {
    return { code, reason: UTF8.decode(payload.subarray(2)) };
  } catch {
    throw protocolError('malformed close (reason is not UTF-8)');
  }
}

/**
 * A received End, checked: an empty payload, the peer's first, and not between the
 * fragments of a message (which would cut that message short).
 */
export function checkEnd(payload: Buffer, alreadyEnded: boolean, betweenFragments: boolean): void {
  if (payload.length !== 0) throw protocolError('end with a payload');
  if (alreadyEnded) throw protocolError('a second end');
  if (betweenFragments) throw protocolError('end between the fragments of a message');
}
