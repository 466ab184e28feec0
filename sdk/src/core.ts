/**
 * `@secsess/sdk/core`: the sans-IO core of secsess, for any transport.
 *
 * A connection is an object you feed the bytes you received (`receive(bytes)`) and that
 * hands you, through the handler you give it, the bytes to send (`send`), the handshake's
 * outcome (`established`: the session is open), each whole message (`message`), the peer's
 * half-close (`peerEnded`: it sends no more messages; `end()` is ours) and the peer's
 * authenticated close (`peerClosed`). It opens no socket, sets no timer and reads
 * no file: WebSocket messages, a MessagePort, a serial line or a test's array of buffers
 * carry it equally. Errors are thrown: by `receive()` (and `completeDecrypt()` /
 * `completeVerify()`) when the peer broke the protocol or failed a check; the caller then
 * calls `fail(error)`, which hands over the alert to send, and ends its transport.
 *
 * The server's RSA private key need not be in the connection: give the handler
 * `decryptSecret` and the connection pauses its handshake until you call
 * `completeDecrypt()` with the result, which may come from a worker thread, another
 * process or an HSM (with only the `PublicKey` in `keys`). `verifyClientAuth` /
 * `completeVerify()` move the client-signature check likewise.
 *
 * Timeouts (handshake, idle, close), backpressure and keepalive pings are the transport's:
 * `Session` in `@secsess/sdk` is the full driver over a Node Duplex. README "The sans-IO
 * core" has a complete example.
 */
import type { Buffer } from 'node:buffer';
import type { KeyObject } from 'node:crypto';
import { PrivateKey } from '@secsess/keys';
import { oaepDecrypt, pssVerify } from './protocol/asymmetric.js';
import type { ClientConnectionOptions as AllClientOptions } from './protocol/client-connection.js';
import type { DatagramContextOptions as AllDatagramContextOptions } from './protocol/datagram/contexts.js';
import type { ConnectionOptions as AllConnectionOptions } from './protocol/connection-types.js';
import type {
  ServerConnectionOptions as AllServerOptions,
  VerifyRequest,
} from './protocol/server-connection.js';

/** What the test vectors fix (randomness, ephemeral keys, key budget): not for users. */
type TestOnly = 'random' | 'keyBudget' | 'ephemeralPrivate' | 'fixedEncryptedSecret';

/**
 * Options both roles take: `maxMessageSize` (largest message accepted, default 64 MiB),
 * `maxFragmentSize` (largest record payload sent, 1–65536, default 65536) and `keyLog`
 * (receives the session's initial traffic secrets, for a key log: PROTOCOL.md "Key log
 * format"; default none).
 */
export type ConnectionOptions = Omit<AllConnectionOptions, TestOnly>;

/**
 * A client's options: `serverKey` (the server's public key; omit it only with a
 * `serverKey` handler callback that decides on the key the server sends), `set` (the
 * algorithm set, default RSA / AES-256-CBC / SHA-256), `clientKey` (to authenticate to
 * the server), `tickets` (ask for a resumption ticket: `handler.newTicket`) and `resume`
 * (a ticket to resume with), besides {@link ConnectionOptions}.
 */
export type ClientConnectionOptions = Omit<AllClientOptions, TestOnly>;

/**
 * A server's options: `keys` (its keys; a `PublicKey` for a key held elsewhere, with
 * `decryptSecret`), `suites` (accepted suites, default all), `clientKeyAllowed` (whether
 * a client key may authenticate at all, asked before its signature is verified) and
 * `tickets` (a {@link TicketContext}: resumption tickets issued with `issueTicket()` and
 * accepted), besides {@link ConnectionOptions}.
 */
export type ServerConnectionOptions = Omit<AllServerOptions, TestOnly>;

