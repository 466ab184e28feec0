/**
 * What both servers' metrics are made of (README "Metrics"): the snapshot's shape,
 * `ServerMetricsOf<Limit>` (the stream `Server`'s `ServerMetrics` and the `DatagramServer`'s
 * `DatagramServerMetrics` differ only in their refusal limits), and `ServerTally`, the
 * counters behind it: sessions, handshakes by outcome and code, refusals by limit, the
 * traffic of the sessions that ended, the handshake-duration histogram. Each event costs an
 * addition or two; a snapshot is plain data. Counts, codes and limit names only: no address,
 * key or secret; and which backend seals each AEAD cipher (`crypto`, the process's).
 */
import { cryptoBackends } from '../protocol/aead.js';
import type { CryptoBackends } from '../protocol/aead.js';
import type { SessionStats } from './session-stats.js';

/** A snapshot of a server's counters since it was created; `Limit`: its refusal limits. */
export interface ServerMetricsOf<Limit extends string> {
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
    /** `ERR_…` code → failed handshakes. */
    readonly failedByCode: Readonly<Record<string, number>>;
    /** Key probes: a client took the key and left, or refused it. */
    readonly probes: number;
  };
  /** Connections and hellos refused by each load limit (`'refused'`); every limit present. */
  readonly refused: Readonly<Record<Limit, number>>;
  /** Transport bytes of all sessions, live and ended. */
  readonly bytes: { readonly sent: number; readonly received: number };
  /** Records of all sessions, live and ended. */
  readonly records: { readonly sent: number; readonly received: number };
  readonly rsa: {
    /** RSA operations queued for or running in the worker pool(s) (`pendingDecrypts`). */
    readonly queued: number;
    /** Answered by a worker since the server was created (`workerCounts`). */
    readonly decrypts: number;
    readonly verifies: number;
    /** Done on the main thread: with workers, those no worker was left for; with `workers: 0`, every decryption. */
    readonly mainThread: number;
  };
  /** Successful handshakes' durations, in seconds. */
  readonly handshakeSeconds: {
    /** Upper bounds, seconds: {@link HANDSHAKE_BUCKETS}. */
    readonly buckets: readonly number[];
    /** `counts[i]`: handshakes that took at most `buckets[i]` s (cumulative, as Prometheus). */
    readonly counts: readonly number[];
    readonly sum: number;
    readonly count: number;
  };
  readonly crypto: {
    /**
     * Each AEAD record cipher's backend in this process (`cryptoBackends()`):
     * both `'@secsess/native'` when it was built and loads; else `'aes-256-gcm'` is
     * `'node:crypto'` and `'chacha20-poly1305'` is `'sodium-native'` when it loaded, else
     * `'node:crypto'` (`SECSESS_CRYPTO=sodium` skips @secsess/native, `=node` forces node:crypto).
     */
    readonly aead: CryptoBackends;
  };
}

/** The handshake histogram's bucket bounds, seconds (Prometheus' defaults, and 1 ms). */
export const HANDSHAKE_BUCKETS: readonly number[] = Object.freeze([
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
]);

/** Bytes and records each way: a session's `stats` (a datagram session's `counters` have them too). */
export type Traffic = SessionStats;

/** @internal The counters of one server; its recorder adds what only it knows to the snapshot. */
export class ServerTally<Limit extends string> {
  opened = 0;
  resumed = 0;
  closed = 0;
  succeeded = 0;
  probes = 0;
  #failed = 0;
  readonly #failedByCode = new Map<string, number>();
  readonly #refused: Record<Limit, number>;
  /** Traffic of the sessions let go of; the live ones are added by `traffic()`. */
  readonly #ended = { bytesSent: 0, bytesReceived: 0, recordsSent: 0, recordsReceived: 0 };
  /** Per bucket, not cumulative; the last one is +Inf. */
  readonly #buckets = new Array<number>(HANDSHAKE_BUCKETS.length + 1).fill(0);
  #seconds = 0;

  /** `limits`: every refusal limit at 0 (the type makes sure none is missing). */
  constructor(limits: Readonly<Record<Limit, number>>) {
    this.#refused = { ...limits };
  }

  /** A handshake succeeded, `ms` after it began. */
  succeededIn(ms: number): void {
    this.succeeded++;
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

  refused(limit: Limit): void {
    this.#refused[limit]++;
  }

  /** A session the server lets go of: its traffic joins the totals. */
  release(traffic: Traffic): void {
    addTraffic(this.#ended, traffic);
  }

  /** The totals: the released sessions' and those of `live`. */
  traffic(live: Iterable<Traffic>): {
    bytes: ServerMetricsOf<Limit>['bytes'];
    records: ServerMetricsOf<Limit>['records'];
  } {
    const total = { ...this.#ended };
    for (const t of live) addTraffic(total, t);
    return {
      bytes: { sent: total.bytesSent, received: total.bytesReceived },
      records: { sent: total.recordsSent, received: total.recordsReceived },
    };
  }

  /** The handshake part of the snapshot; `extra` failures by code (counted elsewhere) added in. */
  handshakes(
    inProgress: number,
    extra?: Readonly<Record<string, number>>,
  ): ServerMetricsOf<Limit>['handshakes'] {
    const failedByCode = Object.fromEntries(this.#failedByCode) as Record<string, number>;
    let failed = this.#failed;
    for (const [code, n] of Object.entries(extra ?? {})) {
      if (n === 0) continue;
      failedByCode[code] = (failedByCode[code] ?? 0) + n;
      failed += n;
    }
    return { inProgress, succeeded: this.succeeded, failed, failedByCode, probes: this.probes };
  }

  refusals(): Readonly<Record<Limit, number>> {
    return { ...this.#refused };
  }

  histogram(): ServerMetricsOf<Limit>['handshakeSeconds'] {
    const counts: number[] = [];
    let cumulative = 0;
    for (let i = 0; i < HANDSHAKE_BUCKETS.length; i++) counts.push((cumulative += this.#buckets[i]!));
    return { buckets: HANDSHAKE_BUCKETS, counts, sum: this.#seconds, count: this.succeeded };
  }

  /** The crypto part of the snapshot: the process's backends (chosen once, at the first use). */
  crypto(): ServerMetricsOf<Limit>['crypto'] {
    return { aead: cryptoBackends() };
  }
}

function addTraffic(total: { -readonly [K in keyof Traffic]: number }, t: Traffic): void {
  total.bytesSent += t.bytesSent;
  total.bytesReceived += t.bytesReceived;
  total.recordsSent += t.recordsSent;
  total.recordsReceived += t.recordsReceived;
}
