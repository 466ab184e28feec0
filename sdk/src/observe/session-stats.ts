/**
 * What a session has carried so far, each way: `session.stats`. Counted as a few integer
 * additions on the paths bytes and records already take (the transport's chunks in, the
 * frames handed to it out, the record layer's sequence numbers), so it is always on and
 * costs nothing to read until asked: each read makes one small frozen object.
 *
 * The server adds its sessions' counts up for `server.metrics()` (server/server-metrics.ts),
 * and the `secsess:session:close` channel reports them (channels.ts).
 */

/** A session's transport bytes and records, each way, since it began. */
export interface SessionStats {
  /**
   * Bytes handed to the transport: every frame, handshake frames and headers included
   * (for a datagram session: packet bytes).
   */
  readonly bytesSent: number;
  /** Bytes read from the transport while the session was not closed, handshake included. */
  readonly bytesReceived: number;
  /** Records sealed (encrypted) and sent: data, batches, pings, key updates, close, … */
  readonly recordsSent: number;
  /** Records received and authenticated. */
  readonly recordsReceived: number;
}

/** What the counts are read from: a session's byte counters and its connection's records. */
export interface StatsSource {
  readonly bytesSent: number;
  readonly bytesReceived: number;
  readonly conn: { readonly recordsSent: number; readonly recordsReceived: number };
}

/** A snapshot of `source`'s counts: a new frozen object each call. */
export function sessionStats(source: StatsSource): SessionStats {
  const conn = source.conn;
  return Object.freeze({
    bytesSent: source.bytesSent,
    bytesReceived: source.bytesReceived,
    recordsSent: conn.recordsSent,
    recordsReceived: conn.recordsReceived,
  });
}