export { ClientConnection } from './protocol/client-connection.js';
export type { ClientConnectionHandler } from './protocol/client-connection.js';
export { ServerConnection } from './protocol/server-connection.js';
export type { DecryptRequest, ServerConnectionHandler, VerifyRequest } from './protocol/server-connection.js';
export type { ConnectionHandler, ConnectionState, HandshakeInfo } from './protocol/connection-types.js';
export type { KeyLog } from './protocol/key-log.js';
export { TicketKey } from './protocol/ticket.js';
export type { SessionTicket, TicketContext } from './protocol/ticket.js';
export {
  ErrorCode,
  HandshakeError,
  PeerClosedError,
  RecordError,
  SessionError,
  TimeoutError,
} from './protocol/errors.js';
export { ALL_SUITES, Asymmetric, DEFAULT_SET, Hash, Symmetric, resolveSuite } from './protocol/suite.js';
export type { AlgorithmSet, Suite } from './protocol/suite.js';
export { cryptoBackends } from './protocol/aead.js';
export type { AeadBackendName, AeadCipher, CryptoBackends } from './protocol/aead.js';
export {
  CLOSE_GOING_AWAY,
  CLOSE_NORMAL,
  DEFAULT_MAX_FRAGMENT,
  DEFAULT_MAX_MESSAGE_SIZE,
  MAX_CLOSE_REASON_BYTES,
  MAX_FRAGMENT,
} from './protocol/constants.js';
// The key types the options take, so one import is enough; they live in @secsess/keys.
export { KeyPair, PrivateKey, PublicKey, SecsessError } from '@secsess/keys';

/**
 * The RSA operation behind `ServerConnectionHandler.decryptSecret`: RSA-OAEP with SHA-256,
 * MGF1-SHA-256 and the label `"secsess v1 key transport"` (PROTOCOL.md), with the private
 * key the request's `keyIndex` names. A vault in a worker thread or another process calls
 * this with the key it holds; an HSM performs the same operation with its own API.
 *
 * @param key The private key (a `PrivateKey`, or its `keyObject`, which a worker thread
 *   may receive through `postMessage`).
 * @param ciphertext The request's `ciphertext`.
 * @returns The decrypted pre-secret, or null on any failure of the ciphertext. Pass the
 *   result, null included, to `completeDecrypt()` as it is (a failed decryption must look
 *   like any other wrong key to the client, so the core substitutes random key material).
 * @throws TypeError if `key` is not a private RSA key (a configuration error, decided
 *   before the ciphertext is looked at: every decryption would otherwise fail silently).
 */
export function decryptPreSecret(key: PrivateKey | KeyObject, ciphertext: Buffer): Buffer | null {
  const keyObject = key instanceof PrivateKey ? key.keyObject : key;
  if (keyObject?.type !== 'private' || keyObject.asymmetricKeyType !== 'rsa') {
    throw new TypeError('decryptPreSecret needs the private RSA key (a PrivateKey or its keyObject)');
  }
  return oaepDecrypt(keyObject, ciphertext);
}

/**
 * The check behind `ServerConnectionHandler.verifyClientAuth`: the client's RSA-PSS
 * signature (SHA-256, MGF1-SHA-256, salt 32 bytes) over `request.message`, with
 * `request.key`. A vault elsewhere runs the same operation on the request it was sent.
 *
 * @returns Whether the signature is valid; false on any failure (never throws). Pass it to
 *   `completeVerify()`.
 */
export function verifyClientSignature(request: VerifyRequest): boolean {
  return pssVerify(request.key.keyObject, request.message, request.signature);
}

// Datagrams (PROTOCOL.md Part II): the record layer of a datagram session, sans-IO.
/**
 * The options of `DatagramOutbound`, `DatagramInbound` and `datagramContexts`: `set`,
 * `connectionId`, `replay`, `window`, `rekeyAfterRecords`, `rekeyAfterBytes`,
 * `rekeyInterval`, `epochGrace`, `now` (see each field for its default).
 */
export type DatagramContextOptions = Omit<
  AllDatagramContextOptions,
  'random' | 'receiveRecordCutoff' | 'receiveByteCutoff'
>;
export {
  DatagramInbound,
  DatagramOutbound,
  DatagramRecordError,
  DatagramRecordTypes,
  datagramContexts,
} from './protocol/datagram/contexts.js';
export type { InboundCounters, OpenResult, Rejection } from './protocol/datagram/contexts.js';
export { ReplayWindow } from './protocol/datagram/replay-window.js';
export type { ReplayMode, ReplayVerdict } from './protocol/datagram/replay-window.js';
export { peekRecordHeader } from './protocol/datagram/record-codec.js';
