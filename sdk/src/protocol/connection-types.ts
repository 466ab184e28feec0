/** The types between the sans-IO connection and the transport that drives it. */
import type { Buffer } from 'node:buffer';
import type { PublicKey } from '@secsess/keys';
import type { RandomSource } from './crypto.js';
import type { KeyLog } from './key-log.js';
import type { KeyBudget } from './record-layer.js';
import type { Suite } from './suite.js';

/** What the handshake established, given to `handler.established`. */
export interface HandshakeInfo {
  readonly suite: Suite;
  /** The server's public key (the one the client used). */
  readonly serverKey: PublicKey;
  /**
   * The client's public key, if the client authenticated; otherwise null. In a resumed
   * session, the key of the session that got the ticket (PROTOCOL.md §6a).
   */
  readonly clientKey: PublicKey | null;
  /** Whether the session was resumed from a ticket (no RSA operation; PROTOCOL.md §6a). */
  readonly resumed: boolean;
  /** Whether the session carries channels (ClientHello flag bit 2; PROTOCOL.md §6b). */
  readonly channels: boolean;
}

/** The transport's side of a connection. Every callback is invoked synchronously. */
export interface ConnectionHandler {
  /**
   * Bytes to transmit, in order. The buffer is not reused by the connection (unless the
   * transport set the internal `pooled` option, and gives buffers back once written).
   */
  send(data: Buffer): void;
  /** The handshake completed; messages may flow. */
  established(info: HandshakeInfo): void;
  /** One whole application message, exactly as the peer wrote it. */
  message(data: Buffer): void;
  /** The peer closed with an authenticated close. The connection already answered with its own. */
  peerClosed(code: number, reason: string): void;
  /**
   * The peer's End arrived (half-close, PROTOCOL.md §5): it sends no more messages, and
   * every message it sent has been delivered. This side may go on sending. If this side
   * had sent End too, both directions are over: the connection has just sent Close 1000
   * (its state is `'closing'`) and the peer's Close will follow.
   */
  peerEnded?(): void;
  /** A pong answering one of our pings arrived. */
  pong?(payload: Buffer): void;
  /**
   * The connection wrote a reply the peer's record required of it (a Pong, just sent):
   * what the peer makes us write counts against the transport's bounds like any write, and
   * a transport whose peer does not read them should stop reading from it.
   */
  replied?(): void;
  /**
   * The peer's close arrived and ours is about to be sent: write anything still queued
   * now (with `write`/`writeMany`), or it will never be sent.
   */
  flush?(): void;
  /**
   * Every message of one record has been delivered (one `message` call, or one per message
   * of a batch): a good moment to send replies queued meanwhile, before the next record.
   */
  delivered?(): void;
  /**
   * A KeyUpdate was sent (`'send'`: our keys moved) or received (`'receive'`: the peer's):
   * that direction now uses key `generation` (the first keys are 0). For observers only.
   */
  keyUpdated?(direction: 'send' | 'receive', generation: number): void;
}

/** Options both roles share. */
export interface ConnectionOptions {
  /** Largest message accepted from the peer, in bytes. Default 64 MiB. */
  readonly maxMessageSize?: number;
  /** Largest record payload this side sends, 1–65536. Default 65536. */
  readonly maxFragmentSize?: number;
  /**
   * Hands out the session's initial traffic secrets as they are derived, for a key log
   * (PROTOCOL.md "Key log format"; `SECSESS_KEYLOG_FILE` sets it in the transports). It
   * breaks the session's confidentiality for whoever reads the log. Default: none.
   */
  readonly keyLog?: KeyLog;
  /** @internal Key budget; tests lower it to exercise key updates. */
  readonly keyBudget?: KeyBudget;
  /** @internal A fixed random source, for test vectors only. */
  readonly random?: RandomSource;
  /**
   * @internal The transport gives back every buffer `handler.send()` hands it, with
   * `sentRecords.release()` (record-pool.ts), once written: large records are then sealed
   * into reused buffers. Set by the stream transport for sockets.
   */
  readonly pooled?: boolean;
}

/** `'handshake'` → `'open'` → `'closing'` (our close sent) → `'closed'` (over, or failed). */
export type ConnectionState = 'handshake' | 'open' | 'closing' | 'closed';
