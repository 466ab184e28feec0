/**
 * The server connection's options and handler (server-connection.ts): what the transport
 * gives a `ServerConnection`, and the RSA plug through which its private-key operation and
 * the client-signature check run outside it.
 */
import type { Buffer } from 'node:buffer';
import { PrivateKey, PublicKey } from '@secsess/keys';
import type { ConnectionHandler, ConnectionOptions } from './connection-types.js';
import type { Suite } from './suite.js';
import type { TicketContext } from './ticket.js';

export interface ServerConnectionOptions extends ConnectionOptions {
  /**
   * The server's keys; the client names one by fingerprint. The first is the one sent to
   * clients that ask for the server's key. At least one. A `PublicKey` stands for a private
   * key held elsewhere (a worker, another process, an HSM): the handler must then have
   * `decryptSecret`, which is asked for every decryption.
   */
  readonly keys: readonly (PrivateKey | PublicKey)[];
  /** Suites accepted. Default: every supported suite. */
  readonly suites?: readonly Suite[];
  /**
   * Whether a client key may authenticate at all (e.g. it is in authorized_keys). Asked
   * once the key passed the cheap checks and before its signature is verified, so a key
   * refused here costs no RSA operation. Default: every key.
   */
  readonly clientKeyAllowed?: (key: PublicKey) => boolean;
  /**
   * Resumption (PROTOCOL.md §6a): the ticket keys, lifetime, clock and single-use memory.
   * With it, a client that asks gets a ticket once `issueTicket()` is called (after the
   * application accepted the client), and a ResumeHello is checked; without it, ticket
   * requests are ignored and every ResumeHello is refused (the client falls back).
   */
  readonly tickets?: TicketContext;
  /**
   * Serve channels (PROTOCOL.md §6b): accept ClientHello flag bit 2; the application then
   * reads and writes channel frames on such sessions (`info.channels`). Without it a hello
   * with bit 2 is malformed (ERR_HANDSHAKE), as on a server older than channels. Default false.
   */
  readonly channels?: boolean;
  /** @internal Test vectors only: fixed X25519 private key bytes. */
  readonly ephemeralPrivate?: Buffer;
}

/** A pending RSA private operation: decrypt `ciphertext` with `keys[keyIndex]`. */
export interface DecryptRequest {
  readonly keyIndex: number;
  readonly ciphertext: Buffer;
}

/**
 * A pending client-authentication check: RSA-PSS verification of `signature` over
 * `message` with `key` (a key that passed the size, exponent and membership checks).
 */
export interface VerifyRequest {
  readonly key: PublicKey;
  readonly message: Buffer;
  readonly signature: Buffer;
}

/**
 * The server's handler: {@link ConnectionHandler} and the optional RSA plug, through which
 * the private-key operation and the client-signature check run outside the connection.
 */
export interface ServerConnectionHandler extends ConnectionHandler {
  /**
   * Optional: perform the RSA-OAEP decryption elsewhere (a worker thread, another process,
   * an HSM) and call {@link ServerConnection.completeDecrypt} with the plaintext, or null
   * on any failure. Called at most once per connection, from inside `receive()` (the
   * ClientHello arrived and named `keys[request.keyIndex]`); frames arriving meanwhile wait,
   * bounded. Required when `keys` holds a `PublicKey`.
   */
  decryptSecret?(request: DecryptRequest): void;
  /**
   * Optional: verify the client's signature elsewhere (a worker thread) and call
   * {@link ServerConnection.completeVerify} with the outcome (false on any failure).
   * Called at most once, from inside `receive()`, for a key that passed the size, exponent
   * and `clientKeyAllowed` checks.
   */
  verifyClientAuth?(request: VerifyRequest): void;
}

/**
 * The public halves of `options.keys`, checked: a non-empty array of PrivateKey, or of
 * PublicKey when `handler.decryptSecret` does the private operation elsewhere.
 * @throws TypeError otherwise.
 */
export function checkServerKeys(
  options: ServerConnectionOptions,
  handler: ServerConnectionHandler,
): readonly PublicKey[] {
  if (!options || !Array.isArray(options.keys) || options.keys.length === 0) {
    throw new TypeError('keys must be a non-empty array of PrivateKey (or PublicKey, with decryptSecret)');
  }
  return options.keys.map((k, i) => {
    if (k instanceof PrivateKey) return k.publicKey;
    if (!(k instanceof PublicKey)) throw new TypeError(`keys[${i}] must be a PrivateKey or a PublicKey`);
    if (!handler.decryptSecret) {
      throw new TypeError(
        `keys[${i}] is a PublicKey: its private key is elsewhere, so handler.decryptSecret is required`,
      );
    }
    return k;
  });
}
