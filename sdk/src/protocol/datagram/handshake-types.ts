/**
 * What a finished datagram handshake hands its transport (both sides), and the options
 * both handshakes share. See client-handshake.ts and server-handshake.ts.
 */
import type { Buffer } from 'node:buffer';
import type { PublicKey } from '@secsess/keys';
import type { RandomSource } from '../crypto.js';
import type { Suite } from '../suite.js';
import type { DatagramContextOptions, DatagramInbound, DatagramOutbound } from './contexts.js';

/**
 * Options passed through to the record contexts a handshake makes (replay mode, window,
 * rekey limits, epoch grace, clock). `set` and `connectionId` come from the handshake.
 */
export type HandshakeContextOptions = Omit<DatagramContextOptions, 'set' | 'connectionId'>;

/** Who the peer is, once the handshake is done. */
export interface DatagramPeerInfo {
  readonly suite: Suite;
  /** The server's key the handshake proved (the server holds its private half). */
  readonly serverKey: PublicKey;
  /** The client's key, proven by its signature; null if the client did not authenticate. */
  readonly clientKey: PublicKey | null;
}

/** The product of a finished handshake: the session's record contexts and the peer. */
export interface DatagramHandshakeResult {
  readonly outbound: DatagramOutbound;
  readonly inbound: DatagramInbound;
  /** The session's conn_id (8 bytes), as in every Record packet. */
  readonly connectionId: Buffer;
  readonly info: DatagramPeerInfo;
}

/** @internal Test vectors only: fixed inputs instead of fresh randomness. */
export interface HandshakeTestInputs {
  /**
   * Every random byte the handshake draws: client — token, client_random, pre_secret, then
   * the IVs of its records; server — conn_id, server_random, then its IVs.
   */
  readonly random?: RandomSource;
  /** Fixed X25519 private key bytes. */
  readonly ephemeralPrivate?: Buffer;
  /** Client: a fixed key-transport ciphertext for the pre_secret drawn. */
  readonly fixedEncryptedSecret?: (preSecret: Buffer) => Buffer;
}
