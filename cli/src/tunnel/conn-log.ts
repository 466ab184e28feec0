/**
 * What `secsess serve` and `secsess connect --listen` tell their operator, one line an event
 * on stderr, as text (`secsess: EVENT key=value …`) or, with `--log-format json`, as one
 * JSON object a line with `time`, `event` and `side` first. Never key material: only
 * fingerprints, addresses, byte counts and codes.
 *
 * Events: `listening` (address, forward | to), `conn` (one per session — per channel on a
 * channel session — when it is over: peer, fingerprint, resumed, up, down, durationMs, close,
 * reason, and channel for a channel), `refused` (a connection
 * that did not become a session: peer, code, and limit for a load limit; past REFUSED_BURST
 * lines at once and REFUSED_PER_SECOND after, `suppressed`: how many were not written), `reload` (fingerprints, added, removed,
 * ticketKeys with --ticket-keys; or error, message), `metrics` (url: `serve --metrics`),
 * `draining` (sessions), `stopped`,
 * `worker` (`--workers`: pid, status, replaced). In a worker of `--workers`, every line
 * ends with its `worker` pid.
 */
import cluster from 'node:cluster';
import type { TextSink } from '../io.js';

/** `--log-format`. */
export const LOG_FORMATS = ['text', 'json'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

/** Which command writes the line. */
export type Side = 'serve' | 'connect';

/** One session, once it is over. */
export interface ConnRecord {
  /** The client of the tunnel: for serve the secsess client, for connect the local program. */
  readonly peer: string;
  /** serve: the client key's fingerprint (null if it sent none); connect: the server key's. */
  readonly fingerprint: string | null;
  /** Whether the session was resumed from a ticket (no RSA operation). */
  readonly resumed: boolean;
  /** Bytes from the client towards the service. */
  readonly up: number;
  /** Bytes from the service towards the client. */
  readonly down: number;
  readonly durationMs: number;
  /** The session's close code (1000 normal), or the code of the error that ended it. */
  readonly close: number | string;
  readonly reason: string;
  /** The channel's number, when the connection was a channel of a shared session (§6b). */
  readonly channel?: number;
}

/** A session as it starts: its peer and key are read then (the socket may be gone by its end). */
export interface ConnStart {
  readonly peer: string;
  readonly fingerprint: string | null;
  readonly resumed: boolean;
  /** `performance.now()` at the start. */
  readonly started: number;
  /** The channel's number, when the connection is a channel of a shared session (§6b). */
  readonly channel?: number;
}

/** How a session went, as the pump counts it. */
export interface ConnOutcome {
  /** Bytes read from the socket (or stdin) and written to the session. */
  readonly sent: number;
  /** Bytes of the session's messages written to the socket (or stdout). */
  readonly received: number;
  /** The close code (1000 for a normal end), or the code of the error that ended the session. */
  readonly close: number | string;
  readonly reason: string;
}

type Value = string | number | boolean | null | readonly string[];

/** The reload outcome: the keys now in force, or why nothing changed. */
export type ReloadRecord =
  | {
      readonly fingerprints: readonly string[];
      readonly added: number | null;
      readonly removed: number | null;
      /** Names of the ticket keys now in force (serve --ticket-keys), the issuing one first. */
      readonly ticketKeys?: readonly string[];
    }
  | { readonly error: string; readonly message: string };

/**
 * JSON text with every character outside printable ASCII as `\uXXXX` (still valid JSON).
 * Values can come from the peer (a close reason): JSON.stringify escapes C0 controls only,
 * leaving C1 controls (U+0085 NEL, U+009B CSI), U+2028/2029 line separators and bidi
 * overrides to forge or hide log lines on a terminal or in a line-based collector.
 */
function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[^\x20-\x7e]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

/** A text value: bare when it has no space, quote or comma-free list; else JSON-quoted. */
function textValue(value: Value): string {
  if (value === null) return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.join(',');
  const text = String(value);
  return text !== '' && /^[\x21-\x7e]+$/.test(text) && !text.includes('"') ? text : asciiJson(text);
}

/** `refused` lines at most, at once and then per second: refusals past them are counted. */
export const REFUSED_BURST = 100;
export const REFUSED_PER_SECOND = 20;

export class TunnelLog {
  /** In a worker of `--workers`, its pid: every line says which process wrote it. */
  readonly #worker = cluster.isWorker ? process.pid : null;
  /** `refused` lines that may be written now (a token bucket), as of `#refusalAt`. */
  #refusalTokens = REFUSED_BURST;
  #refusalAt: number;
  /** Refusals not written since the last `refused suppressed=N` line. */
  #suppressed = 0;
  #suppressedTimer: NodeJS.Timeout | null = null;

  constructor(
    readonly format: LogFormat,
    readonly side: Side,
    readonly sink: TextSink = process.stderr,
    /** Milliseconds, monotonic (a test may give its own). */
    private readonly clock: () => number = () => performance.now(),
  ) {
    this.#refusalAt = clock();
  }

  /** Writes one event; text lines name `fields` as given (aliases for text in `textNames`). */
  #line(event: string, given: Record<string, Value>, textNames: Record<string, string> = {}): void {
    const fields = this.#worker === null ? given : { ...given, worker: this.#worker };
    if (this.format === 'json') {
      const doc = { time: new Date().toISOString(), event, side: this.side, ...fields };
      this.sink.write(`${asciiJson(doc)}\n`);
      return;
    }
    let line = `secsess: ${event}`;
    for (const [name, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      line += ` ${textNames[name] ?? name}=${textValue(value)}`;
    }
    this.sink.write(`${line}\n`);
  }

  /** Listening on `address`, towards `target` (serve: `forward`; connect: `to`). */
  listening(address: string, target: string): void {
    this.#line('listening', this.side === 'serve' ? { address, forward: target } : { address, to: target });
  }

  /**
   * One session is over. Text: `secsess: conn peer=ADDR client=SHA256:…|- resumed=yes|no up=N
   * down=N ms=N close=1000|ERR_…` (`server=` on the connect side), then `reason="…"` when there
   * is one.
   */
  conn(record: ConnRecord): void {
    const fields: Record<string, Value> = {
      peer: record.peer,
      fingerprint: record.fingerprint,
      resumed: this.format === 'json' ? record.resumed : record.resumed ? 'yes' : 'no',
      up: record.up,
      down: record.down,
      durationMs: record.durationMs,
      close: record.close,
    };
    if (this.format === 'json' || record.reason !== '') fields['reason'] = record.reason;
    if (record.channel !== undefined) fields['channel'] = record.channel;
    this.#line('conn', fields, {
      fingerprint: this.side === 'serve' ? 'client' : 'server',
      durationMs: 'ms',
    });
  }

  /**
   * The `conn` line of a session that started as `start` and went as `outcome`. serve: the
   * client's bytes (up) come out of the session; connect: they go into it.
   */
  ended(start: ConnStart, outcome: ConnOutcome): void {
    const serve = this.side === 'serve';
    this.conn({
      peer: start.peer,
      fingerprint: start.fingerprint,
      resumed: start.resumed,
      up: serve ? outcome.received : outcome.sent,
      down: serve ? outcome.sent : outcome.received,
      durationMs: Math.round(performance.now() - start.started),
      close: outcome.close,
      reason: outcome.reason,
      ...(start.channel === undefined ? {} : { channel: start.channel }),
    });
  }

  /**
   * A connection that did not become a session, and why: a coded error, and for a load
   * limit (ERR_SERVER_BUSY) the option that refused it.
   */
  refused(peer: string, code: string, limit?: string): void {
    // Anyone who can reach the port can make refusals (garbage, an unknown key, a flood): the
    // lines they cost are bounded (REFUSED_BURST at once, REFUSED_PER_SECOND after), the rest
    // counted and logged as one `refused suppressed=N` line a second at most (its timer's),
    // or at once when the process drains or stops. Per process: each --workers worker has its own.
    const now = this.clock();
    this.#refusalTokens = Math.min(
      REFUSED_BURST,
      this.#refusalTokens + ((now - this.#refusalAt) / 1000) * REFUSED_PER_SECOND,
    );
    this.#refusalAt = now;
    if (this.#refusalTokens < 1) {
      this.#suppressed++;
      if (this.#suppressedTimer === null) {
        this.#suppressedTimer = setTimeout(() => this.#flushSuppressed(), 1000);
        this.#suppressedTimer.unref();
      }
      return;
    }
    this.#refusalTokens -= 1;
    this.#line('refused', limit === undefined ? { peer, code } : { peer, code, limit });
  }

  /** `refused suppressed=N`: the refusals not logged one by one since the last such line. */
  #flushSuppressed(): void {
    if (this.#suppressedTimer !== null) clearTimeout(this.#suppressedTimer);
    this.#suppressedTimer = null;
    const suppressed = this.#suppressed;
    this.#suppressed = 0;
    if (suppressed > 0) this.#line('refused', { suppressed });
  }

  /** SIGHUP: the keys in force, or the error that left the old ones in force. */
  reload(record: ReloadRecord): void {
    this.#line('reload', { ...record }, { ticketKeys: 'tickets' });
  }

  /** SIGTERM: no new connections; `sessions` still open are given the drain time. */
  draining(sessions: number): void {
    this.#flushSuppressed();
    this.#line('draining', { sessions });
  }

  /** `serve --metrics`: Prometheus metrics are served at `url` (the bound port). */
  metrics(url: string): void {
    this.#line('metrics', { url });
  }

  /** Every session is over and the listener closed; the process exits next. */
  stopped(): void {
    this.#flushSuppressed();
    this.#line('stopped', {});
  }

  /**
   * `serve --workers`: a worker process ended outside a stop (`status`: its exit code or
   * signal), or did not stop cleanly; `replaced` if another was started in its place.
   */
  worker(pid: number, status: number | string, replaced: boolean): void {
    this.#line('worker', { pid, status, replaced });
  }
}
