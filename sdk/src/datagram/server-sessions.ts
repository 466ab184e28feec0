/**
 * The datagram server's open sessions by conn_id (a latin1 map key, see `connIdKey`):
 * sessions from its handshakes and the channels `attach()` made. A session is forgotten
 * when it ends (its `onEnd`) or when the server stops and closes them all.
 */
import type { DatagramSession } from './datagram-session.js';

export class SessionTable {
  readonly #sessions = new Map<string, DatagramSession>();

  get size(): number {
    return this.#sessions.size;
  }

  get(key: string): DatagramSession | undefined {
    return this.#sessions.get(key);
  }

  has(key: string): boolean {
    return this.#sessions.has(key);
  }

  add(key: string, session: DatagramSession): void {
    this.#sessions.set(key, session);
  }

  /** Forgets `session` if `key` still names it (a new session may have the key by now). */
  remove(key: string, session: DatagramSession): void {
    if (this.#sessions.get(key) === session) this.#sessions.delete(key);
  }

  /**
   * Closes every session (one Close record each) and forgets them. A throw from a session's
   * listener is rethrown on the next tick (uncaught, as EventEmitter reports it): it must
   * not keep the other sessions open, nor the server from releasing its socket.
   */
  closeAll(code: number, reason: string): void {
    const all = [...this.#sessions.values()];
    this.#sessions.clear();
    for (const session of all) {
      try {
        session.close(code, reason);
      } catch (err) {
        process.nextTick(() => {
          throw err;
        });
      }
    }
  }
}
