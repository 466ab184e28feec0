/**
 * `DatagramServer.metrics()`: the stream server's snapshot (server/server-metrics.ts) where it
 * applies to datagrams. Sessions are those of the server's table — its handshakes' and the
 * channels `attach()` made — counted as they are added and removed (server-sessions.ts);
 * bytes and records are their packet and record counters (handshake packets are the server's
 * `counters`); handshakes succeed when their session opens and fail as `'handshakeError'`
 * reports them, or by their timeout (ERR_TIMEOUT); refusals are per DatagramRefusalLimit;
 * `probes` stays 0 and `resumed` too (a KeyRequest is answered without state, and datagram
 * sessions are not resumed). The recorder is the server's `DatagramCounters.metrics`, so the
 * handshake pipeline counts through the counters it already has.
 */
import type { Counted, ServerMetrics, ServerMetricsRecorder } from '../server/server-metrics.js';
import type { PoolCounts } from '../server/decrypt-pool.js';
import type { DatagramRefusalLimit } from './server-counters.js';
import type { DatagramSession } from './datagram-session.js';

/** `DatagramServer.metrics()`: `ServerMetrics` with the datagram server's refusal limits. */
export type DatagramServerMetrics = ServerMetrics<DatagramRefusalLimit>;

/** Every datagram refusal limit, at 0. */
export const NO_DATAGRAM_REFUSALS: Readonly<Record<DatagramRefusalLimit, number>> = Object.freeze({
  maxSessions: 0,
  maxSessionsPerAddress: 0,
  maxHandshakes: 0,
  maxHandshakesPerAddress: 0,
  maxPendingDecrypts: 0,
  handshakeRate: 0,
  noListener: 0,
});

/** @internal A datagram server's recorder. */
export type DatagramMetricsRecorder = ServerMetricsRecorder<DatagramRefusalLimit>;

/** @internal What the recorder reads of a datagram session: its counters as stats. */
export function countedOf(session: DatagramSession): Counted {
  return { stats: session.counters };
}

/** @internal What the snapshot reads of the server itself. */
export interface DatagramServerState {
  readonly handshakeCount: number;
  readonly pendingDecrypts: number;
  readonly workerCounts: PoolCounts;
}

/** @internal The snapshot: the open sessions' counts added to the ended ones'. */
export function datagramMetrics(
  recorder: DatagramMetricsRecorder,
  sessions: Iterable<DatagramSession>,
  server: DatagramServerState,
): DatagramServerMetrics {
  function* counted(): Generator<Counted> {
    for (const session of sessions) yield countedOf(session);
  }
  const rsa = { pending: server.pendingDecrypts, counts: server.workerCounts };
  return recorder.snapshot(counted(), server.handshakeCount, rsa);
}
