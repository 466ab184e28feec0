/**
 * The datagram server: `DatagramServer.create(endpoint, privateKey, set)`, `start()`,
 * `stop()` and the `'session'` event, over one node:dgram socket (udp4 or udp6 by the
 * host). Every packet is sorted by its first byte (PROTOCOL.md §D1): a Record by its
 * conn_id to its session (`session.receive`), else to the handshake that replied with that
 * conn_id (its ClientFinished), else dropped; a KeyRequest or Hello to the handshake
 * pipeline (server-handshaking.ts: cookie, rate, admission, then RSA in the worker pool);
 * anything else is dropped. What it sends goes through server-outbox.ts, which checks every
 * answer to a handshake packet to be no larger than that packet (§D3 "Amplification bound").
 */
import { EventEmitter, captureRejectionSymbol } from 'node:events';
import type { RemoteInfo as DgramRemoteInfo, Socket } from 'node:dgram';
import type { PrivateKey } from '@secsess/keys';
import { CLOSE_GOING_AWAY, ErrorCode, SessionError } from '../protocol/index.js';
import type { AlgorithmSet, Suite } from '../protocol/index.js';
import { PacketType } from '../protocol/datagram/constants.js';
import { CookieJar } from '../protocol/datagram/cookie.js';
import type { DatagramHandshakeResult } from '../protocol/datagram/handshake-types.js';
import { debug, describeError, emitUncaught, suiteName, warnListenerFailed } from '../common/debug.js';
import { formatEndpoint, parseEndpoint } from '../common/endpoint.js';
import type { Endpoint, EndpointInput } from '../common/endpoint.js';
import { checkPrivateKeys, loadPrivateKeys, resolveSuites } from '../common/key-input.js';
import type { PrivateKeyInput } from '../common/key-input.js';
import { HANDSHAKE_RATE_SOURCES } from '../common/defaults.js';
import { DecryptPool } from '../server/decrypt-pool.js';
import type { PoolCounts } from '../server/decrypt-pool.js';
import { HandshakeRate } from '../server/handshake-rate.js';
import { Authorizer } from '../server/authorization.js';
import { remoteLabel } from '../server/server-events.js';
import { resolveDatagramServerOptions } from './datagram-options.js';
import type { DatagramServerOptions, ResolvedDatagramServerOptions } from './datagram-options.js';
import { bindSocket, closeSocket, kSocket } from './datagram-socket.js';
import type { DatagramAddress } from './datagram-socket.js';
import { connIdKey } from './server-handshakes.js';
import { ServerHandshaking } from './server-handshaking.js';
import type { HandshakeHost } from './server-handshaking.js';
import { createDatagramSession } from './datagram-session.js';
import { attachChannel } from './channel.js';
import type { Session } from '../stream/session.js';
import type { DatagramSession } from './datagram-session.js';
import { DatagramCounters, kCount } from './server-counters.js';
import { ServerOutbox, noop } from './server-outbox.js';
import { SessionTable } from './server-sessions.js';
import { DatagramMetrics } from './server-metrics.js';
import type { DatagramServerMetrics } from './server-metrics.js';
import { endpointLabel } from './observe.js';
import { publishRefused } from '../observe/publish.js';
import { kEstablished } from './session-types.js';
import type {
  DatagramRefusalLimit,
  DatagramServerCounters,
  DatagramServerEvents,
} from './server-counters.js';

export type {
  DatagramRefusalLimit,
  DatagramServerCounters,
  DatagramServerEvents,
} from './server-counters.js';

type State = 'idle' | 'starting' | 'listening' | 'stopping';

export class DatagramServer extends EventEmitter<DatagramServerEvents> {
  readonly #endpoint: Endpoint;
  readonly #keyInputs: readonly PrivateKeyInput[];
  readonly #suites: Suite[] | undefined;
  readonly #options: ResolvedDatagramServerOptions;
  readonly #authorizer: Authorizer;
  readonly #rate: HandshakeRate;
  readonly #counters = new DatagramCounters();
  readonly #outbox = new ServerOutbox(this.#counters);
  #state: State = 'idle';
  #socket: Socket | null = null;
  #address: Endpoint | null = null;
  #keys: PrivateKey[] = [];
  #pool: DecryptPool | null = null;
  #cookies: CookieJar | null = null;
  /** The handshake pipeline while listening. */
  #handshakes: ServerHandshaking | null = null;
  readonly #metrics = new DatagramMetrics();
  readonly #sessions = new SessionTable(this.#metrics);
  #stopping: Promise<void> | null = null;

