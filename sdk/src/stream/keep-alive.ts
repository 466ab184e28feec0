/**
 * Idle detection and keepalive pings for one session, on a single unref'd timer. Any
 * bytes from the peer count as activity (a pong is just the most likely ones). While the
 * session has paused reading because its application does not read (`suspend`), silence is
 * expected and not counted. Reading stopped because the peer does not read the replies it
 * asks for is not suspended: that time counts, so such a peer ends at `idleTimeout`.
 */
export interface KeepAliveOptions {
  /** Fail after this long without activity; 0 = never. */
  readonly idleTimeout: number;
  /** Ping after this long without activity; 0 = never. */
  readonly keepAliveInterval: number;
  readonly ping: () => void;
  readonly timeout: () => void;
}

export class KeepAlive {
  readonly #options: KeepAliveOptions;
  #last = 0;
  #pingedAt = -1;
  #timer: NodeJS.Timeout | null = null;
  #suspended = false;
  #stopped = false;

  /** Whether there is anything to watch. */
  readonly enabled: boolean;

  constructor(options: KeepAliveOptions) {
    this.#options = options;
    this.enabled = options.idleTimeout > 0 || options.keepAliveInterval > 0;
  }

  start(): void {
    if (!this.enabled) return;
    this.#stopped = false;
    this.touch();
    this.#schedule(this.#firstDeadline());
  }

  /** The peer sent something. Cheap: called for every chunk. */
  touch(): void {
    if (!this.enabled) return;
    this.#last = performance.now();
    this.#pingedAt = -1;
  }

  /** Reading is paused (true) or resumed (false). */
  suspend(suspended: boolean): void {
    this.#suspended = suspended;
    if (!suspended) this.touch();
  }

  stop(): void {
    this.#stopped = true;
    this.#clear();
  }

  #clear(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #firstDeadline(): number {
    const { idleTimeout, keepAliveInterval } = this.#options;
    if (keepAliveInterval > 0 && (idleTimeout === 0 || keepAliveInterval < idleTimeout))
      return keepAliveInterval;
    return idleTimeout;
  }

  #schedule(ms: number): void {
    this.#clear();
    // ping() or timeout() may have ended the session (and stopped us) synchronously.
    if (this.#stopped) return;
    // The timer passes this object to one shared function: no closure per session.
    this.#timer = setTimeout(KeepAlive.#fire, Math.max(1, Math.ceil(ms)), this);
    this.#timer.unref();
  }

  static #fire(keepAlive: KeepAlive): void {
    keepAlive.#check();
  }

  #check(): void {
    this.#timer = null;
    const { idleTimeout, keepAliveInterval } = this.#options;
    const now = performance.now();
    if (this.#suspended) this.#last = now;
    const silent = now - this.#last;
    if (idleTimeout > 0 && silent >= idleTimeout) {
      this.#options.timeout();
      return;
    }
    let next = idleTimeout > 0 ? idleTimeout - silent : Infinity;
    if (keepAliveInterval > 0) {
      if (silent < keepAliveInterval) {
        next = Math.min(next, keepAliveInterval - silent);
      } else {
        // Silent for a whole interval: ping, and again every interval while it stays silent.
        const sincePing = this.#pingedAt < 0 ? Infinity : now - this.#pingedAt;
        if (sincePing >= keepAliveInterval) {
          this.#pingedAt = now;
          this.#options.ping();
          next = Math.min(next, keepAliveInterval);
        } else {
          next = Math.min(next, keepAliveInterval - sincePing);
        }
      }
    }
    this.#schedule(next);
  }
}
