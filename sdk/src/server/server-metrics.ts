/**
 * The stream server's counters and `server.metrics()`'s snapshot of them (README "Metrics";
 * the shape and the counting shared with the DatagramServer: observe/server-tally.ts).
 * Always on: each event the server already handles (a session accepted or ended, a handshake
 * failed, a probe, a refusal) costs a few integer additions here, and nothing subscribes to
 * the diagnostics channels. The CLI's Prometheus endpoint (cli/src/tunnel/metrics.ts) reads
 * a snapshot on each scrape.
 *
 * Bytes and records are those of every session the server made, handshakes that failed
 * included: an ended session's counts are added to the totals as the server lets go of it,
 * and the live sessions' are added up when a snapshot is taken. `failedByCode` counts each
 * `'handshakeError'`, and a client that left while it was authorized (`ERR_SESSION_CLOSED`,
 * no event); nothing that ends during `stop()`.
 */
import { ServerTally } from '../observe/server-tally.js';
import type { ServerMetricsOf } from '../observe/server-tally.js';
import type { SessionStats } from '../observe/session-stats.js';
import type { PoolCounts } from './decrypt-pool.js';
import type { RefusalLimit } from './handshake-limiter.js';

/** A snapshot of a stream server's counters since it was created (`server.metrics()`). */
export type ServerMetrics = ServerMetricsOf<RefusalLimit>;

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
  readonly #tally = new ServerTally<RefusalLimit>(NO_REFUSALS);

  /** A session was accepted `ms` after it was made. */
  accepted(resumed: boolean, ms: number): void {
    this.#tally.opened++;
    if (resumed) this.#tally.resumed++;
    this.#tally.succeededIn(ms);
  }

  /** A handshake failed with `code` (not a refusal, not a probe). */
  failed(code: string): void {
    this.#tally.failed(code);
  }

  probe(): void {
    this.#tally.probes++;
  }

  refused(limit: RefusalLimit): void {
    this.#tally.refused(limit);
  }

  /** An established session ended: its counts join the totals. */
  ended(session: Counted): void {
    this.#tally.closed++;
    this.#tally.release(session.stats);
  }

  /**
   * A session that was never accepted (its handshake failed, or it ended or was denied during
   * authorization): its counts join the totals; `failure` (a denial, or a client that left
   * while authorized) counts as a failed handshake (other failures are counted as they are
   * reported: server-events.ts).
   */
  notAccepted(session: Counted, failure: { readonly code: string } | null): void {
    if (failure) this.#tally.failed(failure.code);
    this.#tally.release(session.stats);
  }

  /** The snapshot, with the live sessions' counts: `open` established ones, `handshaking` ones. */
  snapshot(open: ReadonlySet<Counted>, handshaking: Iterable<Counted>, rsa: RsaSource): ServerMetrics {
    const tally = this.#tally;
    const live: SessionStats[] = [];
    for (const session of open) live.push(session.stats);
    let inProgress = 0;
    for (const session of handshaking) {
      live.push(session.stats);
      inProgress++;
    }
    const pool = rsa.counts;
    return {
      sessions: { open: open.size, opened: tally.opened, resumed: tally.resumed, closed: tally.closed },
      handshakes: tally.handshakes(inProgress),
      refused: tally.refusals(),
      ...tally.traffic(live),
      rsa: { queued: rsa.pending, decrypts: pool.decrypts, verifies: pool.verifies, mainThread: pool.inline },
      handshakeSeconds: tally.histogram(),
      crypto: tally.crypto(),
    };
  }
}