  private constructor(
    endpoint: Endpoint,
    keys: readonly PrivateKeyInput[],
    suites: Suite[] | undefined,
    options: DatagramServerOptions | undefined,
  ) {
    super({ captureRejections: true });
    this.#endpoint = endpoint;
    this.#keyInputs = keys;
    this.#suites = suites;
    this.#options = resolveDatagramServerOptions(options);
    this.#authorizer = new Authorizer(options ?? {});
    this.#rate = new HandshakeRate(this.#options, HANDSHAKE_RATE_SOURCES);
  }

  /**
   * Creates a datagram server (not listening yet: call `start()`).
   *
   * @param endpoint Where to listen: `"127.0.0.1:4433"`, `"[::1]:0"`, `{ host, port }`; port 0 picks a free port.
   * @param privateKey The server's key or key file path; an array during a key rotation
   *   (the first is the one a KeyRequest is answered with). Files are read by `start()`.
   * @param set The accepted algorithm set(s). Default: every supported suite.
   * @param options Limits, timeouts, workers and authorization; see {@link DatagramServerOptions}.
   * @throws TypeError / RangeError for invalid arguments.
   */
  static create(
    endpoint: EndpointInput,
    privateKey: PrivateKeyInput | readonly PrivateKeyInput[],
    set?: AlgorithmSet | readonly AlgorithmSet[],
    options?: DatagramServerOptions,
  ): DatagramServer {
    return new DatagramServer(
      parseEndpoint(endpoint, { allowPortZero: true }),
      checkPrivateKeys(privateKey),
      resolveSuites(set),
      options,
    );
  }

  /** The address the socket is bound to (the real port when 0 was asked), or null when not listening. */
  get address(): Endpoint | null {
    return this.#address;
  }

  /** @internal The bound socket, null unless listening. */
  get [kSocket](): Socket | null {
    return this.#socket;
  }

  /** Whether the server is listening. */
  get listening(): boolean {
    return this.#state === 'listening';
  }

  /** Open sessions. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** Handshakes holding state (admitted Hello, no ClientFinished yet). */
  get handshakeCount(): number {
    return this.#handshakes?.size ?? 0;
  }

  /** RSA decryptions queued for or running in the worker pool. */
  get pendingDecrypts(): number {
    return this.#pool?.pending ?? 0;
  }

  /** What the worker pool did since `start()` (as `Server.workerCounts`); zeros with `workers: 0`. */
  get workerCounts(): PoolCounts {
    return this.#pool?.counts ?? { decrypts: 0, verifies: 0, inline: 0 };
  }

  /** What the server counted since it was created: packets, answers, refusals, RSA work. */
  get counters(): DatagramServerCounters {
    return this.#counters.snapshot();
  }

  /** Sessions, handshakes, refusals, bytes, records, RSA, handshake times: `Server.metrics()`'s shape. */
  metrics(): DatagramServerMetrics {
    return this.#metrics.snapshot(this.#sessions, this.handshakeCount, this.#pool, this.#counters.snapshot());
  }

  /**
   * Loads the keys, starts the workers, binds the socket. Resolves once listening. Rejects
   * with the KeyError of an unreadable key, ERR_TRANSPORT if the address cannot be bound,
   * ERR_INVALID_STATE if already starting, listening or stopping.
   */
  async start(): Promise<void> {
    if (this.#state !== 'idle') {
      throw new SessionError(ErrorCode.INVALID_STATE, `server is already ${this.#state}: stop() it first`);
    }
    this.#state = 'starting';
    try {
      this.#keys = await loadPrivateKeys(this.#keyInputs);
      await this.#authorizer.load();
      this.#cookies = new CookieJar();
      if (this.#options.workers > 0) {
        this.#pool = new DecryptPool(
          this.#keys.map((k) => k.keyObject),
          this.#options.workers,
        );
      }
      this.#handshakes = new ServerHandshaking(this.#host, this.#keys, this.#suites, this.#cookies, (key) =>
        this.#sessions.has(key),
      );
      const { socket, address } = await bindSocket(this.#endpoint, this.#options.socket);
      socket.on('message', this.#onMessage);
      socket.on('error', (err) => {
        debug('datagram server socket error: %s', err.message);
        if (this.listenerCount('error') > 0) this.emit('error', err);
      });
      this.#socket = socket;
      this.#outbox.socket = socket;
      this.#address = address;
      this.#state = 'listening';
      debug(
        'datagram server: listening on %s, keys %s',
        formatEndpoint(address),
        this.#keys.map((k) => k.publicKey.fingerprint()).join(', '),
      );
      this.emit('listening');
    } catch (err) {
      await this.#release();
      this.#state = 'idle';
      throw err;
    }
  }

