/**
 * The client's datagram handshake (PROTOCOL.md §D3), without I/O:
 *
 *   [KeyRequest ─▶ (Cookie ─▶ KeyRequest) ─▶ KeyResponse ─▶ trust decision]
 *   Hello ─▶ (Cookie ─▶ Hello) ─▶ ServerHello + ServerFinished ─▶ ClientFinished ─▶ open
 *
 * How a transport drives it (one connected UDP socket, one timer):
 *
 *   const hs = new DatagramClientHandshake({ serverKey, set, clientKey, cookie });
 *   send(hs.start(now));                       // KeyRequest (no serverKey) or Hello
 *   timer at hs.nextTimeout()                   // absolute ms on the caller's clock, or null
 *   on timer:  const p = hs.onTimeout(now); if (p) send(p); re-arm at hs.nextTimeout()
 *              (throws TimeoutError('handshake') once the handshake timeout has passed)
 *   on packet: const step = hs.receive(packet, now);
 *     'ignore'    dropped: not for this attempt, a duplicate, garbage (nothing changed)
 *     'send'      send step.packet now (a Cookie arrived: the same packet, with the cookie)
 *     'serverKey' decide whether to trust step.key (sync or async; retransmission pauses):
 *                 yes → send(hs.useServerKey(key, now)); no → give up (nothing is sent)
 *     'open'      send step.clientFinished, then hand step.result (contexts, peer info)
 *                 and step.clientFinished (to resend, §D3) to the session
 *   receive() and onTimeout() throw a HandshakeError (or the error an Alert packet stands
 *   for) when the handshake fails; the object is then finished: every later call is
 *   'ignore' / null. `cookie` is the last Cookie the server sent, for the caller to cache
 *   per server endpoint and pass to the next handshake with that server.
 *
 * The token is drawn once per handshake object (one attempt) and is in every packet it
 * sends; only answers carrying it are read.
 */
import type { Buffer } from 'node:buffer';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import type { AlgorithmSet } from '../suite.js';
import type { DatagramHandshakeResult, HandshakeContextOptions, HandshakeTestInputs } from './handshake-types.js';

export interface DatagramClientHandshakeOptions extends HandshakeTestInputs {
  /**
   * The server's public key. Omit it to ask the server for its key first (KeyRequest);
   * `receive()` then returns a 'serverKey' step for the caller's trust decision.
   */
  readonly serverKey?: PublicKey;
  /** The algorithm set. Default RSA / AES-256-CBC / SHA-256. */
  readonly set?: AlgorithmSet;
  /** The client's own key, to authenticate (signature label "secsess v1 dgram client auth\0"). */
  readonly clientKey?: PrivateKey;
  /** A cookie this server gave earlier (16 bytes), sent with the first packet; else none. */
  readonly cookie?: Buffer | null;
  /** ms from start() until the handshake fails with ERR_TIMEOUT. Default 10 000. */
  readonly handshakeTimeout?: number;
  /** Passed to the record contexts (replay mode, window, rekey limits, clock). */
  readonly context?: HandshakeContextOptions;
}

/** What to do with a received packet. */
export type ClientStep =
  | { readonly kind: 'ignore' }
  | { readonly kind: 'send'; readonly packet: Buffer }
  | { readonly kind: 'serverKey'; readonly key: PublicKey }
  | {
      readonly kind: 'open';
      /** The ClientFinished Record packet: send it now, and resend it (§D3) until a record opens. */
      readonly clientFinished: Buffer;
      readonly result: DatagramHandshakeResult;
    };

export type ClientHandshakeState = 'idle' | 'awaitKey' | 'awaitKeyDecision' | 'awaitServerHello' | 'open' | 'failed';

export class DatagramClientHandshake {
  /**
   * @throws TypeError for a bad option, or without `serverKey` (… the caller must then
   *   answer 'serverKey' steps: that is always allowed; the trust decision is the caller's).
   */
  constructor(options: DatagramClientHandshakeOptions = {}) {
    void options;
    throw new Error('not implemented');
  }

  /** This attempt's token (16 bytes). */
  get token(): Buffer {
    throw new Error('not implemented');
  }

  get state(): ClientHandshakeState {
    throw new Error('not implemented');
  }

  /** The latest cookie the server gave (or the one passed in), for the caller's cache; null if none. */
  get cookie(): Buffer | null {
    throw new Error('not implemented');
  }

  /** Starts the attempt at time `now` (ms): returns the first packet to send. Once only. */
  start(now: number): Buffer {
    void now;
    throw new Error('not implemented');
  }

  /** Handles one packet from the server (any type; the transport need not sort them). */
  receive(packet: Buffer, now: number): ClientStep {
    void packet;
    void now;
    throw new Error('not implemented');
  }

  /**
   * Continues after a 'serverKey' step: the caller trusts `key`. Returns the Hello packet
   * to send (retransmission restarts from 400 ms). Throws ERR_INVALID_STATE unless a
   * decision is pending.
   */
  useServerKey(key: PublicKey, now: number): Buffer {
    void key;
    void now;
    throw new Error('not implemented');
  }

  /**
   * When to call {@link onTimeout} next (absolute, the clock of `now`): the next
   * retransmission (400 ms, doubling up to 4 s) or the handshake deadline, whichever is
   * first; null once open or failed.
   */
  nextTimeout(): number | null {
    throw new Error('not implemented');
  }

  /**
   * The timer fired: returns the packet to resend (identical to the last one sent), or
   * null if nothing is due. Throws TimeoutError (ERR_TIMEOUT, limit 'handshake') once the
   * deadline has passed, also while a trust decision is pending.
   */
  onTimeout(now: number): Buffer | null {
    void now;
    throw new Error('not implemented');
  }

  /** Gives up: wipes what the handshake holds. Later calls ignore everything. */
  destroy(): void {
    throw new Error('not implemented');
  }
}
