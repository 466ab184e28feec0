/**
 * The TCP server: SecSess's `Server.create(endpoint, privateKey, set)` / `start()` /
 * `acceptClient()` / `stop()`, plus Node's `'session'` event. It accepts sockets, hands
 * each to a server-role {@link Session}, and passes established sessions on through its
 * accept queue (accept-queue.ts: a waiting `acceptClient()`, else `'session'` listeners,
 * else a queue of at most `maxPendingSessions`; past it, close code 1013).
 *
 * A session is handed on even if it closed in the meantime, so what its client sent
 * before closing can still be read. A handshake that fails is reported through
 * `'handshakeError'` and never disturbs the server or other sessions.
 *
 * Before authentication every connection is untrusted, so admission is decided before a
 * byte is read (admission.ts, handshake-limiter.ts and SECURITY.md): past `maxConnections`,
 * `maxHandshakes` or `maxHandshakesPerAddress`, the connection gets the 6-byte plaintext
 * ServerBusy alert (the client sees ERR_SERVER_BUSY) and is dropped, and `'refused'` is
 * emitted; so is a connection from an address over its `handshakeRate` (handshake-rate.ts).
 * A ClientHello is refused the same way, before any RSA work, when its address is over
 * that rate (a token is taken per hello) or `maxPendingDecrypts` decryptions already wait.
 */
import { EventEmitter, captureRejectionSymbol } from 'node:events';
import { createServer } from 'node:net';
import type { Server as NetServer, Socket } from 'node:net';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import { CLOSE_GOING_AWAY, ErrorCode, SessionError, oaepDecrypt } from '../protocol/index.js';
import type { AlgorithmSet, Suite } from '../protocol/index.js';
import { keyProbeOf } from '../protocol/key-probe.js';
import { debug, debugSession, describeError, emitUncaught, warnListenerFailed } from '../common/debug.js';
import { DecryptPool } from './decrypt-pool.js';
import type { PoolCounts } from './decrypt-pool.js';
import { checkSignal } from '../common/deferred.js';
import { formatEndpoint, parseEndpoint } from '../common/endpoint.js';
import type { Endpoint, EndpointInput } from '../common/endpoint.js';
import type { RefusalLimit } from './handshake-limiter.js';
import { AcceptQueue } from './accept-queue.js';
import { ConnectionAdmission, refuseSocket } from './admission.js';
import { checkPrivateKeys, loadPrivateKeys, resolveSuites } from '../common/key-input.js';
import type { PrivateKeyInput } from '../common/key-input.js';
import { resolveServerOptions } from './server-options.js';
import type { ResolvedServerOptions, ServerOptions } from './server-options.js';
import { createSession } from '../stream/session.js';
import type { Session } from '../stream/session.js';
import { kFail, kListenerRejected, kOnClosed, kReady } from '../stream/session-types.js';
import type { DecryptFunction, VerifyFunction } from '../stream/session.js';
import { Authorizer, peerInfo } from './authorization.js';

export type { RefusalLimit } from './handshake-limiter.js';
export type { RemoteInfo, ServerEvents } from './server-events.js';
import { PROBE_TEXT, remoteLabel } from './server-events.js';
import type { RemoteInfo, ServerEvents } from './server-events.js';
export type { PoolCounts } from './decrypt-pool.js';
export type { KeyProbe } from '../protocol/key-probe.js';

type ServerState = 'idle' | 'starting' | 'listening' | 'stopping';

export class Server extends EventEmitter<ServerEvents> {
  readonly #endpoint: Endpoint;
  readonly #keyInputs: readonly PrivateKeyInput[];
  readonly #suites: Suite[] | undefined;
  readonly #options: ResolvedServerOptions;
  readonly #authorizer: Authorizer;
  #state: ServerState = 'idle';
  #listener: NetServer | null = null;
  #pool: DecryptPool | null = null;
  /** Decryption through `#pool` for the sessions: one function while the pool runs, not one per connection. */
  #decrypt: DecryptFunction | undefined = undefined;
  #keys: PrivateKey[] = [];
  #address: Endpoint | null = null;
  readonly #admission: ConnectionAdmission;
  readonly #handshaking: ConnectionAdmission['handshaking'];
  readonly #sessions = new Set<Session>();
  readonly #accepted: AcceptQueue;
  #stopping: Promise<void> | null = null;

