/**
 * The shapes around a datagram session: what its owner (DatagramServer, DatagramClient, a
 * stream session's channel) gives it, its events and its counters.
 */
import type { Buffer } from 'node:buffer';
import type { PublicKey } from '@secsess/keys';
import type { DatagramInbound, DatagramOutbound, InboundCounters } from '../protocol/datagram/contexts.js';
import type { SessionError, Suite } from '../protocol/index.js';
import type { DatagramSession } from './datagram-session.js';
import type { ResolvedDatagramSessionOptions } from './session-options.js';

/** @internal `session[kEstablished](local)`: the owner handed the session out (observe.ts publishes). */
export const kEstablished = Symbol('secsess.established');

/** An address and port the session sends to, or a packet came from. */
export interface DatagramRemote {
  readonly address: string;
  readonly port: number;
  readonly family: 'IPv4' | 'IPv6';
}

/** Where a packet came from, as node:dgram's `rinfo` gives it. */
export interface DatagramSource {
  readonly address: string;
  readonly port: number;
  readonly family: string;
}

/** @internal What the owner (server, client or stream channel) gives a session. */
export interface DatagramSessionInit {
  readonly role: 'client' | 'server';
  /** The contexts of this session; the session owns them from now on and wipes them when it ends. */
  readonly outbound: DatagramOutbound;
  readonly inbound: DatagramInbound;
  /** Where to send (a client: its server; a server: the client's address, moved by §D7). */
  readonly remote: DatagramRemote;
  /**
   * Sends one packet to `remote`; calls `done()` once the socket is finished with it, sent
   * or not (its bytes then leave the session's queue, `maxQueuedBytes`). Must not throw.
   */
  transmit(
    packet: Buffer,
    remote: { readonly address: string; readonly port: number },
    done: () => void,
  ): void;
  readonly options: ResolvedDatagramSessionOptions;
  readonly info: {
    readonly suite: Suite;
    readonly serverKey: PublicKey | null;
    readonly clientKey: PublicKey | null;
  };
  /**
   * Client after §D3: the ClientFinished packet, which the owner has already sent once. The
   * session resends it after 400 ms, doubling the wait up to 4 s, until any record from the
   * server opens (`resendTimeout` ends a session that never hears back). `'ping'` (a §D9
   * channel): a Ping at once, then on the same schedule a fresh one each time — each opens
   * at the server as a new record, so it is answered and moves the server's side to this
   * client's address even if an earlier one was lost or raced from elsewhere.
   */
  readonly resend?: Buffer | 'ping';
  /**
   * With `resend`: milliseconds after which a session that has opened nothing from the
   * server ends with `TimeoutError` (`limit: 'handshake'`). Default 10000 (the client's
   * handshake timeout is the right value).
   */
  readonly resendTimeout?: number;
  /**
   * Server after §D3 (the ClientFinished has opened in `inbound`): the session answers a
   * duplicate of the ClientFinished (c2s epoch 0 seq 0) with another HandshakeDone, at
   * most 8 times. `true`: it also seals and sends the first HandshakeDone itself, at once;
   * a Buffer: the HandshakeDone packet the handshake sealed, which the session sends (and
   * counts) at once. Not for a §D9 channel.
   */
  readonly handshakeDone?: boolean | Buffer;
  /** The session ended (any way): the owner forgets it. Called once, after `'close'`. */
  onEnd(session: DatagramSession): void;
}

/** `'open'` → `'closed'`. A datagram session has no closing handshake (§D4: one Close record). */
export type DatagramSessionState = 'open' | 'closed';

/** Events of `DatagramSession`. */
export interface DatagramSessionEvents {
  /** One whole message, at most once per sent message, in arrival order (not send order). */
  message: [data: Buffer];
  /** Server side: an authenticated, fresh record came from another address; replies go there now (§D7). */
  addressChange: [remote: DatagramRemote];
  /** The session failed. At most once, only if listened to, always followed by `'close'`. */
  error: [error: SessionError];
  /**
   * The session ended, exactly once: `code` is the Close record's (ours or the peer's), or
   * 1006 when it ended without one (failure, timeout, destroy).
   */
  close: [code: number, reason: string];
}

/** What a datagram session counts (§D6), from its start. */
export interface DatagramSessionCounters extends InboundCounters {
  /** Data records delivered (to `'message'` listeners or the iterator's queue). */
  readonly delivered: number;
  /** Messages handed to the socket by `send()`. */
  readonly sent: number;
  /** Messages `send()` dropped because `maxQueuedBytes` was reached (it returned false). */
  readonly sendDropped: number;
  /** Received messages dropped, oldest first, because the iterator fell `maxUnreadBytes` behind. */
  readonly unreadDropped: number;
  /** Pings sent (keepalive) and received. */
  readonly pingsSent: number;
  readonly pingsReceived: number;
  /** Record packets handed to the socket (every record type, retransmissions included) and their bytes. */
  readonly recordsSent: number;
  readonly bytesSent: number;
  /** Bytes of the Record packets the session was handed (`received`), whether they opened or not. */
  readonly bytesReceived: number;
  /** Records that opened in the session (`opened` also counts the handshake's Finished). */
  readonly recordsReceived: number;
}
