/**
 * `@secsess/sdk`: secure sessions over TCP (or any Duplex) on Node.js, bootstrapped by RSA.
 *
 * SecSess's shape — `Server.create(endpoint, privateKey, set)`, `start()`, `acceptClient()`,
 * `Client.create(publicKey, set)`, `connect()`, `read()`, `write()`, `flushStream()`,
 * `close()`, `stop()` — with Node's idioms beside it: events, async iteration, a Duplex
 * view, AbortSignal and `await using`.
 */
export { Server } from './server.js';
export type { RefusalLimit, RemoteInfo, ServerEvents } from './server.js';
export { Client } from './client.js';
export { Session } from './session.js';
export type { MessageData, SessionEvents, SessionState } from './session.js';
export { secureDuplex } from './secure-duplex.js';
export { probeServerKey } from './probe.js';
export type { ProbeOptions } from './probe.js';
export type { TrustMode, TrustOptions } from './trust.js';
export type { AuthorizationOptions, AuthorizeHook, DenialReason, PeerInfo } from './authorization.js';
export type { SecureClientOptions, SecureDuplexOptions, SecureServerOptions } from './secure-duplex.js';
export { formatEndpoint, parseEndpoint } from './endpoint.js';
export type { Endpoint, EndpointInput } from './endpoint.js';
export type { ClientOptions, ServerOptions, SessionOptions } from './options.js';
export type { PrivateKeyInput, PublicKeyInput } from './key-input.js';
export {
  CLOSE_ABNORMAL,
  CLOSE_TRY_AGAIN_LATER,
  DEFAULT_BUSY_RETRIES,
  DEFAULT_CLOSE_TIMEOUT,
  DEFAULT_CONNECT_TIMEOUT,
  DEFAULT_HANDSHAKE_BURST,
  DEFAULT_HANDSHAKE_RATE,
  DEFAULT_HANDSHAKE_TIMEOUT,
  DEFAULT_IDLE_TIMEOUT,
  DEFAULT_MAX_BUFFERED_AMOUNT,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_HANDSHAKES,
  DEFAULT_MAX_HANDSHAKES_PER_ADDRESS,
  DEFAULT_MAX_PENDING_DECRYPTS,
  DEFAULT_MAX_PENDING_SESSIONS,
  DEFAULT_READABLE_HIGH_WATER_MARK,
  DEFAULT_SERVER_IDLE_TIMEOUT,
} from './defaults.js';
export {
  ALL_SUITES,
  Asymmetric,
  CLOSE_GOING_AWAY,
  CLOSE_NORMAL,
  DEFAULT_MAX_MESSAGE_SIZE,
  DEFAULT_SET,
  ErrorCode,
  Hash,
  HandshakeError,
  PeerClosedError,
  RecordError,
  SessionError,
  Symmetric,
  TimeoutError,
} from './protocol/index.js';
export type { AlgorithmSet, Suite } from './protocol/index.js';
// The key types, so SecSess users need one import; they live in @secsess/keys.
export {
  AuthorizedKeys,
  KeyError,
  KeyPair,
  KnownHosts,
  PrivateKey,
  PublicKey,
  SecsessError,
  TrustError,
} from '@secsess/keys';
