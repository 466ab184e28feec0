/**
 * The stream server's counters and `server.metrics()`'s snapshot of them (README "Metrics").
 * Always on: each event the server already handles (a session accepted or ended, a handshake
 * failed, a probe, a refusal) costs a few integer additions here, and nothing subscribes to
 * the diagnostics channels. A snapshot is plain data (JSON-able): the CLI's Prometheus
 * endpoint (cli/src/tunnel/metrics.ts) reads it on each scrape.
 *
 * Bytes and records are those of every session the server made, handshakes that failed
 * included: an ended session's counts are added to the totals as the server lets go of it,
 * and the live sessions' are added up when a snapshot is taken. No secret, key or address
 * is kept: counts, error codes and limit names only.
 */
import type { SessionStats } from '../observe/session-stats.js';
import type { PoolCounts } from './decrypt-pool.js';
import type { RefusalLimit } from './handshake-limiter.js';

/** A snapshot of a server's counters since it was created (`server.metrics()`). */
export interface ServerMetrics {
  readonly sessions: {
    /** Established sessions not yet closed. */
    readonly open: number;
    /** Sessions established (authorized and handed on), resumed ones included. */
    readonly opened: number;
    /** Of `opened`: resumed from a ticket (no RSA). */
    readonly resumed: number;
    /** Established sessions that have closed. */
    readonly closed: number;
  };
  readonly handshakes: {
    readonly inProgress: number;
    readonly succeeded: number;
    /** Failed handshakes: `failedByCode` added up (refusals and probes are counted apart). */
    readonly failed: number;
    /**
     * `ERR_…` code → failed handshakes: each `'handshakeError'`, and a client that left while
     * it was authorized (`ERR_SESSION_CLOSED`, no event). Nothing that ends during `stop()`.
     */
    readonly failedByCode: Readonly<Record<string, number>>;
    /** Key probes (`'probe'` events): a client took the key and left, or refused it. */
    readonly probes: number;
  };
  /** Connections and hellos refused by each load limit (`'refused'`); every limit present. */
  readonly refused: Readonly<Record<RefusalLimit, number>>;
  /** Transport bytes of all sessions, live and ended, handshakes included. */
  readonly bytes: { readonly sent: number; readonly received: number };
  /** Records of all sessions, live and ended. */
  readonly records: { readonly sent: number; readonly received: number };
  readonly rsa: {
    /** RSA operations queued for or running in the worker pool(s) (`pendingDecrypts`). */
    readonly queued: number;
    /** Answered by a worker since the server was created (`workerCounts`). */
    readonly decrypts: number;
    readonly verifies: number;
    /** Done on the main thread because no worker was left. */
    readonly mainThread: number;
  };
  /** Successful handshakes' durations (creation to acceptance, authorization included), in seconds. */
  readonly handshakeSeconds: {
    /** Upper bounds, seconds: {@link HANDSHAKE_BUCKETS}. */
    readonly buckets: readonly number[];
    /** `counts[i]`: handshakes that took at most `buckets[i]` s (cumulative, as Prometheus). */
    readonly counts: readonly number[];
    readonly sum: number;
    readonly count: number;
  };
}

/** The handshake histogram's bucket bounds, seconds (Prometheus' defaults, and 1 ms). */
export const HANDSHAKE_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Every limit, at 0: the type makes sure none is missing. */
const NO_REFUSALS: Readonly<Record<RefusalLimit, number>> = Object.freeze({
  maxConnections: 0,
  maxHandshakes: 0,
  maxHandshakesPerAddress: 0,
  maxPendingDecrypts: 0,
  handshakeRate: 0,
});

/** @internal The server's recorder, reached by server-events.ts through this symbol. */
export const kMetrics = Symbol('secsess.metrics');

/** @internal What the recorder reads of a session. */
export interface Counted {
  readonly stats: SessionStats;
}

/** @internal What the recorder reads of the server's keys (server-keys.ts). */
export interface RsaSource {
  readonly pending: number;
  readonly counts: PoolCounts;
}

