/**
 * `@secsess/sdk`: secure sessions over TCP (or any Duplex) on Node.js, bootstrapped by RSA.
 *
 * SecSess's shape — `Server.create(endpoint, privateKey, set)`, `start()`, `acceptClient()`,
 * `Client.create(publicKey, set)`, `connect()`, `read()`, `write()`, `flushStream()`,
 * `close()`, `stop()` — with Node's idioms beside it: events, async iteration, a Duplex
 * view, AbortSignal and `await using`.
 */
export { Server } from './server/server.js';
export type { RemoteInfo, ServerEvents, ServerReload } from './server/server.js';
export type { KeyProbe } from './protocol/key-probe.js';
export type { PoolCounts } from './server/decrypt-pool.js';
export type { RefusalLimit } from './server/handshake-limiter.js';
export { listenOn } from './server/listen.js';
export { borrowReads, connectBorrowing, readBorrowed } from './stream/borrowed-reads.js';
export type { InheritedSocket, ServerEndpointInput } from './server/listen.js';
export type { StopOptions } from './server/drain.js';
export type { ServerMetrics } from './server/server-metrics.js';
export {
  generateTicketKey,
  readTicketKeyFile,
  TICKET_KEY_BYTES,
  ticketKeyName,
  writeTicketKeyFile,
} from './server/ticket-key-file.js';
export type { WriteTicketKeyFileOptions } from './server/ticket-key-file.js';
export { Client } from './client/client.js';
export { TicketStore } from './client/ticket-store.js';
export type { TicketStoreOptions } from './client/ticket-store.js';
export { DEFAULT_TICKET_LIFETIME, DEFAULT_TICKET_MAX_AGE, MAX_TICKET_KEYS } from './server/tickets.js';
export type { TicketOptions } from './server/tickets.js';
export { Session } from './stream/session.js';
export type { MessageData } from './stream/session-util.js';
export type { SessionEvents, SessionState } from './stream/session-types.js';
export type { SessionStats } from './observe/session-stats.js';
export { secureDuplex } from './stream/secure-duplex.js';
export { probeServerKey } from './client/probe.js';
export type { ProbeOptions } from './client/probe.js';
export type { TrustMode, TrustOptions } from './client/trust.js';
export type { AuthorizationOptions, AuthorizeHook, DenialReason, PeerInfo } from './server/authorization.js';
export type {
  SecureClientOptions,
  SecureDuplexOptions,
  SecureServerOptions,
  StreamPair,
} from './stream/secure-duplex.js';
export { DatagramServer } from './datagram/datagram-server.js';
export type {
  DatagramRefusalLimit,
  DatagramServerCounters,
  DatagramServerEvents,
} from './datagram/datagram-server.js';
export { DatagramClient } from './datagram/datagram-client.js';
export { DatagramSession } from './datagram/datagram-session.js';
export type {
  DatagramRemote,
  DatagramSessionCounters,
  DatagramSessionEvents,
  DatagramSessionState,
} from './datagram/datagram-session.js';
export type {
  DatagramClientOptions,
  DatagramServerOptions,
  DatagramSocketOptions,
} from './datagram/datagram-options.js';
export {
  DEFAULT_MAX_DATAGRAM_SESSIONS,
  DEFAULT_MAX_DATAGRAM_SESSIONS_PER_ADDRESS,
} from './datagram/datagram-options.js';
export type { DatagramSessionOptions } from './datagram/session-options.js';
export { openDatagramChannel } from './datagram/channel.js';
export type { DatagramChannelOptions } from './datagram/channel.js';
export type { DatagramServerMetrics } from './datagram/server-metrics.js';
export { formatEndpoint, parseEndpoint } from './common/endpoint.js';
export type { Endpoint, EndpointInput } from './common/endpoint.js';
export type { ClientOptions } from './client/client-options.js';
export type { ProxyProtocolOptions, ServerOptions } from './server/server-options.js';
export {
  encodeProxyHeader,
  looksLikeProxyHeader,
  PROXY_V1_MAX_LENGTH,
  PROXY_V2_MAX_BLOCK,
  PROXY_V2_MAX_LENGTH,
  ProxyHeaderParser,
} from './server/proxy-header.js';
export type { ProxyAddress, ProxyEndpoint, ProxyHeader } from './server/proxy-header.js';
export { TrustedAddresses } from './server/trusted-addresses.js';
export type { SessionOptions } from './common/options.js';
export type { PrivateKeyFile, PrivateKeyInput, PublicKeyInput } from './common/key-input.js';
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
} from './common/defaults.js';
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
export { cryptoBackends } from './protocol/aead.js';
export type { AeadBackendName, AeadCipher, CryptoBackends } from './protocol/aead.js';
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
export { CHANNELS } from './observe/channels.js';
export type {
  HandshakeContext,
  KeyUpdateMessage,
  RefusedMessage,
  SessionCloseMessage,
  SessionOpenMessage,
  TrustMessage,
} from './observe/channels.js';
