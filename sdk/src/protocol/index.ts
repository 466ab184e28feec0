/**
 * The sans-IO protocol core: handshake state machines, record layer, key schedule.
 * No sockets, timers or process state; see sdk/src/stream/session.ts for the driver.
 * These are the core's exports for the rest of the sdk, internals included; users get the
 * curated, documented surface of `@secsess/sdk/core` (sdk/src/core.ts).
 */
export { ClientConnection } from './client-connection.js';
export type { ClientConnectionHandler, ClientConnectionOptions } from './client-connection.js';
export { ServerConnection } from './server-connection.js';
export type {
  DecryptRequest,
  ServerConnectionHandler,
  ServerConnectionOptions,
  VerifyRequest,
} from './server-connection.js';
export { Connection, errorForAlert } from './connection.js';
export type { ConnectionHandler, ConnectionOptions, ConnectionState, HandshakeInfo } from './connection.js';
export {
  ErrorCode,
  HandshakeError,
  PeerClosedError,
  RecordError,
  SessionError,
  TimeoutError,
} from './errors.js';
export { ALL_SUITES, Asymmetric, DEFAULT_SET, Hash, Symmetric, resolveSuite } from './suite.js';
export type { AlgorithmSet, Suite } from './suite.js';
export { oaepDecrypt, pssVerify } from './asymmetric.js';
export { TicketKey, openTicket, sealTicket } from './ticket.js';
export type { SessionTicket, TicketContext, TicketState } from './ticket.js';
export { encodeAlertFrame } from './handshake-messages.js';
export {
  AlertCode,
  BATCH_ENTRY_OVERHEAD,
  CLOSE_GOING_AWAY,
  CLOSE_NORMAL,
  DEFAULT_MAX_FRAGMENT,
  DEFAULT_MAX_MESSAGE_SIZE,
  MAX_CLOSE_REASON_BYTES,
  MAX_FRAGMENT,
  MAX_TICKET_LIFETIME,
  TICKET_KEY_SIZE,
  DEFAULT_TICKET_MAX_AGE,
  OAEP_LABEL,
  VERSION,
} from './constants.js';
