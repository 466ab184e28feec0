import { SecsessError } from '@secsess/keys';

/**
 * Stable error codes raised by the protocol and its transports. Each is documented in
 * README.md ("Error codes") with what the user should do about it.
 */
export const ErrorCode = {
  /** The handshake failed: bad proof, bad key material, malformed handshake message. */
  HANDSHAKE: 'ERR_HANDSHAKE',
  /** The server does not hold the key the client named (or the pinned key does not match). */
  SERVER_KEY_MISMATCH: 'ERR_SERVER_KEY_MISMATCH',
  /** The peer speaks a protocol version (or magic) we do not. */
  UNSUPPORTED_VERSION: 'ERR_UNSUPPORTED_VERSION',
  /** The client's algorithm `Set` is not one the server accepts. */
  SUITE_MISMATCH: 'ERR_SUITE_MISMATCH',
  /** A record failed authentication. Deliberately one code for every record-level check. */
  RECORD_AUTH: 'ERR_RECORD_AUTH',
  /** A frame's length field exceeds the configured limit. Checked before anything is buffered. */
  RECORD_TOO_LARGE: 'ERR_RECORD_TOO_LARGE',
  /** A reassembled message would exceed `maxMessageSize`. */
  MESSAGE_TOO_LARGE: 'ERR_MESSAGE_TOO_LARGE',
  /** The peer broke the protocol's rules (unexpected message, bad field) after authentication. */
  PROTOCOL: 'ERR_PROTOCOL',
  /** The peer closed the session with an authenticated close record carrying a non-normal code. */
  CLOSED_BY_PEER: 'ERR_CLOSED_BY_PEER',
  /** The transport ended without an authenticated close: possible truncation. */
  TRUNCATED: 'ERR_TRUNCATED',
  /** The peer exhausted a key's record or byte budget without updating its key. */
  KEY_EXHAUSTED: 'ERR_KEY_EXHAUSTED',
  /** The server refused this client (client authentication or authorization). */
  NOT_AUTHORIZED: 'ERR_NOT_AUTHORIZED',
  /** The peer reported an internal failure. */
  PEER_ERROR: 'ERR_PEER_ERROR',
  /** Connect, handshake, idle or close time limit reached. */
  TIMEOUT: 'ERR_TIMEOUT',
  /** The operation was aborted through its AbortSignal. */
  ABORTED: 'ERR_ABORTED',
  /** The session is closed (or closing): no more writes or reads. */
  SESSION_CLOSED: 'ERR_SESSION_CLOSED',
  /**
   * `write()` after `end()`: this side has ended its sending direction (sent End) and sends
   * no more messages. The session stays open for reading.
   */
  WRITE_AFTER_END: 'ERR_WRITE_AFTER_END',
  /** The transport could not connect or failed underneath the session. */
  TRANSPORT: 'ERR_TRANSPORT',
  /**
   * The server refused the connection because a load limit was reached (concurrent
   * handshakes, handshakes from this address, queued RSA work, connections). Retry later,
   * with backoff.
   */
  SERVER_BUSY: 'ERR_SERVER_BUSY',
  /**
   * Server side, PROXY protocol (`proxyProtocol`): a connection from a trusted address did not
   * begin with a valid PROXY header in time (malformed, oversized, unsupported family, closed
   * or too slow), or one from an untrusted address began with a PROXY signature. The
   * connection is dropped before any secsess byte is exchanged.
   */
  PROXY_PROTOCOL: 'ERR_PROXY_PROTOCOL',
  /**
   * `write()` found `maxBufferedAmount` bytes already buffered: the peer does not read and
   * the application did not wait for earlier writes. The session is ended.
   */
  BUFFER_FULL: 'ERR_BUFFER_FULL',
  /**
   * Server side: a client offered a key this server does not verify (not RSA, outside
   * 2048–4096 bits, a public exponent other than 65537). The client sees ERR_NOT_AUTHORIZED.
   */
  CLIENT_KEY_UNSUPPORTED: 'ERR_CLIENT_KEY_UNSUPPORTED',
  /**
   * The call is not valid in the object's current state: `connect()` on a client that is
   * connected or connecting, `start()` on a server that is starting or running; a session
   * fails with it when a `'message'` listener transferred the ArrayBuffer that the other
   * messages of the same record share (transfer a copy).
   */
  INVALID_STATE: 'ERR_INVALID_STATE',
  /**
   * Datagrams: a record was a duplicate, older than the replay window, or (sequential mode)
   * out of sequence. Thrown only by `DatagramInbound.decode()`; sessions count and drop.
   */
  REPLAY: 'ERR_REPLAY',
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Any failure of a secsess session or handshake. `code` is one of {@link ErrorCode}. */
export class SessionError extends SecsessError {
  declare readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The handshake did not complete. */
export class HandshakeError extends SessionError {}

/**
 * A record could not be accepted. The message never says which check failed (MAC, padding,
 * sequence, length): an attacker learns only that the record was rejected.
 */
export class RecordError extends SessionError {}

/** The peer ended the session with an authenticated close carrying a code and a reason. */
export class PeerClosedError extends SessionError {
  /** The close code the peer sent (1000 is a normal close). */
  readonly closeCode: number;
  /** The reason text the peer sent (UTF-8, at most 123 bytes). */
  readonly reason: string;

  constructor(closeCode: number, reason: string) {
    super(
      ErrorCode.CLOSED_BY_PEER,
      `session closed by peer with code ${closeCode}${reason ? `: ${reason}` : ''}`,
    );
    this.closeCode = closeCode;
    this.reason = reason;
  }
}

/** A time limit (connect, handshake, idle, close) was reached. `limit` names which. */
export class TimeoutError extends SessionError {
  readonly limit: 'connect' | 'handshake' | 'idle' | 'close';

  constructor(limit: 'connect' | 'handshake' | 'idle' | 'close', ms: number) {
    super(ErrorCode.TIMEOUT, `${limit} timed out after ${ms} ms`);
    this.limit = limit;
  }
}

/** The one message every rejected record gets, whatever check failed. */
export const RECORD_REJECTED = 'record rejected: authentication failed';

export function recordError(): RecordError {
  return new RecordError(ErrorCode.RECORD_AUTH, RECORD_REJECTED);
}