  private constructor(
    endpoint: Endpoint,
    keys: readonly PrivateKeyInput[],
    suites: Suite[] | undefined,
    options: ServerOptions | undefined,
  ) {
    super({ captureRejections: true });
    this.#endpoint = endpoint;
    this.#keyInputs = keys;
    this.#suites = suites;
    this.#options = resolveServerOptions(options);
    this.#authorizer = new Authorizer(options ?? {});
    this.#admission = new ConnectionAdmission(this.#options);
    this.#handshaking = this.#admission.handshaking;
    this.#accepted = new AcceptQueue(this.#options.maxPendingSessions);
  }

  /**
   * Creates a server (not listening yet: call `start()`).
   *
   * @param endpoint Where to listen: `"127.0.0.1:4433"`, `"[::1]:0"`, `{ host, port }`; port 0 picks a free port.
   * @param privateKey The server's key, or a key file path; an array of them during a
   *   key rotation (clients may name any; the first is the one announced). Files are read by `start()`.
   * @param set The accepted algorithm set(s). Default: every supported suite.
   * @param options Timeouts, limits and the worker pool; see {@link ServerOptions}.
   * @throws TypeError / RangeError for invalid arguments.
   */
  static create(
    endpoint: EndpointInput,
    privateKey: PrivateKeyInput | readonly PrivateKeyInput[],
    set?: AlgorithmSet | readonly AlgorithmSet[],
    options?: ServerOptions,
  ): Server {
    return new Server(
      parseEndpoint(endpoint, { allowPortZero: true }),
      checkPrivateKeys(privateKey),
      resolveSuites(set),
      options,
    );
  }

  /** The address the server listens on (the real port when 0 was asked), or null when not listening. */
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

  /** RSA decryptions queued for or running in the worker pool. */
  get pendingDecrypts(): number {
    return this.#pool?.pending ?? 0;
  }

  /**
   * RSA operations the worker pool performed since `start()`: OAEP decryptions and
   * client-signature verifications answered by a worker, and operations of either kind
   * done on the main thread because no worker was left. All zero with `workers: 0`.
   */
  get workerCounts(): PoolCounts {
    return this.#pool?.counts ?? { decrypts: 0, verifies: 0, inline: 0 };
  }

  /** Whether the server is listening. */
  get listening(): boolean {
    return this.#state === 'listening';
  }

