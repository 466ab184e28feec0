/**
 * The wait of `server.stop({ drain })`: the server no longer listens and the open sessions
 * are given up to `drain` milliseconds to close on their own before they are closed with
 * 1001. The wait ends when the last session is gone, at the deadline, or at once when a
 * second `stop()` asks for it (a second SIGTERM). Then each session left is closed with
 * 1001 (`goAway`).
 */
import { CLOSE_GOING_AWAY, TimeoutError } from '../protocol/index.js';
import { MAX_TIMER_MS } from '../common/defaults.js';
import { checkInt, checkObject } from '../common/options.js';
import { kFail } from '../stream/session-types.js';
import type { Session } from '../stream/session.js';

/** Options of `server.stop()`. */
export interface StopOptions {
  /**
   * Milliseconds to let open sessions close on their own after the server stops listening
   * (graceful shutdown); those still open then are closed with 1001. Default: none (they
   * are closed at once).
   */
  readonly drain?: number;
}

/** @internal Checks `stop()`'s options; returns the drain in ms, or undefined for none. */
export function checkStopOptions(options: StopOptions | undefined): number | undefined {
  const o = checkObject(options, 'options');
  return o.drain === undefined ? undefined : checkInt('drain', o.drain, 0, 0, MAX_TIMER_MS);
}

/** @internal One drain: resolves `done` when `isEmpty()` holds after a `check()`, or at the deadline. */
export class DrainWait {
  readonly done: Promise<void>;
  readonly #isEmpty: () => boolean;
  #deadline: number;
  #timer: NodeJS.Timeout | undefined;
  #resolve!: () => void;

  constructor(ms: number, isEmpty: () => boolean) {
    this.done = new Promise<void>((resolve) => {
      this.#resolve = resolve;
    });
    this.#isEmpty = isEmpty;
    this.#deadline = Infinity;
    this.shorten(ms);
    this.check();
  }

  /** A session went away: ends the wait if none is left. */
  check(): void {
    if (this.#isEmpty()) this.#end();
  }

  /** Brings the deadline to at most `ms` from now; 0 ends the wait at once. */
  shorten(ms: number): void {
    const deadline = Date.now() + ms;
    if (deadline >= this.#deadline) return;
    this.#deadline = deadline;
    clearTimeout(this.#timer);
    if (ms === 0) this.#end();
    else this.#timer = setTimeout(() => this.#end(), ms);
  }

  #end(): void {
    clearTimeout(this.#timer);
    this.#resolve();
  }
}

/**
 * @internal Closes `session` with 1001 for a stopping server; resolves once it is over.
 * A session's Close may wait in the transport behind data its peer has not read, and the
 * session's own `closeTimeout` only starts once the Close is out (the idle timeout bounds
 * the wait before): a stopping server does not wait for that, and drops a session still
 * not closed `closeTimeout` after it asked, as a close whose echo never came.
 */
export function goAway(session: Session, closeTimeout: number): Promise<void> {
  const timer = setTimeout(() => session[kFail](new TimeoutError('close', closeTimeout), true), closeTimeout);
  return session
    .close(CLOSE_GOING_AWAY, 'server stopping')
    .catch(() => {})
    .finally(() => clearTimeout(timer));
}