  /**
   * Stops: drops every handshake in progress, closes every session with code 1001 (one
   * Close record each; the client may not receive it), waits (briefly) for those records
   * to leave, closes the socket and the workers, then emits `'close'`. Safe to call more
   * than once; a stopped server may be started again.
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
    try {
      this.#handshakes?.clear();
      this.#sessions.closeAll(CLOSE_GOING_AWAY, 'server stopping');
      // Briefly: the Close records just sent leave before the socket closes.
      await this.#outbox.drain();
    } finally {
      try {
        await this.#release();
      } finally {
        this.#state = 'idle';
        debug('datagram server stopped');
        this.emit('close');
      }
    }
  }

  async #release(): Promise<void> {
    const socket = this.#socket;
    this.#socket = null;
    this.#outbox.socket = null;
    this.#address = null;
    if (socket) {
      socket.off('message', this.#onMessage);
      await closeSocket(socket);
    }
    await this.#pool?.close();
    this.#pool = null;
    this.#cookies?.destroy();
    this.#cookies = null;
    this.#handshakes = null;
    this.#keys = [];
  }

  /** Re-reads the `authorizedKeys` file (as `Server.reloadAuthorizedKeys`). */
  reloadAuthorizedKeys(): Promise<{ added: number; removed: number }> {
    return this.#authorizer.reload();
  }

  /**
   * The server's side of the datagram channel of an open stream session of a `Server`
   * (PROTOCOL.md §D9; the client calls `openDatagramChannel()`): see datagram/channel.ts.
   * Counts against `maxSessions`; not a `'session'` event. Throws ERR_INVALID_STATE (not
   * listening; stream not open or already used), ERR_SERVER_BUSY, TypeError (client side).
   */
  attach(streamSession: Session): DatagramSession {
    return attachChannel(streamSession, {
      listening: this.#state === 'listening',
      full: this.#sessions.size + this.handshakeCount >= this.#options.maxSessions,
      options: this.#options.session,
      transmit: this.#outbox.transmit,
      local: this.#host.local,
      has: (key) => this.#sessions.has(key) || (this.#handshakes?.hasConnId(key) ?? false),
      add: (key, session) => this.#sessions.add(key, session),
      remove: (key, session) => this.#sessions.remove(key, session),
    });
  }

  // ——— receiving ———

  readonly #onMessage = (packet: Buffer, rinfo: DgramRemoteInfo): void => {
    if (this.#state !== 'listening') return;
    this.#counters[kCount]('packets');
    const source: DatagramAddress = {
      address: rinfo.address,
      port: rinfo.port,
      family: rinfo.family === 'IPv6' ? 'IPv6' : 'IPv4',
    };
    try {
      switch (packet.length > 0 ? packet[0] : -1) {
        case PacketType.Record:
          this.#onRecord(packet, source);
          return;
        case PacketType.KeyRequest:
        case PacketType.Hello:
          this.#handshakes!.onPacket(packet, source);
          return;
        default:
          this.#counters[kCount]('dropped');
      }
    } catch (err) {
      // Only a bug of the library's own (listeners' throws are rethrown where emitted); but
      // a throw here would be uncaught in the socket's handler, and one packet must never
      // take the process down.
      this.#counters[kCount]('dropped');
      debug('datagram server: packet from %s dropped: %s', remoteLabel(source), describeError(err));
    }
  };

