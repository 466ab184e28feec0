/**
 * The coded errors for frames the connection refuses: a header the frame reader would not
 * accept (what it means depends on the handshake's progress), and a received message's
 * memory taken away by a listener.
 */
import { FrameType } from './constants.js';
import { ErrorCode, HandshakeError, SessionError } from './errors.js';
import { protocolError } from './end-records.js';
import type { FrameHeaderError } from './frame-reader.js';

/**
 * The error for a refused frame header: `handshake` while the handshake is under way, `keys`
 * once its keys exist.
 */
export function headerError(err: FrameHeaderError, handshake: boolean, keys: boolean): SessionError {
  if (handshake && err.type === FrameType.Record && !keys) {
    // A record before any keys exist (a replayed stream sent in one piece): not a record
    // problem, a handshake out of order.
    return new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: record received before the keys were agreed');
  }
  if (handshake && err.type === FrameType.Record) {
    // Keys exist but the peer has not confirmed them: a first record longer than its
    // Finished can be is a failed handshake (plaintext HandshakeFailed), not a record error.
    return new HandshakeError(ErrorCode.HANDSHAKE, 'handshake: record too large for this step');
  }
  if (handshake) {
    return new HandshakeError(
      ErrorCode.HANDSHAKE,
      err.reason === 'type'
        ? 'handshake: unexpected data from peer (not a secsess handshake message)'
        : 'handshake: handshake message too large',
    );
  }
  if (err.reason === 'type' && err.type !== FrameType.Record) {
    return protocolError('unexpected frame type');
  }
  return new SessionError(ErrorCode.RECORD_TOO_LARGE, 'record length exceeds the limit');
}

/** A 'message' listener detached (transferred) the ArrayBuffer its record's messages share. */
export function detachedByListener(): SessionError {
  return new SessionError(
    ErrorCode.INVALID_STATE,
    "a 'message' listener transferred a received message's ArrayBuffer, which the rest of its record shares: transfer a copy (Buffer.from(message))",
  );
}
