/**
 * The timers of a datagram session (PROTOCOL.md §D3, §D8), each one unref'd timer:
 *   - Liveness: a Ping when this side has *sent* nothing for `keepAliveInterval` (what keeps
 *     NAT bindings and the peer's idle timer alive), and the end when no record has *opened*
 *     for `idleTimeout`. Unlike the stream keepalive, the two clocks differ: on UDP, sending
 *     is what keeps a path open, and only an authenticated record shows the peer alive.
 *   - Resender: the client's ClientFinished again after 400 ms, doubling up to 4 s, until
 *     any record from the server opens, or the handshake timeout passes (the session ends).
 *   - Reanswers: the server's side of it; a duplicate of the ClientFinished means its
 *     HandshakeDone was lost: another one, at most 8 times.
 */
import type { Buffer } from 'node:buffer';
import { RETRANSMIT_INITIAL, RETRANSMIT_MAX } from '../protocol/datagram/constants.js';
import { TimeoutError } from '../protocol/index.js';
import { DEFAULT_HANDSHAKE_TIMEOUT } from '../common/defaults.js';
import type { DatagramInbound } from '../protocol/datagram/contexts.js';
import { isFirstRecord } from './session-records.js';
import type { DatagramSessionInit } from './session-types.js';

export interface LivenessOptions {
  /** Ping after this long without sending; 0 = never. */
  readonly keepAliveInterval: number;
  /** End after this long without an opened record; 0 = never. */
  readonly idleTimeout: number;
  readonly ping: () => void;
  readonly timeout: () => void;
}

export class Liveness {
  readonly #options: LivenessOptions;
  #lastSent = 0;
  #lastOpened = 0;
  #timer: NodeJS.Timeout | null = null;
  #stopped = true;

  constructor(options: LivenessOptions) {
    this.#options = options;
  }

  start(): void {
    const { keepAliveInterval, idleTimeout } = this.#options;
    if (keepAliveInterval === 0 && idleTimeout === 0) return;
    this.#stopped = false;
    this.#lastSent = this.#lastOpened = performance.now();
    this.#schedule(Math.min(keepAliveInterval || Infinity, idleTimeout || Infinity));
  }

  /** This side handed a packet to the socket. Cheap: called for every packet. */
  sent(): void {
    this.#lastSent = performance.now();
  }

  /** A record from the peer opened. Cheap: called for every record. */
  opened(): void {
    this.#lastOpened = performance.now();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    // The timer passes this object to one shared function: no closure per session.
    this.#timer = setTimeout(Liveness.#fire, Math.max(1, Math.ceil(ms)), this);
    this.#timer.unref();
  }

  static #fire(liveness: Liveness): void {
    liveness.#check();
  }

  #check(): void {
    this.#timer = null;
    const { keepAliveInterval, idleTimeout } = this.#options;
    let now = performance.now();
    if (idleTimeout > 0 && now - this.#lastOpened >= idleTimeout) {
      this.#options.timeout();
      return;
    }
    if (keepAliveInterval > 0 && now - this.#lastSent >= keepAliveInterval) {
      // ping() calls sent(); it may also end the session (and stop us) synchronously.
      this.#options.ping();
      now = performance.now();
      this.#lastSent = now;
    }
    let next = Infinity;
    if (idleTimeout > 0) next = idleTimeout - (now - this.#lastOpened);
    if (keepAliveInterval > 0) next = Math.min(next, keepAliveInterval - (now - this.#lastSent));
    this.#schedule(next);
  }
}

/**
 * Resends one packet on the §D3 schedule until stopped; calls `giveUp` if still running
 * `deadline` ms after `start()`.
 */
export class Resender {
  readonly #send: () => void;
  readonly #giveUp: () => void;
  readonly #deadline: number;
  #wait = RETRANSMIT_INITIAL;
  #timer: NodeJS.Timeout | null = null;
  #deadlineTimer: NodeJS.Timeout | null = null;
  readonly #now: boolean;

  /** `now`: also send once at `start()` (a §D9 channel's first Ping), else only after the first wait. */
  constructor(send: () => void, giveUp: () => void, deadline: number, now = false) {
    this.#send = send;
    this.#giveUp = giveUp;
    this.#deadline = deadline;
    this.#now = now;
  }

  get running(): boolean {
    return this.#timer !== null;
  }

  start(): void {
    this.#wait = RETRANSMIT_INITIAL;
    this.#arm();
    this.#deadlineTimer = setTimeout(Resender.#expire, this.#deadline, this);
    this.#deadlineTimer.unref();
    if (this.#now) this.#send();
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#deadlineTimer) clearTimeout(this.#deadlineTimer);
    this.#timer = this.#deadlineTimer = null;
  }

  static #expire(resender: Resender): void {
    resender.#deadlineTimer = null;
    resender.stop();
    resender.#giveUp();
  }

  #arm(): void {
    this.#timer = setTimeout(Resender.#fire, this.#wait, this);
    this.#timer.unref();
  }

  static #fire(resender: Resender): void {
    resender.#timer = null;
    resender.#wait = Math.min(resender.#wait * 2, RETRANSMIT_MAX);
    resender.#arm();
    // After arming: send() may end the session, which stops us.
    resender.#send();
  }
}

/**
 * The resender of a client session whose owner asked for one (`init.resend`: its
 * ClientFinished packet, which the owner sent once, or `'ping'` for a fresh Ping each time,
 * the first at once), else null. Past
 * `init.resendTimeout` (default the handshake timeout) it gives up with TimeoutError('handshake').
 */
export function resenderFor(
  init: DatagramSessionInit,
  send: { ping(): void; packet(packet: Buffer): void; giveUp(error: TimeoutError): void },
): Resender | null {
  const resend = init.role === 'client' ? init.resend : undefined;
  if (!resend) return null;
  const deadline = init.resendTimeout ?? DEFAULT_HANDSHAKE_TIMEOUT;
  return new Resender(
    () => (resend === 'ping' ? send.ping() : send.packet(resend)),
    () => send.giveUp(new TimeoutError('handshake', deadline)),
    deadline,
    resend === 'ping',
  );
}

/** §D3: the server re-answers a duplicate ClientFinished at most this often. */
const MAX_HANDSHAKE_DONE_RESENDS = 8;

/** A server session's HandshakeDone re-answers (§D3), counted. */
export class Reanswers {
  #left = MAX_HANDSHAKE_DONE_RESENDS;

  /**
   * Whether `packet`, which the window reported as a duplicate, is the ClientFinished again
   * (c2s epoch 0 seq 0, and it authenticates) and another HandshakeDone is due; counts it.
   */
  due(packet: Buffer, inbound: DatagramInbound): boolean {
    if (this.#left === 0 || !isFirstRecord(packet) || !inbound.reopenDuplicate(packet)) return false;
    this.#left--;
    return true;
  }
}