  #onRecord(packet: Buffer, source: DatagramAddress): void {
    if (packet.length < 9) {
      this.#counters[kCount]('dropped');
      return;
    }
    const key = connIdKey(packet);
    const session = this.#sessions.get(key);
    if (session) {
      session.receive(packet, source);
      return;
    }
    const handshake = this.#handshakes!.byConnId(key);
    if (handshake) {
      this.#handshakes!.onRecord(handshake, packet, source);
      return;
    }
    this.#counters[kCount]('dropped');
  }

  #handshakeError(error: SessionError, source: DatagramAddress): void {
    this.#counters[kCount]('handshakeErrors');
    this.#metrics.failed(error.code);
    debug('datagram server: handshake with %s failed: %s', remoteLabel(source), describeError(error));
    this.#emitSafely('handshakeError', error, source);
  }

  /** What the handshake pipeline sees of this server. */
  readonly #host: HandshakeHost = ((server: DatagramServer) => ({
    get options() {
      return server.#options;
    },
    get counters() {
      return server.#counters;
    },
    get authorizer() {
      return server.#authorizer;
    },
    get rate() {
      return server.#rate;
    },
    get pool() {
      return server.#pool;
    },
    get metrics() {
      return server.#metrics;
    },
    sessionCount: () => server.#sessions.size,
    sessionsFrom: (address: string) => server.#sessions.countFrom(address),
    sessionListened: () => server.listenerCount('session') > 0,
    listening: () => server.#state === 'listening',
    local: () => endpointLabel(server.#address),
    answer: (packet: Buffer, requestSize: number, to: DatagramAddress) =>
      server.#outbox.answer(packet, requestSize, to),
    send: (packet: Buffer, to: DatagramAddress) => server.#outbox.transmit(packet, to, noop),
    open: (result, handshakeDone, source, origin) => server.#open(result, handshakeDone, source, origin),
    refused: (limit: DatagramRefusalLimit, source: DatagramAddress) => {
      debug('datagram server: refused %s: limit %s', remoteLabel(source), limit);
      publishRefused(server, 'datagram', limit, source.address, source.port);
      server.#metrics.refused(limit);
      server.#emitSafely('refused', limit, source);
    },
    handshakeError: (error: SessionError, source: DatagramAddress) => server.#handshakeError(error, source),
  }))(this);

  /** A handshake completed and was authorized: its session, routed by conn_id from now on. */
  #open(
    result: DatagramHandshakeResult,
    handshakeDone: Buffer,
    source: DatagramAddress,
    origin: DatagramAddress,
  ): DatagramSession {
    const key = result.connectionId.toString('latin1');
    // The session sends the handshake's HandshakeDone and re-answers a repeated ClientFinished.
    const session = createDatagramSession({
      role: 'server',
      outbound: result.outbound,
      inbound: result.inbound,
      remote: source,
      transmit: this.#outbox.transmit,
      options: this.#options.session,
      info: result.info,
      handshakeDone,
      onEnd: () => this.#sessions.remove(key, session),
    });
    this.#sessions.add(key, session, origin.address);
    this.#counters[kCount]('sessions');
    debug(
      'datagram server: session with %s open, suite %s, client key %s',
      remoteLabel(source),
      suiteName(result.info.suite),
      result.info.clientKey?.fingerprint() ?? 'none',
    );
    // Admission refuses Hellos while nobody listens; the last listener went meanwhile.
    if (this.listenerCount('session') === 0) {
      debug('datagram server: no session listener: closing a new session');
      session.close(CLOSE_GOING_AWAY, 'no session listener');
      return session;
    }
    session[kEstablished](this.#host.local);
    this.#emitSafely('session', session);
    return session;
  }

  // ——— events ———

  /**
   * Emits an event from the packet path; a listener that throws is the application's bug,
   * reported as uncaught on the next tick (as EventEmitter does), never taken for a bad
   * packet by the socket handler's catch-all nor left as a handshake promise's rejection.
   */
  #emitSafely<K extends keyof DatagramServerEvents>(event: K, ...args: DatagramServerEvents[K]): void {
    emitUncaught(this, event, ...args);
  }

  /**
   * @internal A rejected async listener: a `'session'` listener's fails that session; any
   * other goes to `'error'` if listened to, else a process warning. Never thrown.
   */
  override [captureRejectionSymbol]<K>(
    err: Error,
    event: keyof DatagramServerEvents | K,
    ...args: unknown[]
  ): void {
    if (event === 'session') (args[0] as DatagramSession).destroy(err);
    else if (event !== 'error' && this.listenerCount('error') > 0) this.emit('error', err);
    else warnListenerFailed(`a secsess datagram server's '${String(event)}' event`, err);
  }
}
