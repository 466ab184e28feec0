/**
 * The datagram server's handshakes in progress (PROTOCOL.md §D3): state exists only for a
 * source that showed a valid cookie and passed the rate limit and admission, from its
 * Hello to its ClientFinished or its handshake timeout, whichever comes first.
 *
 * Each is found two ways: by `(source address, port, token)`, to recognise a retransmitted
 * Hello (answered with nothing while the RSA runs, with the stored ServerHello — at most 3
 * times, the machine counts — once it has replied), and by `conn_id`, to route the
 * ClientFinished record. A handshake that has ended (opened, failed) leaves its
 * `(source, token)` behind until its deadline, so a late copy of its Hello — a
 * retransmission still in the network — is dropped instead of starting the RSA again;
 * those marks are bounded too. The count is bounded overall and per source address (an IPv4
 * address, an IPv6 /64) through handshake-limiter.ts; unlike a TCP connection, a datagram
 * handshake has already sent its hello when it is admitted, so none is ever evicted: a
 * Hello past a cap is refused with ServerBusy.
 */
import { HandshakeLimiter } from '../server/handshake-limiter.js';
import type { Admission, HandshakeLimits } from '../server/handshake-limiter.js';
import type { DatagramAddress } from './datagram-socket.js';
import type { HandshakeTrace } from './observe.js';

export interface PendingHandshake<M> {
  readonly source: DatagramAddress;
  /** The source and token as one map key. */
  readonly key: string;
  /** The handshake machine (B1's DatagramServerHandshake). */
  readonly machine: M;
  /** `conn_id` as a map key (latin1), once the ServerHello is out. */
  connId: string | null;
  /** When its handshake timeout ends (performance.now() ms). */
  readonly deadline: number;
  /** Set when the handshake ended (done, failed, expired, server stopping): late callbacks do nothing. */
  ended: boolean;
  timer: NodeJS.Timeout | null;
  /** Its `secsess:handshake` trace, if somebody subscribed when it was admitted. */
  trace: HandshakeTrace | null;
}

/** The `conn_id` of a Record packet as a map key: bytes 1–8, one char per byte. */
export function connIdKey(packet: Buffer): string {
  return packet.toString('latin1', 1, 9);
}

export class HandshakeTable<M> {
  readonly #limiter: HandshakeLimiter<PendingHandshake<M>>;
  readonly #bySource = new Map<string, PendingHandshake<M>>();
  readonly #byConnId = new Map<string, PendingHandshake<M>>();
  /** `(source, token)` of ended handshakes and when their mark expires, oldest first. */
  readonly #ended = new Map<string, number>();
  readonly #maxEnded: number;
  readonly #timeout: number;
  readonly #onExpire: (handshake: PendingHandshake<M>) => void;

  /**
   * @param limits `maxHandshakes` and `maxHandshakesPerAddress`.
   * @param timeout Milliseconds a handshake may live (the handshake timeout).
   * @param onExpire Called when one times out, after it has been removed.
   * @param maxEnded Marks of ended handshakes kept at most (the oldest go first).
   */
  constructor(
    limits: HandshakeLimits,
    timeout: number,
    onExpire: (handshake: PendingHandshake<M>) => void,
    maxEnded = 16_384,
  ) {
    this.#limiter = new HandshakeLimiter(limits, () => false);
    this.#maxEnded = maxEnded;
    this.#timeout = timeout;
    this.#onExpire = onExpire;
  }

  /** Handshakes in progress. */
  get size(): number {
    return this.#limiter.size;
  }

  /** The handshake of `(source, token)`, if one is in progress. */
  bySource(key: string): PendingHandshake<M> | undefined {
    return this.#bySource.get(key);
  }

  /** The handshake that replied with `conn_id` (a latin1 key, see {@link connIdKey}). */
  byConnId(connId: string): PendingHandshake<M> | undefined {
    return this.#byConnId.get(connId);
  }

  /** Whether `key` names a handshake that ended less than a handshake timeout ago. */
  recentlyEnded(key: string): boolean {
    const now = performance.now();
    // Amortized cleanup: a few expired marks per call.
    for (let i = 0; i < 4; i++) {
      const oldest = this.#ended.entries().next();
      if (oldest.done || oldest.value[1] > now) break;
      this.#ended.delete(oldest.value[0]);
    }
    const until = this.#ended.get(key);
    return until !== undefined && until > now;
  }

  /** Whether a new handshake from `address` fits within the caps (never evicts). */
  admit(address: string): Admission<PendingHandshake<M>> {
    return this.#limiter.admit(address);
  }

  /** Handshakes in progress from `address`'s source (IPv6: its /64). */
  countFrom(address: string): number {
    return this.#limiter.countFrom(address);
  }

  /** Records a new handshake (admitted just before) and starts its timeout. */
  add(source: DatagramAddress, key: string, machine: M): PendingHandshake<M> {
    const handshake: PendingHandshake<M> = {
      source,
      key,
      machine,
      connId: null,
      deadline: performance.now() + this.#timeout,
      ended: false,
      timer: null,
      trace: null,
    };
    this.#limiter.add(handshake, source.address);
    this.#bySource.set(key, handshake);
    handshake.timer = setTimeout(() => {
      if (this.delete(handshake)) this.#onExpire(handshake);
    }, this.#timeout);
    handshake.timer.unref();
    return handshake;
  }

  /** `handshake` has sent its ServerHello with `connId`: its ClientFinished can find it now. */
  replied(handshake: PendingHandshake<M>, connId: string): void {
    if (handshake.ended) return;
    handshake.connId = connId;
    this.#byConnId.set(connId, handshake);
  }

  /** Whether `connId` is taken by a handshake in progress. */
  hasConnId(connId: string): boolean {
    return this.#byConnId.has(connId);
  }

  /** Ends `handshake` (done or failed). Returns false if it had already ended. */
  delete(handshake: PendingHandshake<M>): boolean {
    if (handshake.ended) return false;
    handshake.ended = true;
    if (handshake.timer) clearTimeout(handshake.timer);
    handshake.timer = null;
    this.#ended.delete(handshake.key);
    this.#ended.set(handshake.key, handshake.deadline);
    if (this.#ended.size > this.#maxEnded) this.#ended.delete(this.#ended.keys().next().value!);
    this.#limiter.delete(handshake);
    if (this.#bySource.get(handshake.key) === handshake) this.#bySource.delete(handshake.key);
    if (handshake.connId !== null && this.#byConnId.get(handshake.connId) === handshake) {
      this.#byConnId.delete(handshake.connId);
    }
    return true;
  }

  /** Ends every handshake (the server stops); returns them. */
  clear(): PendingHandshake<M>[] {
    const all = [...this.#limiter.items()];
    for (const h of all) this.delete(h);
    this.#ended.clear();
    return all;
  }
}
