/**
 * `DatagramServer.metrics()`: the stream server's snapshot (`Server.metrics()`, README
 * "Metrics") where it applies to a datagram server. Always on: each event the server
 * already handles (a session added or ended, a handshake failed or timed out, a refusal)
 * costs an addition or two here; nothing subscribes to the diagnostics channels.
 *
 * Differences from the stream server's: no resumption (`sessions.resumed` is 0) and no key
 * probes (`handshakes.probes` is 0: a KeyRequest holds no state, `counters.keyResponses`
 * counts them); the refusal limits are the datagram ones (`noListener`, `maxSessions`, …).
 * Sessions include the §D9 channels `attach()` made (they have no handshake). Bytes and
 * records are the sessions' own (whole Record packets, each way; the handshake packets
 * before a session are the server's `counters`). A handshake's time runs from its admitted
 * Hello to its session, authorization included. No address, key or secret is kept.
 */
import { ErrorCode } from '../protocol/index.js';
import type { PoolCounts } from '../server/decrypt-pool.js';
import type { DatagramRefusalLimit, DatagramServerCounters } from './server-counters.js';
import type { DatagramSessionCounters } from './session-types.js';

/** A snapshot of a datagram server's counters since it was created. */
export interface DatagramServerMetrics {
  readonly sessions: {
    /** Sessions open now (channels included). */
    readonly open: number;
    /** Sessions opened: handshakes that completed, and channels. */
    readonly opened: number;
    /** Always 0: datagram sessions do not resume. */
    readonly resumed: number;
    /** Sessions that have ended. */
    readonly closed: number;
  };
  readonly handshakes: {
    /** Handshakes holding state (admitted Hello, no ClientFinished yet). */
    readonly inProgress: number;
    readonly succeeded: number;
    /**
     * `failedByCode` added up: every `'handshakeError'`, handshake timeouts (`ERR_TIMEOUT`),
     * and sessions closed at once for want of a `'session'` listener (`ERR_SESSION_CLOSED`).
     */
    readonly failed: number;
    readonly failedByCode: Readonly<Record<string, number>>;
    /** Always 0: a datagram KeyRequest is answered statelessly, not a handshake. */
    readonly probes: number;
  };
  /** Hellos refused by each limit (`'refused'`); every limit present. */
  readonly refused: Readonly<Record<DatagramRefusalLimit, number>>;
  /** Bytes of the Record packets of all sessions, live and ended. */
  readonly bytes: { readonly sent: number; readonly received: number };
  /** Records of all sessions, live and ended: sent (retransmissions included) and opened. */
  readonly records: { readonly sent: number; readonly received: number };
  readonly rsa: {
    /** RSA operations queued for or running in the worker pool (`pendingDecrypts`). */
    readonly queued: number;
    /** Answered by a worker since `start()` (`workerCounts`). */
    readonly decrypts: number;
    readonly verifies: number;
    /**
     * Done on the main thread: with workers, those no worker was left for; with
     * `workers: 0`, every decryption (signature checks are not counted there).
     */
    readonly mainThread: number;
  };
  /** Successful handshakes' durations in seconds, as the stream server's histogram. */
  readonly handshakeSeconds: {
    readonly buckets: readonly number[];
    /** `counts[i]`: handshakes that took at most `buckets[i]` s (cumulative, as Prometheus). */
    readonly counts: readonly number[];
    readonly sum: number;
    readonly count: number;
  };
}

/** The histogram's bucket bounds, seconds: the stream server's (Prometheus' defaults, and 1 ms). */
export const DATAGRAM_HANDSHAKE_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Every limit, at 0: the type makes sure none is missing. */
const NO_REFUSALS: Readonly<Record<DatagramRefusalLimit, number>> = Object.freeze({
  noListener: 0,
  maxSessions: 0,
  maxSessionsPerAddress: 0,
  maxHandshakes: 0,
  maxHandshakesPerAddress: 0,
  maxPendingDecrypts: 0,
  handshakeRate: 0,
});

/** What the recorder reads of a session. */
export interface MeteredSession {
  readonly counters: DatagramSessionCounters;
}

