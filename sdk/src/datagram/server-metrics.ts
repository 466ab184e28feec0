/**
 * `DatagramServer.metrics()`: the stream server's snapshot (`Server.metrics()`, README
 * "Metrics"; shape and counting shared: observe/server-tally.ts) where it applies to a
 * datagram server. Always on: each event the server already handles (a session added or
 * ended, a handshake failed or timed out, a refusal) costs an addition or two here; nothing
 * subscribes to the diagnostics channels.
 *
 * Differences from the stream server's: no resumption (`sessions.resumed` is 0) and no key
 * probes (`handshakes.probes` is 0: a KeyRequest holds no state, `counters.keyResponses`
 * counts them); the refusal limits are the datagram ones (`noListener`, `maxSessions`, …);
 * `failedByCode` counts every `'handshakeError'`, handshake timeouts (`ERR_TIMEOUT`) and
 * sessions closed at once for want of a `'session'` listener (`ERR_SESSION_CLOSED`).
 * Sessions include the §D9 channels `attach()` made (they have no handshake). Bytes and
 * records are the sessions' own (whole Record packets, each way, retransmissions included;
 * the handshake packets before a session are the server's `counters`). A handshake's time
 * runs from its admitted Hello to its session, authorization included; with `workers: 0`
 * `rsa.mainThread` counts every decryption (signature checks are not counted there).
 */
import { ErrorCode } from '../protocol/index.js';
import { ServerTally } from '../observe/server-tally.js';
import type { ServerMetricsOf } from '../observe/server-tally.js';
import type { PoolCounts } from '../server/decrypt-pool.js';
import type { DatagramRefusalLimit, DatagramServerCounters } from './server-counters.js';
import type { DatagramSessionCounters } from './session-types.js';

/** A snapshot of a datagram server's counters since it was created. */
export type DatagramServerMetrics = ServerMetricsOf<DatagramRefusalLimit>;

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
  readonly #tally = new ServerTally<DatagramRefusalLimit>(NO_REFUSALS);

  /** A session was added (a handshake's or a channel). */
  opened(): void {
    this.#tally.opened++;
  }

  /** A handshake completed `ms` after its Hello was admitted. */
  succeeded(ms: number): void {
    this.#tally.succeededIn(ms);
  }

  /** A handshake failed with `code`. */
  failed(code: string): void {
    this.#tally.failed(code);
  }

  refused(limit: DatagramRefusalLimit): void {
    this.#tally.refused(limit);
  }

  /** A session ended (called once, from its `onEnd`): its counts join the totals. */
  ended(session: MeteredSession): void {
    this.#tally.closed++;
    this.#tally.release(session.counters);
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
    const tally = this.#tally;
    const live: DatagramSessionCounters[] = [];
    for (const session of sessions.values()) live.push(session.counters);
    return {
      sessions: { open: sessions.size, opened: tally.opened, resumed: 0, closed: tally.closed },
      // Timeouts are not 'handshakeError' events: the server counts them apart.
      handshakes: tally.handshakes(inProgress, { [ErrorCode.TIMEOUT]: counters.handshakeTimeouts }),
      refused: tally.refusals(),
      ...tally.traffic(live),
      rsa: pool
        ? {
            queued: pool.pending,
            decrypts: pool.counts.decrypts,
            verifies: pool.counts.verifies,
            mainThread: pool.counts.inline,
          }
        : { queued: 0, decrypts: 0, verifies: 0, mainThread: counters.decrypts },
      handshakeSeconds: tally.histogram(),
      crypto: tally.crypto(),
    };
  }
}
