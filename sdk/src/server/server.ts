/**
 * The TCP server: SecSess's `Server.create(endpoint, privateKey, set)` / `start()` / `acceptClient()` /
 * `stop()`, plus Node's `'session'` event. It accepts sockets, hands each to a server-role {@link Session},
 * and passes established sessions on through its accept queue (accept-queue.ts: a waiting
 * `acceptClient()`, else `'session'` listeners, else a queue of at most `maxPendingSessions`; past it,
 * close code 1013).
 *
 * A session is handed on even if it closed in the meantime, so what its client sent before closing can
 * still be read. A handshake that fails is reported through `'handshakeError'` and never disturbs the
 * server or other sessions.
 *
 * Admission is decided before a byte is read (admission.ts, which says how, and SECURITY.md): past a load
 * limit a connection or ClientHello gets ServerBusy and `'refused'` is emitted; behind a load balancer
 * (proxy-accept.ts) the client a trusted PROXY header names is the one admitted. Counters: server-metrics.ts.
 */
import { EventEmitter, captureRejectionSymbol } from 'node:events';
import { createServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import { ErrorCode, SessionError } from '../protocol/index.js';
import type { AlgorithmSet, Suite } from '../protocol/index.js';
import { debug, debugSession } from '../common/debug.js';
import type { PoolCounts } from './decrypt-pool.js';
import type { Endpoint } from '../common/endpoint.js';
import { debugListening, listenOn, parseListenTarget, usedAlready } from './listen.js';
import type { ListenTarget, ServerEndpointInput } from './listen.js';
import { ServerKeys } from './server-keys.js';
import { DrainWait, checkStopOptions, goAway } from './drain.js';
import type { StopOptions } from './drain.js';
import { AcceptQueue } from './accept-queue.js';
import { Lingerer } from './linger.js';
import { ConnectionAdmission, refuseSocket } from './admission.js';
import { checkPrivateKeys, resolveSuites } from '../common/key-input.js';
import type { PrivateKeyInput } from '../common/key-input.js';
import { resolveServerOptions } from './server-options.js';
import type { ResolvedServerOptions, ServerOptions } from './server-options.js';
import { createServerSession } from './server-session.js';
import { borrowReads } from '../stream/borrowed-reads.js';
import type { Session } from '../stream/session.js';
import { kFail, kIssueTicket, kOnClosed, kReady } from '../stream/session-types.js';
import { opened, traceHandshake } from '../stream/session-observe.js';
import { Authorizer } from './authorization.js';
import { ProxyAccept, remoteOf } from './proxy-accept.js';
import type { StartSession } from './proxy-accept.js';
import { ServerTickets } from './tickets.js';
import { ServerMetricsRecorder, kMetrics } from './server-metrics.js';
import type { ServerMetrics } from './server-metrics.js';

export type { RemoteInfo, ServerEvents, ServerReload } from './server-events.js';
import { emitRefused, emitSession, remoteLabel, reportHandshakeFailure } from './server-events.js';
import { reportNotAuthorized, routeListenerRejection } from './server-events.js';
import type { ServerEvents, ServerReload } from './server-events.js';

type ServerState = 'idle' | 'starting' | 'listening' | 'stopping';

export class Server extends EventEmitter<ServerEvents> {
  readonly #endpoint: ListenTarget;
  readonly #suites: Suite[] | undefined;
  readonly #options: ResolvedServerOptions;
  readonly #authorizer: Authorizer;
  #state: ServerState = 'idle';
  #listener: NetServer | null = null;
  /** The keys in force and their worker pool(s); see server-keys.ts. */
  readonly #keys: ServerKeys;
  #address: Endpoint | null = null;
  /** An inherited socket is listened on once: stop() closes it, and its number may be reused. */
  #inheritedUsed = false;
  readonly #admission: ConnectionAdmission;
  readonly #handshaking: ConnectionAdmission['handshaking'];
  readonly #lingerer = new Lingerer();
  readonly #sessions = new Set<Session>();
  readonly #accepted: AcceptQueue;
  readonly #proxy: ProxyAccept | null;
  /** `start()` while it is under way: a `stop()` waits for it. */
  #starting: Promise<void> | null = null;
  #stopping: Promise<void> | null = null;
  /** The wait of `stop({ drain })` while it lasts. */
  #drain: DrainWait | null = null;
  /** Resumption tickets (the `tickets` option, or `setTicketKeys()`). */
  readonly #tickets: ServerTickets;
  /** @internal The counters behind `metrics()` (server-metrics.ts); server-events.ts counts there too. */
  readonly [kMetrics] = new ServerMetricsRecorder();

  private constructor(
    endpoint: ListenTarget,
    keys: readonly PrivateKeyInput[],
    suites: Suite[] | undefined,
    options: ServerOptions | undefined,
  ) {
    super({ captureRejections: true });
    this.#endpoint = endpoint;
    this.#suites = suites;
    this.#options = resolveServerOptions(options);
    this.#authorizer = new Authorizer(options ?? {});
    this.#admission = new ConnectionAdmission(this.#options);
    this.#keys = new ServerKeys(keys, this.#options, this.#admission);
    this.#handshaking = this.#admission.handshaking;
    this.#accepted = new AcceptQueue(this.#options.maxPendingSessions);
    this.#tickets = new ServerTickets(this.#options.tickets);
    const proxy = this.#options.proxyProtocol;
    this.#proxy = proxy && new ProxyAccept(proxy, this, this.#admission);
  }

  /**
   * Creates a server (not listening yet: call `start()`).
   *
   * @param endpoint Where to listen: `"127.0.0.1:4433"`, `"[::1]:0"`, `{ host, port }`; port 0
   *   picks a free port. Or `{ fd: 3 }`: an inherited TCP socket, already bound and listening
   *   (systemd socket activation); the server owns it from `start()` on and `stop()` closes it.
   * @param privateKey The server's key, or a key file path; an array of them during a
   *   key rotation (clients may name any; the first is the one announced). Files are read
   *   by `start()`, and again by `reloadKeys()`.
   * @param set The accepted algorithm set(s). Default: every supported suite.
   * @param options Timeouts, limits and the worker pool; see {@link ServerOptions}.
   * @throws TypeError / RangeError for invalid arguments.
   */
  static create(
    endpoint: ServerEndpointInput,
    privateKey: PrivateKeyInput | readonly PrivateKeyInput[],
    set?: AlgorithmSet | readonly AlgorithmSet[],
    options?: ServerOptions,
  ): Server {
    return new Server(parseListenTarget(endpoint), checkPrivateKeys(privateKey), resolveSuites(set), options);
  }

  /**
   * The address the server listens on (the real port when 0 was asked, an inherited
   * socket's own address), or null when not listening. Kept while `stop()` runs.
   */
  get address(): Endpoint | null {
    return this.#address;
  }

  /** Established sessions not yet closed (accepted or queued). */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Connections still in their handshake. */
  get handshakeCount(): number {
    return this.#handshaking.size;
  }

  /** RSA operations queued for or running in the worker pool (after `reloadKeys()`, the replaced one's too). */
  get pendingDecrypts(): number {
    return this.#keys.pending;
  }

  /**
   * RSA operations since the server was created (across `stop()` and `start()`): OAEP
   * decryptions and client-signature verifications answered by a worker, and operations of
   * either kind done on the main thread because no worker was left; with `workers: 0`, every
   * decryption is `inline` (signature checks are not counted then).
   */
  get workerCounts(): PoolCounts {
    return this.#keys.counts;
  }

  /** A snapshot of the server's counters: sessions, handshakes, refusals, bytes, RSA (README "Metrics"). */
  metrics(): ServerMetrics {
    return this[kMetrics].snapshot(this.#sessions, this.#handshaking.items(), this.#keys);
  }

  /** Whether the server is listening. */
  get listening(): boolean {
    return this.#state === 'listening';
  }

  /** Whether `stop({ drain })` is waiting for open sessions to close on their own. */
  get draining(): boolean {
    return this.#drain !== null;
  }

  /**
   * Loads the key files, starts the decryption workers and listens. Resolves once
   * listening. Rejects with the KeyError of an unreadable key, or ERR_TRANSPORT if the
   * address cannot be bound or the inherited fd cannot be listened on (cause: the system
   * error, e.g. EADDRINUSE, EINVAL for an fd that is no socket; also for a socket that is
   * not TCP), ERR_INVALID_STATE if the server is already starting, listening or stopping,
   * or was given an inherited socket that an earlier `start()` listened on (or tried to).
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') {
      throw new SessionError(ErrorCode.INVALID_STATE, `server is already ${this.#state}: stop() it first`);
    }
    // Closed by the first listener; its number may since name another of our descriptors.
    if (this.#inheritedUsed) throw usedAlready(this.#endpoint);
    this.#state = 'starting';
    this.#starting = this.#start().finally(() => (this.#starting = null));
    return this.#starting;
  }

  /** What `start()` does once it may. */
  async #start(): Promise<void> {
    try {
      this.#keys.install(await this.#keys.load());
      await this.#authorizer.load();
      // Paused: a connection that is refused is never read from.
      const listener = createServer({ noDelay: true, pauseOnConnect: true }, (socket) =>
        this.#onConnection(socket),
      );
      this.#inheritedUsed = 'fd' in this.#endpoint;
      this.#address = await listenOn(listener, this.#endpoint);
      listener.on('error', (err) => {
        debug('listener error: %s', err.message);
        if (this.listenerCount('error') > 0) this.emit('error', err);
      });
      this.#listener = listener;
      this.#state = 'listening';
      debugListening(this.#address, this.#endpoint, this.#keys.current!.fingerprints);
      this.emit('listening');
    } catch (err) {
      await this.#keys.closeAll();
      this.#address = null;
      this.#state = 'idle';
      throw err;
    }
  }

  /**
   * Re-reads the private keys given to `create()` (key files are read again; key objects
   * stay as they are) and puts them in force for new connections, with a new worker pool.
   * Open sessions and handshakes already in progress are left alone: a handshake finishes
   * with the keys it began with (the old pool serves it, then closes). Resolves with the
   * SHA256 fingerprints now in force, the announced key first. On any failure the current
   * keys stay in force and the KeyError is thrown. Rejects with ERR_INVALID_STATE if the
   * server is not listening (or stops during the reload). Calls run one after the other.
   */
  async reloadKeys(): Promise<string[]> {
    return (await this.#keys.reload(this.#notListening)).fingerprints;
  }

  /**
   * `reloadKeys()` and, if the server has an `authorizedKeys` file, `reloadAuthorizedKeys()`
   * as one step (a SIGHUP): every file is read first, and only if all of them load are the
   * new keys and the new authorized set put in force, together; on any failure nothing
   * changes and the error is thrown. Resolves with the fingerprints now in force and, with
   * a file, how many authorized keys were added and removed (else null). Rejects as
   * `reloadKeys()` does; runs in turn with it.
   */
  reload(): Promise<ServerReload> {
    return this.#keys.reloadWith(this.#authorizer, this.#notListening);
  }

  readonly #notListening = (): SessionError | null =>
    this.#state === 'listening'
      ? null
      : new SessionError(ErrorCode.INVALID_STATE, `cannot reload keys: server is ${this.#state}`);

  /**
   * Re-reads the `authorizedKeys` file without a restart; sessions already open are kept.
   * Resolves with how many keys were added and removed. On any failure (unreadable file)
   * the current set stays in force and the KeyError is thrown.
   * Rejects with ERR_INVALID_STATE if the server has no authorizedKeys file (or has not
   * read it yet: before `start()`).
   */
  reloadAuthorizedKeys(): Promise<{ added: number; removed: number }> {
    return this.#authorizer.reload();
  }

  /**
   * Puts other ticket keys in force for the handshakes from now on (README "Resumption"): the
   * first issues tickets, all are accepted; a key left out is refused at once. On a server
   * without `tickets`, turns them on (default lifetime). TypeError unless 1–16 keys of 32 bytes.
   */
  setTicketKeys(keys: readonly Uint8Array[]): void {
    this.#tickets.setKeys(keys);
  }

  /**
   * The next established session, in order of establishment. Rejects with ERR_ABORTED if
   * `signal` aborts, and with ERR_SESSION_CLOSED if the server stops (or is not started).
   */
  acceptClient(options: { readonly signal?: AbortSignal } = {}): Promise<Session> {
    return this.#accepted.next(options, this.#state === 'listening' || this.#state === 'starting');
  }

  /**
   * Stops the server: stops accepting, destroys connections still in their handshake, rejects pending
   * `acceptClient()` calls, closes every session with code 1001 (going away) and waits for them (each bounded
   * by `closeTimeout`), terminates the workers. Safe to call more than once, and during `start()` (it lets
   * the start finish, then stops); a stopped server may be started again — not on an inherited fd: `stop()`
   * closed it, and its number may name another descriptor by then; a new server needs a newly inherited
   * socket.
   *
   * With `drain` (ms): a graceful stop. The first steps are the same (the port is closed at once: new clients
   * get ECONNREFUSED), and sessions established but never handed to the application are closed at once; then
   * the open sessions get up to `drain` ms to close on their own (`draining` is true meanwhile) before those
   * left are closed with 1001. A `stop()` during the wait without `drain`, or with `drain: 0`, ends it at
   * once (a second SIGTERM); with a larger `drain` it brings the deadline closer, never further. Every call
   * resolves when the server has stopped.
   *
   * @throws TypeError / RangeError (as a rejection) for invalid options.
   */
  stop(options?: StopOptions): Promise<void> {
    let drain: number | undefined;
    try {
      drain = checkStopOptions(options);
    } catch (err) {
      return Promise.reject(err);
    }
    if (this.#state === 'idle') return Promise.resolve();
    if (this.#stopping) {
      this.#drain?.shorten(drain ?? 0);
      return this.#stopping;
    }
    this.#stopping = this.#stop(drain).finally(() => {
      this.#stopping = null;
    });
    return this.#stopping;
  }

  /** `await using server = …`: stops the server. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stop(drain: number | undefined): Promise<void> {
    if (this.#starting) {
      // A start() under way finishes first; what it opened is closed below (failed: nothing).
      await this.#starting.catch(() => {});
      if (this.#state === 'idle') return;
    }
    this.#state = 'stopping';
    const listener = this.#listener;
    const listenerClosed = new Promise<void>((resolve) =>
      listener ? listener.close(() => resolve()) : resolve(),
    );
    for (const session of [...this.#handshaking.items()]) session.destroy();
    this.#lingerer.destroyAll();
    this.#proxy?.destroyAll();
    this.#accepted.rejectWaiting(new SessionError(ErrorCode.SESSION_CLOSED, 'server stopped'));
    if (drain !== undefined) {
      // Never handed to the application: nobody is there to finish them (they are in
      // #sessions too, so the wait counts them until their close is done).
      for (const session of this.#accepted.clear()) void this.#goAway(session);
      const sessions = this.#sessions;
      debug('server: draining %d sessions for at most %d ms', sessions.size, drain);
      this.#drain = new DrainWait(drain, () => sessions.size === 0);
      await this.#drain.done;
      this.#drain = null;
    }
    await Promise.all([...this.#sessions].map(this.#goAway));
    this.#accepted.clear();
    await this.#keys.closeAll();
    await listenerClosed;
    this.#listener = null;
    this.#address = null;
    this.#state = 'idle';
    debug('server stopped');
    this.emit('close');
  }

  #onConnection(socket: Socket): void {
    if (this.#proxy && this.#state === 'listening')
      this.#proxy.accept(socket, remoteOf(socket), this.#sessions.size, this.#startSession);
    else {
      // Reads into the thread's shared buffer (the proxy path's guard reads 'data': not there).
      borrowReads(socket);
      this.#startSession(socket, remoteOf(socket), undefined);
    }
  }

  /**
   * Admits a connection (nothing read yet but its PROXY header, if any) and starts its session;
   * `remote` and `proxied`: the client's addresses from the header, else the socket's.
   */
  readonly #startSession: StartSession = (socket, remote, proxied) => {
    if (this.#state !== 'listening') {
      socket.destroy();
      return null;
    }
    const admission = this.#admission.admit(remote.address, this.#sessions.size + (this.#proxy?.size ?? 0));
    if (!admission.admitted) {
      refuseSocket(socket);
      emitRefused(this, admission.limit, remote);
      return null;
    }
    // The keys in force now: this handshake keeps them even if they are reloaded meanwhile.
    const keys = this.#keys.current!;
    const started = performance.now();
    let session: Session;
    try {
      session = createServerSession(socket, keys, remote, proxied, {
        suites: this.#suites,
        authorizer: this.#authorizer,
        tickets: this.#tickets.context,
        options: this.#options,
      });
    } catch (err) {
      debug('cannot start a session: %s', (err as Error).message);
      socket.destroy();
      return null;
    }
    keys.track(session[kReady]);
    const trace = traceHandshake(session, 'server');
    this.#handshaking.add(session, remote.address);
    // Formatted only for the debug log; taken now, while the socket is surely connected.
    const local = debug.enabled ? `${session.localAddress}:${session.localPort}` : '';
    socket.resume();
    session[kReady].then(
      async () => {
        if (this.#authorizer.enabled) {
          const label = remoteLabel(remote);
          const denied = await this.#authorizer.deny(session, remote, label, this.#options.handshakeTimeout);
          if (denied || session.state === 'closed') {
            trace?.fail(denied);
            this.#handshaking.delete(session);
            if (denied) session[kFail](denied);
            return reportNotAuthorized(this, session, denied, remote, this.#state === 'stopping');
          }
        }
        this.#handshaking.delete(session);
        this.#sessions.add(session);
        this[kMetrics].accepted(session.resumed, performance.now() - started);
        // Accepted: the ticket the client asked for goes before any message of ours (§6a).
        session[kIssueTicket]();
        session[kOnClosed](this.#forget);
        debugSession('server', session, local, remoteLabel(remote));
        opened(session, trace);
        this.#accepted.deliver(session, this.#emitSession);
      },
      (err: SessionError) => {
        trace?.fail(err);
        this.#handshaking.delete(session);
        this[kMetrics].notAccepted(session, null);
        // Its alert, if any, is in the kernel already: the socket lingers a moment, bounded
        // (linger.ts), rather than up to closeTimeout outside every handshake limit.
        if (this.#state === 'stopping') return session.destroy();
        this.#lingerer.add(socket);
        reportHandshakeFailure(this, err, remote, this.#admission.refusedBy(session));
      },
    );
    return session;
  };

  /** Closes a session as the server stops; never rejects. */
  readonly #goAway = (session: Session): Promise<void> => goAway(session, this.#options.closeTimeout);

  /** Drops an established session from `#sessions` once it is over (one function for all). */
  readonly #forget = (session: Session): void => {
    this.#sessions.delete(session);
    this[kMetrics].ended(session);
    this.#drain?.check();
  };

  /** @internal A rejected async listener: see server-events.ts routeListenerRejection. */
  override [captureRejectionSymbol]<K>(err: Error, event: keyof ServerEvents | K, ...args: unknown[]): void {
    routeListenerRejection(this, err, event, args);
  }

  /** Emits `'session'`; false if nobody listens (the accept queue keeps the session). */
  readonly #emitSession = (session: Session): boolean => emitSession(this, session);
}