/** @internal The counters of one DatagramServer. */
export class DatagramMetrics {
  #opened = 0;
  #closed = 0;
  #succeeded = 0;
  #failed = 0;
  readonly #failedByCode = new Map<string, number>();
  readonly #refused: Record<DatagramRefusalLimit, number> = { ...NO_REFUSALS };
  /** Counts of the sessions that ended; the live ones are added in `snapshot()`. */
  readonly #ended = { bytesSent: 0, bytesReceived: 0, recordsSent: 0, recordsReceived: 0 };
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly #buckets = new Array<number>(DATAGRAM_HANDSHAKE_BUCKETS.length + 1).fill(0);
  #seconds = 0;

  /** A session was added (a handshake's or a channel). */
  opened(): void {
    this.#opened++;
  }

  /** A handshake completed `ms` after its Hello was admitted. */
  succeeded(ms: number): void {
    this.#succeeded++;
    const seconds = ms / 1000;
    this.#seconds += seconds;
    let i = 0;
    while (i < DATAGRAM_HANDSHAKE_BUCKETS.length && seconds > DATAGRAM_HANDSHAKE_BUCKETS[i]!) i++;
    this.#buckets[i]!++;
  }

  /** A handshake failed with `code`. */
  failed(code: string): void {
    this.#failed++;
    this.#failedByCode.set(code, (this.#failedByCode.get(code) ?? 0) + 1);
  }

  refused(limit: DatagramRefusalLimit): void {
    this.#refused[limit]++;
  }

  /** A session ended (called once, from its `onEnd`): its counts join the totals. */
  ended(session: MeteredSession): void {
    this.#closed++;
    add(this.#ended, session.counters);
  }

  /**
   * The snapshot, with the live sessions' counts: `sessions` open, `inProgress` handshakes,
   * the worker `pool` (null with `workers: 0`), the server's `counters` (timeouts, RSA started).
   */
  snapshot(
    sessions: { readonly size: number; values(): Iterable<MeteredSession> },
    inProgress: number,
    pool: { readonly pending: number; readonly counts: PoolCounts } | null,
    counters: DatagramServerCounters,
  ): DatagramServerMetrics {
    const total = { ...this.#ended };
    for (const session of sessions.values()) add(total, session.counters);
    const failedByCode = Object.fromEntries(this.#failedByCode);
    // Timeouts are not 'handshakeError' events: the server counts them apart.
    if (counters.handshakeTimeouts > 0) {
      failedByCode[ErrorCode.TIMEOUT] = (failedByCode[ErrorCode.TIMEOUT] ?? 0) + counters.handshakeTimeouts;
    }
    const counts: number[] = [];
    let cumulative = 0;
    for (let i = 0; i < DATAGRAM_HANDSHAKE_BUCKETS.length; i++)
      counts.push((cumulative += this.#buckets[i]!));
    return {
      sessions: { open: sessions.size, opened: this.#opened, resumed: 0, closed: this.#closed },
      handshakes: {
        inProgress,
        succeeded: this.#succeeded,
        failed: this.#failed + counters.handshakeTimeouts,
        failedByCode,
        probes: 0,
      },
      refused: { ...this.#refused },
      bytes: { sent: total.bytesSent, received: total.bytesReceived },
      records: { sent: total.recordsSent, received: total.recordsReceived },
      rsa: pool
        ? {
            queued: pool.pending,
            decrypts: pool.counts.decrypts,
            verifies: pool.counts.verifies,
            mainThread: pool.counts.inline,
          }
        : { queued: 0, decrypts: 0, verifies: 0, mainThread: counters.decrypts },
      handshakeSeconds: {
        buckets: DATAGRAM_HANDSHAKE_BUCKETS,
        counts,
        sum: this.#seconds,
        count: this.#succeeded,
      },
    };
  }
}

type Totals = { bytesSent: number; bytesReceived: number; recordsSent: number; recordsReceived: number };

function add(total: Totals, c: DatagramSessionCounters): void {
  total.bytesSent += c.bytesSent;
  total.bytesReceived += c.bytesReceived;
  total.recordsSent += c.recordsSent;
  total.recordsReceived += c.recordsReceived;
}
