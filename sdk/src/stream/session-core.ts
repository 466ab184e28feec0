/**
 * A session's internal state: the one object per session that the public `Session`, the
 * hot path (session-hooks.ts) and the cold modules (session-flow.ts, session-end.ts,
 * session-handshake.ts) share. It is also the handler of the session's core, writer and
 * keepalive (their callbacks are its methods, defined by the subclasses), so a session
 * costs two objects — `Session` and this — and no closure per callback.
 *
 * Its fields are plain properties, read directly by each part: no getter, call or
 * allocation is added on the per-message path by the split into files.
 */
import { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { ClientConnection, ServerConnection } from '../protocol/index.js';
import type {
  ClientConnectionOptions,
  ConnectionHandler,
  HandshakeInfo,
  ServerConnectionOptions,
  SessionError,
  SessionTicket,
} from '../protocol/index.js';
import { CLOSE_ABNORMAL } from '../common/defaults.js';
import { deferred, noop } from '../common/deferred.js';
import type { Deferred } from '../common/deferred.js';
import type { ResolvedSessionOptions } from '../common/options.js';
import { streamKeyLog } from '../observe/keylog.js';
import { KeepAlive } from './keep-alive.js';
import type { KeepAliveOptions } from './keep-alive.js';
import { MessageQueue } from './message-queue.js';
import { RecordWriter, writesAreCopied } from './record-writer.js';
import type { RecordWriterOptions } from './record-writer.js';
import type { ProxiedAddresses, SessionEmitter, SessionState } from './session-types.js';

/** How the core's connection is made (the role's options; the hooks live in the subclasses). */
export type CoreInit =
  | {
      readonly role: 'client';
      readonly connection: ClientConnectionOptions;
      /** Where the tickets the server sends go (the client's ticket store). */
      readonly newTicket?: ((ticket: SessionTicket) => void) | undefined;
    }
  | {
      readonly role: 'server';
      readonly connection: ServerConnectionOptions;
      readonly proxied?: ProxiedAddresses | undefined;
    };

export abstract class SessionCore implements ConnectionHandler, RecordWriterOptions, KeepAliveOptions {
  /** The public object: what events are emitted on and what the server's hooks are given. */
  readonly session: SessionEmitter;
  readonly transport: Duplex;
  readonly conn: ClientConnection | ServerConnection;
  readonly options: ResolvedSessionOptions;
  readonly inbound = new MessageQueue();
  readonly writer: RecordWriter;
  readonly keepAlive: KeepAlive;
  readonly ready: Promise<void>;
  /** Settles `ready`; dropped once it has, so an open session keeps only the settled promise. */
  settleReady: Deferred<void> | null;
  /** `closed`, made when first asked for: a server does not ask it of its idle sessions. */
  closed: Promise<void> | null = null;
  resolveClosed: (() => void) | null = null;
  /** Whether `closed` has resolved (or would have, had it been made). */
  closedResolved = false;
  /** The server's callback for this session's end (see `kOnClosed`). */
  onClosed: ((session: SessionEmitter) => void) | null = null;
  state: SessionState = 'handshake';
  info: HandshakeInfo | null = null;
  error: SessionError | null = null;
  closeCode = CLOSE_ABNORMAL;
  closeReason = '';
  localClose: { code: number; reason: string } | null = null;
  /** We sent End (`session.end()`): no more messages from this side. */
  writableEnded = false;
  /** The peer's End arrived: no more messages from the peer. */
  readableEnded = false;
  /** `'end'` was emitted (once the messages before the End were handed over, to a listener). */
  endEmitted = false;
  handshakeTimer: NodeJS.Timeout | null = null;
  closeTimer: NodeJS.Timeout | null = null;
  destroyTimer: NodeJS.Timeout | null = null;
  /** Reading is stopped because unread messages reached `readableHighWaterMark`. */
  paused = false;
  /** Reading is stopped because the peer does not read the replies it made us write. */
  stalled = false;
  transportClosed = false;
  /** When the session was handed to the application (`performance.now()`); -1 before (observe/). */
  openedAt = -1;
  /** Bytes read from the transport while not closed (`session.stats`; sent: the writer counts). */
  bytesReceived = 0;
  /** A client's ticket store (`newTicket`), if it asked for tickets. */
  readonly ticketSink: ((ticket: SessionTicket) => void) | null;
  /** Where a proxied server session's client really is (PROXY protocol); null: the socket says. */
  readonly proxied: ProxiedAddresses | null;

  constructor(session: SessionEmitter, transport: Duplex, init: CoreInit, options: ResolvedSessionOptions) {
    this.session = session;
    this.transport = transport;
    this.ticketSink = (init.role === 'client' && init.newTicket) || null;
    this.options = options;
    this.proxied = (init.role === 'server' && init.proxied) || null;
    const ready = deferred<void>();
    ready.promise.catch(noop);
    this.ready = ready.promise;
    this.settleReady = ready;
    const pooled = writesAreCopied(transport);
    const connectionOptions = {
      ...init.connection,
      maxMessageSize: options.maxMessageSize,
      keyLog: streamKeyLog(session),
      pooled,
    };
    this.conn =
      init.role === 'server'
        ? new ServerConnection(this, connectionOptions as ServerConnectionOptions)
        : new ClientConnection(this, connectionOptions as ClientConnectionOptions);
    this.writer = new RecordWriter(transport, this.conn, this, pooled);
    this.keepAlive = new KeepAlive(this);
  }

  /** Bytes handed to the transport (`session.stats`). */
  get bytesSent(): number {
    return this.writer.bytesSent;
  }

  get idleTimeout(): number {
    return this.options.idleTimeout;
  }

  get keepAliveInterval(): number {
    return this.options.keepAliveInterval;
  }

  /** See `Session[kExporter]`: the exporter (a copy) and this side's role while open; `forget` wipes it. */
  exporter(forget: boolean): { secret: Buffer | null; role: 'client' | 'server' } | null {
    const conn = this.conn;
    if (forget) {
      conn.forgetExporter();
      return null;
    }
    if (this.state !== 'open') return null;
    const secret = conn.exportSecret();
    if (!secret && conn.state !== 'open') return null;
    return { secret, role: conn instanceof ServerConnection ? 'server' : 'client' };
  }

  /**
   * One of the transport's endpoints (`session.remoteAddress` and the like): a TCP socket's,
   * or, on a server behind a trusted proxy, the PROXY header's; undefined for other transports.
   */
  endpoint<K extends keyof ProxiedAddresses>(key: K): ProxiedAddresses[K] | undefined {
    if (this.proxied) return this.proxied[key];
    const t = this.transport;
    return t instanceof Socket ? (t[key] as ProxiedAddresses[K] | undefined) : undefined;
  }

  /** `session.closed`: made on first use (most sessions are never asked). */
  closedPromise(): Promise<void> {
    if (!this.closed) {
      if (this.closedResolved) {
        this.closed = Promise.resolve();
      } else {
        const closed = deferred<void>();
        this.closed = closed.promise;
        this.resolveClosed = closed.resolve;
      }
    }
    return this.closed;
  }

  /** `session[kOnClosed]`: `callback(session)` in a microtask once the session is over. */
  whenClosed(callback: (session: SessionEmitter) => void): void {
    if (this.closedResolved) queueMicrotask(() => callback(this.session));
    else this.onClosed = callback;
  }

  /** Where the peer is, for debug lines. */
  label(): string {
    const p = this.proxied;
    if (p) return `${p.remoteAddress}:${p.remotePort}`;
    const t = this.transport;
    if (t instanceof Socket && t.remoteAddress) return `${t.remoteAddress}:${t.remotePort}`;
    return this.conn instanceof ServerConnection ? 'client' : 'server';
  }

  abstract send(data: Buffer): void;
  abstract established(info: HandshakeInfo): void;
  abstract message(data: Buffer): void;
  abstract peerClosed(code: number, reason: string): void;
  abstract onSealError(error: unknown): void;
  abstract ping(): void;
  abstract timeout(): void;
}