  /**
   * Loads the key files, starts the decryption workers and listens. Resolves once
   * listening. Rejects with the KeyError of an unreadable key, or ERR_TRANSPORT if the
   * address cannot be bound (cause: the system error, e.g. EADDRINUSE), ERR_INVALID_STATE
   * if the server is already starting, listening or stopping.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') {
      throw new SessionError(ErrorCode.INVALID_STATE, `server is already ${this.#state}: stop() it first`);
    }
    this.#state = 'starting';
    try {
      this.#keys = await loadPrivateKeys(this.#keyInputs);
      await this.#authorizer.load();
      if (this.#options.workers > 0) {
        const pool = new DecryptPool(
          this.#keys.map((k) => k.keyObject),
          this.#options.workers,
        );
        this.#pool = pool;
        this.#decrypt = (keyIndex, ciphertext, session) => {
          // Decided on the queue alone, before the ciphertext is looked at: no oracle.
          if (pool.pending >= this.#options.maxPendingDecrypts) {
            this.#admission.refuse(session, 'maxPendingDecrypts');
          }
          this.#admission.takeRateToken(session);
          return pool.decrypt(keyIndex, ciphertext);
        };
      } else if (this.#admission.rateEnabled) {
        // On the main thread, at once, as without a pool; only the rate check comes first.
        this.#decrypt = (keyIndex, ciphertext, session) => {
          this.#admission.takeRateToken(session);
          return Promise.resolve(oaepDecrypt(this.#keys[keyIndex]!.keyObject, ciphertext));
        };
      }
      // Paused: a connection that is refused is never read from.
      const listener = createServer({ noDelay: true, pauseOnConnect: true }, (socket) =>
        this.#onConnection(socket),
      );
      await new Promise<void>((resolve, reject) => {
        listener.once('error', reject);
        listener.listen({ host: this.#endpoint.host, port: this.#endpoint.port }, () => {
          listener.off('error', reject);
          resolve();
        });
      }).catch((cause: NodeJS.ErrnoException) => {
        throw new SessionError(
          ErrorCode.TRANSPORT,
          `cannot listen on ${formatEndpoint(this.#endpoint)}: ${cause.code ?? cause.message}`,
          { cause },
        );
      });
      listener.on('error', (err) => {
        debug('listener error: %s', err.message);
        if (this.listenerCount('error') > 0) this.emit('error', err);
      });
      const bound = listener.address();
      this.#address =
        bound && typeof bound === 'object' ? { host: bound.address, port: bound.port } : this.#endpoint;
      this.#listener = listener;
      this.#state = 'listening';
      debug(
        'server: listening on %s, keys %s',
        formatEndpoint(this.#address),
        this.#keys.map((k) => k.publicKey.fingerprint()).join(', '),
      );
      this.emit('listening');
    } catch (err) {
      await this.#pool?.close();
      this.#pool = null;
      this.#decrypt = undefined;
      this.#state = 'idle';
      throw err;
    }
  }

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
   * The next established session, in order of establishment. Rejects with ERR_ABORTED if
   * `signal` aborts, and with ERR_SESSION_CLOSED if the server stops (or is not started).
   */
  acceptClient(options: { readonly signal?: AbortSignal } = {}): Promise<Session> {
    let signal: AbortSignal | undefined;
    try {
      signal = checkSignal(options?.signal, 'options.signal');
    } catch (err) {
      return Promise.reject(err);
    }
    const queued = this.#accepted.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#state !== 'listening' && this.#state !== 'starting') {
      return Promise.reject(new SessionError(ErrorCode.SESSION_CLOSED, 'server is not running'));
    }
    return this.#accepted.wait(signal);
  }

  /**
   * Stops the server: stops accepting, destroys connections still in their handshake,
   * closes every session with code 1001 (going away) and waits for them (each bounded by
   * `closeTimeout`), rejects pending `acceptClient()` calls, terminates the workers.
   * Safe to call more than once; a stopped server may be started again.
   */
  stop(): Promise<void> {
    if (this.#state === 'idle') return Promise.resolve();
    this.#stopping ??= this.#stop().finally(() => {
      this.#stopping = null;
    });
    return this.#stopping;
  }

  /** `await using server = …`: stops the server. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.stop();
  }

  async #stop(): Promise<void> {
    this.#state = 'stopping';
    const listener = this.#listener;
    const listenerClosed = new Promise<void>((resolve) => {
      if (!listener) resolve();
      else listener.close(() => resolve());
    });
    for (const session of [...this.#handshaking.items()]) session.destroy();
    this.#accepted.rejectWaiting(new SessionError(ErrorCode.SESSION_CLOSED, 'server stopped'));
    await Promise.all(
      [...this.#sessions].map((s) => s.close(CLOSE_GOING_AWAY, 'server stopping').catch(() => {})),
    );
    this.#accepted.clear();
    await this.#pool?.close();
    this.#pool = null;
    this.#decrypt = undefined;
    await listenerClosed;
    this.#listener = null;
    this.#address = null;
    this.#keys = [];
    this.#state = 'idle';
    debug('server stopped');
    this.emit('close');
  }

  #onConnection(socket: Socket): void {
    if (this.#state !== 'listening') {
      socket.destroy();
      return;
    }
    const remote: RemoteInfo = {
      address: socket.remoteAddress,
      port: socket.remotePort,
      family: socket.remoteFamily,
    };
    const admission = this.#admission.admit(remote.address, this.#sessions.size);
    if (!admission.admitted) {
      refuseSocket(socket);
      this.#refused(admission.limit, remote);
      return;
    }
    let session: Session;
    try {
      session = createSession(
        socket,
        {
          role: 'server',
          connection: { keys: this.#keys, suites: this.#suites, clientKeyAllowed: this.#clientKeyAllowed },
          decrypt: this.#decrypt,
          verify: this.#pool ? this.#verifyInPool : undefined,
        },
        this.#options,
      );
    } catch (err) {
      debug('cannot start a session: %s', (err as Error).message);
      socket.destroy();
      return;
    }
    this.#handshaking.add(session, remote.address);
    // Formatted only for the debug log; taken now, while the socket is surely connected.
    const local = debug.enabled ? `${socket.localAddress}:${socket.localPort}` : '';
    socket.resume();
    session[kReady].then(
      async () => {
        if (this.#authorizer.enabled) {
          const denial = await this.#authorizer.check(
            peerInfo(session, remote.address, remote.port),
            this.#options.handshakeTimeout,
          );
          if (denial !== null || session.state === 'closed') {
            this.#handshaking.delete(session);
            if (denial === null) return;
            // The client learns only ERR_NOT_AUTHORIZED; the reason stays on this side.
            const err = new SessionError(ErrorCode.NOT_AUTHORIZED, `client not authorized: ${denial}`);
            debug(
              'server: client %s with key %s refused: %s',
              remoteLabel(remote),
              session.clientKey?.fingerprint() ?? 'none',
              denial,
            );
            session[kFail](err);
            if (this.#state !== 'stopping') this.emit('handshakeError', err, remote);
            return;
          }
        }
        this.#handshaking.delete(session);
        this.#sessions.add(session);
        session[kOnClosed](this.#forget);
        debugSession('server', session, local, remoteLabel(remote));
        this.#accepted.deliver(session, this.#emitSession);
      },
      (err: SessionError) => {
        this.#handshaking.delete(session);
        // Its alert, if any, is in the kernel already: a failed handshake keeps no socket
        // open waiting for a peer that may never close (the session would linger up to
        // closeTimeout, outside every handshake limit).
        session.destroy();
        if (this.#state === 'stopping') return;
        const limit = this.#admission.refusedBy(session);
        if (limit) {
          this.#refused(limit, remote);
          return;
        }
        const probe = keyProbeOf(err);
        if (probe) {
          debug('server: probe from %s: %s', remoteLabel(remote), PROBE_TEXT[probe]);
          this.emit('probe', probe, remote);
          return;
        }
        debug('server: handshake with %s failed: %s', remoteLabel(remote), describeError(err));
        this.emit('handshakeError', err, remote);
      },
    );
  }

  /**
   * Whether a client key may authenticate: with authorizedKeys, only a listed key (asked by
   * the core before any signature work). One function for all connections.
   */
  readonly #clientKeyAllowed = (key: PublicKey): boolean => this.#authorizer.allows(key);

  /**
   * A client's signature verified in the worker pool. Not refused when the queue is full:
   * the client is already open (its ClientFinished opened) and the decryption is spent, so
   * a refusal now would cost it its session instead of a retry. Verifications need no bound
   * of their own: at most one per handshake, so at most `maxHandshakes` queued, each a
   * public-exponent-65537 operation (~0.06 ms for 4096 bits).
   */
  readonly #verifyInPool: VerifyFunction = (request) => {
    const pool = this.#pool;
    if (!pool) return Promise.resolve(false);
    return pool.verify(request.key.keyObject, request.message, request.signature);
  };

  /** Drops an established session from `#sessions` once it is over (one function for all). */
  readonly #forget = (session: Session): void => {
    this.#sessions.delete(session);
  };

  #refused(limit: RefusalLimit, remote: RemoteInfo): void {
    debug('server: refused %s: limit %s', remoteLabel(remote), limit);
    this.emit('refused', limit, remote);
  }

  /**
   * @internal A rejected async listener: a `'session'` listener fails that session alone
   * (see Session); another event's goes to `'error'` if someone listens there, else it is
   * printed as a process warning. An `'error'` listener's own rejection is never emitted
   * again (it would loop), and nothing is thrown: a client that triggers an event never
   * takes the process down through it.
   */
  override [captureRejectionSymbol]<K>(err: Error, event: keyof ServerEvents | K, ...args: unknown[]): void {
    if (event === 'session') {
      (args[0] as Session)[kListenerRejected](err);
    } else if (event !== 'error' && this.listenerCount('error') > 0) {
      this.emit('error', err);
    } else {
      warnListenerFailed(`a secsess server's '${String(event)}' event`, err);
    }
  }

  /** Emits `'session'`; false if nobody listens (the accept queue keeps the session). */
  readonly #emitSession = (session: Session): boolean => {
    if (this.listenerCount('session') === 0) return false;
    emitUncaught(this, 'session', session);
    return true;
  };
}
