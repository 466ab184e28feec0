/** Argument checks and conversions of the session API. */
import { Buffer } from 'node:buffer';
import { ErrorCode, HandshakeError, MAX_CLOSE_REASON_BYTES, SessionError } from '../protocol/index.js';
import { noop } from '../common/deferred.js';

/** What `write()` accepts. Strings are sent as UTF-8. */
export type MessageData = Buffer | Uint8Array | string;

/**
 * Marks a fire-and-forget promise as handled, so `void session.write(x)` on a session
 * that then fails does not become an unhandled rejection that kills the process: the
 * failure is reported through `read()`, `'error'` and `'close'` anyway. Awaiting the
 * promise still sees the rejection.
 */
export function observed<T>(promise: Promise<T>): Promise<T> {
  promise.catch(noop);
  return promise;
}

/** Transport chunks as the core wants them; a Duplex in string or Uint8Array mode works too. */
export function asBuffer(chunk: Buffer | Uint8Array | string): Buffer {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, 'latin1');
  return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
}

export function toBuffer(data: MessageData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  throw new TypeError('data must be a Buffer, a Uint8Array or a string');
}

export function checkClose(code: number, reason: string): void {
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code > 0xffff) {
    throw new RangeError('close code must be an integer from 0 to 65535');
  }
  if (typeof reason !== 'string') throw new TypeError('close reason must be a string');
  if (Buffer.byteLength(reason, 'utf8') > MAX_CLOSE_REASON_BYTES) {
    throw new RangeError(`close reason must be at most ${MAX_CLOSE_REASON_BYTES} bytes of UTF-8`);
  }
}

export function toSessionError(err: unknown, inHandshake: boolean): SessionError {
  if (err instanceof SessionError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return inHandshake
    ? new HandshakeError(ErrorCode.HANDSHAKE, `handshake: ${message}`, { cause: err })
    : new SessionError(ErrorCode.PROTOCOL, `internal error: ${message}`, { cause: err });
}
