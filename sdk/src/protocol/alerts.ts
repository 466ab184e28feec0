/** Alerts (PROTOCOL.md §8): the alert each error sends, and the error each received alert stands for. */
import { AlertCode } from './constants.js';
import { ErrorCode, HandshakeError, SessionError } from './errors.js';

/** The alert sent for each error code (none for codes not listed). */
export const ALERT_FOR_CODE: Partial<Record<ErrorCode, AlertCode>> = {
  [ErrorCode.UNSUPPORTED_VERSION]: AlertCode.UnsupportedVersion,
  [ErrorCode.SUITE_MISMATCH]: AlertCode.SuiteMismatch,
  [ErrorCode.SERVER_KEY_MISMATCH]: AlertCode.UnknownServerKey,
  [ErrorCode.HANDSHAKE]: AlertCode.HandshakeFailed,
  [ErrorCode.RECORD_AUTH]: AlertCode.RecordRejected,
  [ErrorCode.RECORD_TOO_LARGE]: AlertCode.RecordRejected,
  [ErrorCode.MESSAGE_TOO_LARGE]: AlertCode.MessageTooLarge,
  [ErrorCode.PROTOCOL]: AlertCode.Protocol,
  [ErrorCode.NOT_AUTHORIZED]: AlertCode.NotAuthorized,
  [ErrorCode.CLIENT_KEY_UNSUPPORTED]: AlertCode.NotAuthorized,
  [ErrorCode.KEY_EXHAUSTED]: AlertCode.KeyExhausted,
  [ErrorCode.TIMEOUT]: AlertCode.Timeout,
  [ErrorCode.SERVER_BUSY]: AlertCode.ServerBusy,
};

const PEER_ALERT: Record<number, [ErrorCode, string]> = {
  [AlertCode.UnsupportedVersion]: [
    ErrorCode.UNSUPPORTED_VERSION,
    'peer does not support this protocol version',
  ],
  [AlertCode.SuiteMismatch]: [ErrorCode.SUITE_MISMATCH, 'server does not accept this algorithm set'],
  [AlertCode.UnknownServerKey]: [
    ErrorCode.SERVER_KEY_MISMATCH,
    'server does not hold the key the client trusts',
  ],
  [AlertCode.HandshakeFailed]: [ErrorCode.HANDSHAKE, 'peer reported a failed handshake'],
  [AlertCode.RecordRejected]: [ErrorCode.RECORD_AUTH, 'peer rejected a record'],
  [AlertCode.MessageTooLarge]: [ErrorCode.MESSAGE_TOO_LARGE, 'peer refused a message as too large'],
  [AlertCode.Protocol]: [ErrorCode.PROTOCOL, 'peer reported a protocol violation'],
  [AlertCode.NotAuthorized]: [ErrorCode.NOT_AUTHORIZED, 'server refused this client: not authorized'],
  [AlertCode.KeyExhausted]: [ErrorCode.KEY_EXHAUSTED, 'peer reported a key budget exceeded'],
  [AlertCode.Timeout]: [ErrorCode.TIMEOUT, 'peer timed out'],
  [AlertCode.ServerBusy]: [ErrorCode.SERVER_BUSY, 'server is busy; try again later'],
};

/** Errors that stand for an alert the peer sent: failing with one sends no alert back. */
export const fromPeerAlert = new WeakSet<SessionError>();

/** The error a received alert code stands for; a HandshakeError while the handshake runs. */
export function errorForAlert(code: number, duringHandshake = false): SessionError {
  const [errCode, message] = PEER_ALERT[code] ?? [ErrorCode.PEER_ERROR, `peer failed (alert ${code})`];
  const error = duringHandshake
    ? new HandshakeError(errCode, `handshake: ${message}`)
    : new SessionError(errCode, message);
  fromPeerAlert.add(error);
  return error;
}
