/**
 * The datagram server's open sessions by conn_id (a latin1 map key, see `connIdKey`):
 * sessions from its handshakes and the channels `attach()` made. A session is forgotten
 * when it ends (its `onEnd`) or when the server stops and closes them all.
 */
import { addressKey } from '../server/handshake-limiter.js';
import { throwLater } from '../common/debug.js';
import type { DatagramSession } from './datagram-session.js';
import type { DatagramMetrics } from './server-metrics.js';

export class SessionTable {
  readonly #sessions = new Map<string, DatagramSession>();
  /** Each handshake session's source (addressKey: IPv4 address, IPv6 /64), and the counts. */
  readonly #origin = new Map<DatagramSession, string>();
  readonly #perSource = new Map<string, number>();
  readonly #metrics: DatagramMetrics;

  /** `metrics`: told of each session added and ended. */
  constructor(metrics: DatagramMetrics) {
    this.#metrics = metrics;
  }

  get size(): number {
    return this.#sessions.size;
  }

  get(key: string): DatagramSession | undefined {
    return this.#sessions.get(key);
  }

  has(key: string): boolean {
    return this.#sessions.has(key);
  }

  /** The open sessions. */
  values(): Iterable<DatagramSession> {
    return this.#sessions.values();
  }

  /** Sessions open whose handshake came from `address`'s source (IPv6: its /64). */
  countFrom(address: string): number {
    return this.#perSource.get(addressKey(address)) ?? 0;
  }

  /** Adds `session`; `origin`: the address its handshake came from (none for a channel). */
  add(key: string, session: DatagramSession, origin?: string): void {
    this.#sessions.set(key, session);
    this.#metrics.opened();
    if (origin === undefined) return;
    const source = addressKey(origin);
    this.#origin.set(session, source);
    this.#perSource.set(source, (this.#perSource.get(source) ?? 0) + 1);
  }

  /**
   * `session` ended (its `onEnd`, once): forgets it if `key` still names it (a new session
   * may have the key by now, or `closeAll()` cleared the table), and counts it as ended.
   */
  remove(key: string, session: DatagramSession): void {
    if (this.#sessions.get(key) === session) this.#sessions.delete(key);
    this.#metrics.ended(session);
    this.#uncount(session);
  }

  #uncount(session: DatagramSession): void {
    const source = this.#origin.get(session);
    if (source === undefined) return;
    this.#origin.delete(session);
    const left = (this.#perSource.get(source) ?? 1) - 1;
    if (left > 0) this.#perSource.set(source, left);
    else this.#perSource.delete(source);
  }

  /**
   * Closes every session (one Close record each) and forgets them. A throw from a session's
   * listener is rethrown on the next tick (uncaught, as EventEmitter reports it): it must
   * not keep the other sessions open, nor the server from releasing its socket.
   */
  closeAll(code: number, reason: string): void {
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    this.#origin.clear();
    this.#perSource.clear();
    for (const session of all) {
      try {
        session.close(code, reason);
      } catch (err) {
        throwLater(err);
      }
    }
  }
}