/** @internal The counters of one server. */
export class ServerMetricsRecorder {
  #opened = 0;
  #resumed = 0;
  #closed = 0;
  #succeeded = 0;
  #failed = 0;
  #probes = 0;
  readonly #failedByCode = new Map<string, number>();
  readonly #refused: Record<RefusalLimit, number> = { ...NO_REFUSALS };
  /** Counts of the sessions let go of; the live ones are added in `snapshot()`. */
  #bytesSent = 0;
  #bytesReceived = 0;
  #recordsSent = 0;
  #recordsReceived = 0;
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly #buckets = new Array<number>(HANDSHAKE_BUCKETS.length + 1).fill(0);
  #seconds = 0;

  /** A session was accepted `ms` after it was made. */
  accepted(resumed: boolean, ms: number): void {
    this.#opened++;
    if (resumed) this.#resumed++;
    this.#succeeded++;
    const seconds = ms / 1000;
    this.#seconds += seconds;
    let i = 0;
    while (i < HANDSHAKE_BUCKETS.length && seconds > HANDSHAKE_BUCKETS[i]!) i++;
    this.#buckets[i]!++;
  }

  /** A handshake failed with `code` (not a refusal, not a probe). */
  failed(code: string): void {
    this.#failed++;
    this.#failedByCode.set(code, (this.#failedByCode.get(code) ?? 0) + 1);
  }

  probe(): void {
    this.#probes++;
  }

  refused(limit: RefusalLimit): void {
    this.#refused[limit]++;
  }

  /** An established session ended: its counts join the totals. */
  ended(session: Counted): void {
    this.#closed++;
    this.#add(session);
  }

  /**
   * A session that was never accepted (its handshake failed, or it ended or was denied during
   * authorization): its counts join the totals; `failure` (a denial, or a client that left
   * while authorized) counts as a failed handshake (other failures are counted as they are
   * reported: server-events.ts).
   */
  notAccepted(session: Counted, failure: { readonly code: string } | null): void {
    if (failure) this.failed(failure.code);
    this.#add(session);
  }

  #add(session: Counted): void {
    const stats = session.stats;
    this.#bytesSent += stats.bytesSent;
    this.#bytesReceived += stats.bytesReceived;
    this.#recordsSent += stats.recordsSent;
    this.#recordsReceived += stats.recordsReceived;
  }

  /** The snapshot, with the live sessions' counts: `open` established ones, `handshaking` ones. */
  snapshot(open: ReadonlySet<Counted>, handshaking: Iterable<Counted>, rsa: RsaSource): ServerMetrics {
    let bytesSent = this.#bytesSent;
    let bytesReceived = this.#bytesReceived;
    let recordsSent = this.#recordsSent;
    let recordsReceived = this.#recordsReceived;
    let inProgress = 0;
    const add = (session: Counted): void => {
      const stats = session.stats;
      bytesSent += stats.bytesSent;
      bytesReceived += stats.bytesReceived;
      recordsSent += stats.recordsSent;
      recordsReceived += stats.recordsReceived;
    };
    for (const session of open) add(session);
    for (const session of handshaking) {
      add(session);
      inProgress++;
    }
    const counts: number[] = [];
    let cumulative = 0;
    for (let i = 0; i < HANDSHAKE_BUCKETS.length; i++) counts.push((cumulative += this.#buckets[i]!));
    const pool = rsa.counts;
    return {
      sessions: { open: open.size, opened: this.#opened, resumed: this.#resumed, closed: this.#closed },
      handshakes: {
        inProgress,
        succeeded: this.#succeeded,
        failed: this.#failed,
        failedByCode: Object.fromEntries(this.#failedByCode),
        probes: this.#probes,
      },
      refused: { ...this.#refused },
      bytes: { sent: bytesSent, received: bytesReceived },
      records: { sent: recordsSent, received: recordsReceived },
      rsa: { queued: rsa.pending, decrypts: pool.decrypts, verifies: pool.verifies, mainThread: pool.inline },
      handshakeSeconds: { buckets: HANDSHAKE_BUCKETS, counts, sum: this.#seconds, count: this.#succeeded },
    };
  }
}
