/**
 * Where the server's established sessions go, in this order:
 *
 *   1. to the oldest pending `acceptClient()`,
 *   2. otherwise to `'session'` listeners, if there are any,
 *   3. otherwise into a queue of at most `maxPendingSessions` for later `acceptClient()`
 *      calls; a session established while the queue is full is closed with code 1013.
 */
import { CLOSE_TRY_AGAIN_LATER } from '../common/defaults.js';
import { debug } from '../common/debug.js';
import { abortError, checkSignal, onAbort } from '../common/deferred.js';
import { ErrorCode, SessionError } from '../protocol/index.js';
import type { Session } from '../stream/session.js';

interface Acceptor {
  resolve(session: Session): void;
  reject(error: unknown): void;
  cleanup(): void;
}

export class AcceptQueue {
  readonly #maxPending: number;
  #queue: Session[] = [];
  #acceptors: Acceptor[] = [];

  constructor(maxPendingSessions: number) {
    this.#maxPending = maxPendingSessions;
  }

  /**
   * `acceptClient()`: the oldest queued session, else the next one established; rejects with
   * ERR_SESSION_CLOSED at once when the server is not `running`, and with ERR_ABORTED if
   * `signal` aborts.
   */
  next(options: { readonly signal?: AbortSignal } | undefined, running: boolean): Promise<Session> {
    let signal: AbortSignal | undefined;
    try {
      signal = checkSignal(options?.signal, 'options.signal');
    } catch (err) {
      return Promise.reject(err);
    }
    const queued = this.shift();
    if (queued) return Promise.resolve(queued);
    if (!running) return Promise.reject(new SessionError(ErrorCode.SESSION_CLOSED, 'server is not running'));
    return this.wait(signal);
  }

  /** The oldest queued session, if any. */
  shift(): Session | undefined {
    return this.#queue.shift();
  }

  /** Waits for the next session; rejects with ERR_ABORTED when `signal` aborts. */
  wait(signal: AbortSignal | undefined): Promise<Session> {
    if (signal?.aborted) return Promise.reject(abortError('acceptClient', signal));
    return new Promise<Session>((resolve, reject) => {
      const acceptor: Acceptor = { resolve, reject, cleanup: () => {} };
      acceptor.cleanup = onAbort(signal, () => {
        this.#acceptors = this.#acceptors.filter((a) => a !== acceptor);
        reject(abortError('acceptClient', signal!));
      });
      this.#acceptors.push(acceptor);
    });
  }

  /**
   * Hands `session` on (see above). `emitSession` emits `'session'` and returns false when
   * nobody listens.
   */
  deliver(session: Session, emitSession: (session: Session) => boolean): void {
    const acceptor = this.#acceptors.shift();
    if (acceptor) {
      acceptor.cleanup();
      acceptor.resolve(session);
      return;
    }
    if (emitSession(session)) return;
    if (this.#queue.length < this.#maxPending) {
      this.#queue.push(session);
      return;
    }
    debug('accept queue full (%d): closing a new session', this.#queue.length);
    session.close(CLOSE_TRY_AGAIN_LATER, 'server busy').catch(() => {});
  }

  /** Rejects every waiting `acceptClient()` with `error`. */
  rejectWaiting(error: unknown): void {
    const acceptors = this.#acceptors;
    this.#acceptors = [];
    for (const a of acceptors) {
      a.cleanup();
      a.reject(error);
    }
  }

  /** Forgets the queued sessions and returns them (the server closes them). */
  clear(): Session[] {
    const queued = this.#queue;
    this.#queue = [];
    return queued;
  }
}
