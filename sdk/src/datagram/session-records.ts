/**
 * The control records of an open datagram session (PROTOCOL.md §D4 "An accepted record is
 * handled by its type"): their payload rules, and the errors a broken rule or an Alert
 * stands for. Pure functions; the session (datagram-session.ts) acts on what they return.
 */
import { Buffer } from 'node:buffer';
import { fromPeerAlert } from '../protocol/alerts.js';
import { ALERT_FOR_CODE } from '../protocol/alerts.js';
import { DatagramRecordType } from '../protocol/datagram/constants.js';
import { ErrorCode, MAX_CLOSE_REASON_BYTES, SessionError, errorForAlert } from '../protocol/index.js';

/** Largest Ping or Pong payload (§D4). */
export const MAX_PING_PAYLOAD = 64;

/** Close reasons must be well-formed UTF-8 (Part I §5): a fatal decoder throws on any bad sequence. */
const UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function protocolError(what: string): SessionError {
  return new SessionError(ErrorCode.PROTOCOL, `protocol: ${what}`);
}

/** A Close record's payload; throws ERR_PROTOCOL if it breaks §5's rules. */
export function decodeClose(payload: Buffer): { code: number; reason: string } {
  if (payload.length < 2 || payload.length > 2 + MAX_CLOSE_REASON_BYTES) {
    throw protocolError('malformed close');
  }
  try {
    return { code: payload.readUInt16BE(0), reason: UTF8.decode(payload.subarray(2)) };
  } catch {
    throw protocolError('malformed close (reason is not UTF-8)');
  }
}

export function encodeClose(code: number, reason: string): Buffer {
  const reasonBytes = Buffer.from(reason, 'utf8');
  const payload = Buffer.allocUnsafe(2 + reasonBytes.length);
  payload.writeUInt16BE(code, 0);
  reasonBytes.copy(payload, 2);
  return payload;
}

/** The error an Alert record stands for (Part I §8); failing with it sends no alert back. */
export function alertError(payload: Buffer): SessionError {
  if (payload.length !== 2) {
    const error = new SessionError(ErrorCode.PEER_ERROR, 'peer failed (malformed alert)');
    fromPeerAlert.add(error);
    return error;
  }
  return errorForAlert(payload.readUInt16BE(0));
}

/** The Alert record payload due for `error`, or null (an error the peer's alert caused, or none mapped). */
export function alertFor(error: SessionError): Buffer | null {
  if (fromPeerAlert.has(error)) return null;
  const code = ALERT_FOR_CODE[error.code];
  if (code === undefined) return null;
  const payload = Buffer.allocUnsafe(2);
  payload.writeUInt16BE(code, 0);
  return payload;
}

/**
 * Checks an opened record against §D4's table; throws ERR_PROTOCOL for a record type an
 * open session never accepts from this peer (any unknown type, a Finished, a HandshakeDone
 * sent to a server) or a payload outside its bounds. Returns a Close's code and reason.
 */
export function checkRecord(
  type: number,
  payload: Buffer,
  role: 'client' | 'server',
): { code: number; reason: string } | null {
  switch (type) {
    case DatagramRecordType.Close:
      return decodeClose(payload);
    case DatagramRecordType.Data:
    case DatagramRecordType.Alert:
      return null;
    case DatagramRecordType.Ping:
    case DatagramRecordType.Pong:
      if (payload.length > MAX_PING_PAYLOAD)
        throw protocolError(`ping or pong over ${MAX_PING_PAYLOAD} bytes`);
      return null;
    case DatagramRecordType.HandshakeDone:
      if (role === 'server') throw protocolError('HandshakeDone sent to a server');
      if (payload.length !== 0) throw protocolError('HandshakeDone with a payload');
      return null;
    case DatagramRecordType.ServerFinished:
    case DatagramRecordType.ClientFinished:
      throw protocolError('Finished outside the handshake');
    default:
      throw protocolError(`unknown record type 0x${type.toString(16).padStart(2, '0')}`);
  }
}

/** Whether `packet` (a Record packet) names epoch 0, seq 0: the ClientFinished's place (§D3). */
export function isFirstRecord(packet: Buffer): boolean {
  // 0x47 ‖ conn_id (8) ‖ u32 epoch (offset 9) ‖ u48 seq (offset 13).
  return packet.length >= 19 && packet.readUInt32BE(9) === 0 && packet.readUIntBE(13, 6) === 0;
}

/** What operations meet once the session has ended: ERR_SESSION_CLOSED (cause: the failure). */
export function closedError(cause: SessionError | null): SessionError {
  return new SessionError(
    ErrorCode.SESSION_CLOSED,
    cause ? `session is closed (${cause.code}: ${cause.message})` : 'session is closed',
    cause ? { cause } : undefined,
  );
}
