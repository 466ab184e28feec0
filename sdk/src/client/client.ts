/**
 * The TCP client, in SecSess's shape: `Client.create(publicKey, set)`, then
 * `connect(endpoint)`, then `read()` / `write()` / `flushStream()` / `close()` on the
 * client itself (they delegate to the current session) or on the returned session.
 */
import type { Socket } from 'node:net';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import { ErrorCode, SessionError, TimeoutError, resolveSuite } from '../protocol/index.js';
import type { AlgorithmSet, SessionTicket } from '../protocol/index.js';
import { debug, debugSession, describeError } from '../common/debug.js';
import { BUSY_RETRY_BASE, BUSY_RETRY_CAP } from '../common/defaults.js';
import { abortError, checkSignal, onAbort } from '../common/deferred.js';
import { formatEndpoint, parseEndpoint } from '../common/endpoint.js';
import type { Endpoint, EndpointInput } from '../common/endpoint.js';
import { loadPrivateKeys, loadPublicKey } from '../common/key-input.js';
import type { PrivateKeyInput, PublicKeyInput } from '../common/key-input.js';
import { checkClientArguments, hostTrust } from './trust.js';
import type { TrustMode } from './trust.js';
import { resolveClientOptions } from './client-options.js';
import { storeTicket, takeTicket } from './ticket-store.js';
import type { TicketStore } from './ticket-store.js';
import type { ClientOptions } from './client-options.js';
import { establish } from '../stream/secure-duplex.js';
import { opened, traceHandshake } from '../stream/session-observe.js';
import { publishPinned, publishPinnedRefused } from '../observe/publish.js';
import { connectBorrowing } from '../stream/borrowed-reads.js';
import { createSession } from '../stream/session.js';
import type { Session } from '../stream/session.js';
import type { MessageData } from '../stream/session-util.js';

export class Client {
  readonly #keyInput: PublicKeyInput | null;
  readonly #trust: { readonly mode: TrustMode; readonly knownHosts: string | undefined } | null;
  readonly #clientKeyInput: PrivateKeyInput | null;
  #clientKey: PrivateKey | null = null;
  readonly #set: AlgorithmSet;
  readonly #options: ReturnType<typeof resolveClientOptions>;
  #serverKey: PublicKey | null = null;
  #session: Session | null = null;
  #connecting = false;

  private constructor(key: PublicKeyInput | null, set: AlgorithmSet, options: ClientOptions | undefined) {
    this.#keyInput = key;
    this.#trust = options?.trust ? { mode: options.trust, knownHosts: options.knownHosts } : null;
    this.#clientKeyInput = options?.clientKey ?? null;
    this.#set = set;
    this.#options = resolveClientOptions(options);
  }

  /**
   * Creates a client that trusts `publicKey` as the server's key.
   *
   * @param publicKey The server's public key, or the path of its public key file (read by
   *   `connect()`); or null with `options.trust` ('strict' or 'tofu'), to trust the server
   *   through a known_hosts file instead (see README "Trust").
   * @param set The algorithm set. Default RSA / AES-256-CBC / SHA-256.
   * @param options Timeouts and limits; see {@link ClientOptions}.
   * @throws TypeError / RangeError for invalid arguments.
   */
  static create(publicKey: PublicKeyInput | null, set: AlgorithmSet = {}, options?: ClientOptions): Client {
    checkClientArguments(publicKey, set, options);
    return new Client(publicKey ?? null, set, options);
  }

  /** The current session, or null before `connect()`. */
  get session(): Session | null {
    return this.#session;
  }

  /**
   * Connects over TCP and runs the handshake. Resolves with the open session (also kept
   * as `client.session`). Rejects with TimeoutError (`limit: 'connect'` or `'handshake'`),
   * ERR_TRANSPORT (cause: the system error, e.g. ECONNREFUSED), ERR_ABORTED when `signal`
   * aborts, or the handshake's coded error (ERR_SERVER_KEY_MISMATCH, ERR_SUITE_MISMATCH…).
   * A server that refuses the connection under load (ERR_SERVER_BUSY) is tried again up to
   * `busyRetries` times, after a random pause that grows with each try (at most 1 s); the
   * last refusal is then reported. A client holds one session at a time: connect again
   * once the previous one is closed (while it is open or connecting, `connect()` rejects
   * with ERR_INVALID_STATE).
   */
  async connect(endpoint: EndpointInput, options: { readonly signal?: AbortSignal } = {}): Promise<Session> {
    const target = parseEndpoint(endpoint);
    const signal = checkSignal(options?.signal, 'options.signal');
    if (this.#connecting || (this.#session && this.#session.state !== 'closed')) {
      throw new SessionError(
        ErrorCode.INVALID_STATE,
        this.#connecting
          ? 'client is already connecting: wait for connect() to settle'
          : 'client is already connected: close() it before connecting again',
      );
    }
    this.#connecting = true;
    try {
      if (signal?.aborted) throw abortError('connect', signal);
      if (this.#keyInput !== null) this.#serverKey ??= await loadPublicKey(this.#keyInput);
      if (this.#clientKeyInput !== null) {
        this.#clientKey ??= (await loadPrivateKeys([this.#clientKeyInput]))[0]!;
      }
      // Set once the server refused the key known_hosts lists last while it trusts others for
      // the host: the next connection asks the server for its key (see trust.ts).
      let askServerKey = false;
      // At most one ticket per connect(): a retry (ServerBusy, asking for the key) offers
      // none, so that retries do not use up the store's tickets.
      let ticketOffered = false;
      for (let attempt = 0; ;) {
        // known_hosts is read afresh for each attempt: another client may have learned the key.
        const trust = this.#trust ? await hostTrust(target, this.#trust.mode, this.#trust.knownHosts) : null;
        let trustError: unknown = null;
        debug(
          'client: connecting to %s, %s',
          formatEndpoint(target),
          trust
            ? `trust ${this.#trust!.mode} (${trust.path}), ${trust.key ? `naming ${trust.key.fingerprint()}` : 'asking for the server key'}`
            : `pinned server key ${this.#serverKey!.fingerprint()}`,
        );
        const socket = await this.#connectSocket(target, signal);
        const serverKey = trust ? ((askServerKey ? null : trust.key) ?? undefined) : this.#serverKey!;
        // A channel session is never resumed (§6b): it may ask for a ticket, offers none.
        const resume = resumption(
          this.#options.resumption,
          ticketOffered || this.#options.channels ? undefined : serverKey,
          this.#set,
          this.#clientKey,
        );
        if (resume.resume) ticketOffered = true;
        const session = createSession(
          socket,
          {
            role: 'client',
            connection: {
              serverKey,
              set: this.#set,
              maxFragmentSize: this.#options.maxFragmentSize,
              clientKey: this.#clientKey ?? undefined,
              channels: this.#options.channels,
              ...resume,
            },
            newTicket: this.#newTicket,
            decideServerKey: trust
              ? (key) =>
                  trust.decide(key).catch((err: unknown) => {
                    trustError = err;
                    throw err;
                  })
              : undefined,
          },
          this.#options,
        );
        this.#session = session;
        const trace = traceHandshake(session, 'client', target);
        let established: Session;
        try {
          established = await establish(session, signal);
        } catch (err) {
          trace?.fail(trustError ?? err);
          if (!trust) publishPinnedRefused('stream', target, this.#serverKey!, err);
          debug(
            'client: handshake with %s failed: %s',
            formatEndpoint(target),
            describeError(trustError ?? err),
          );
          // A trust refusal keeps its own code (ERR_HOST_UNKNOWN, ERR_HOST_KEY_CHANGED).
          if (trustError) throw trustError;
          const mismatch = err instanceof SessionError && err.code === ErrorCode.SERVER_KEY_MISMATCH;
          if (trust && mismatch && trust.alternatives && !askServerKey) {
            debug('%s does not hold the newest trusted key: asking for its key', formatEndpoint(target));
            askServerKey = true;
            continue;
          }
          if (trust) {
            const explained = await trust.explain(err, signal);
            if (explained !== err) throw explained;
          }
          const busy = err instanceof SessionError && err.code === ErrorCode.SERVER_BUSY;
          if (!busy || attempt >= this.#options.busyRetries) throw err;
          // Full jitter: refused clients must not come back in step.
          const ms = Math.random() * Math.min(BUSY_RETRY_CAP, BUSY_RETRY_BASE * 2 ** attempt);
          debug('%s is busy: trying again in %d ms', formatEndpoint(target), Math.round(ms));
          await pause(ms, signal);
          attempt++;
          continue;
        }
        if (trust) {
          try {
            await trust.confirm();
          } catch (err) {
            trace?.fail(err);
            established.destroy();
            throw err;
          }
        } else publishPinned('stream', target, this.#serverKey!);
        if (resume.resume && !established.resumed) debug('client: ticket refused: a full handshake followed');
        if (debug.enabled) {
          debugSession(
            'client',
            established,
            `${socket.localAddress}:${socket.localPort}`,
            formatEndpoint(target),
          );
        }
        opened(established, trace);
        return established;
      }
    } finally {
      this.#connecting = false;
    }
  }

  /** `session.read()` of the current session; ERR_SESSION_CLOSED before `connect()`. */
  read(options?: { readonly signal?: AbortSignal }): Promise<Buffer | null> {
    return this.#session ? this.#session.read(options) : notConnected();
  }

  /** `session.write()` of the current session; ERR_SESSION_CLOSED before `connect()`. */
  write(data: MessageData): Promise<void> {
    return this.#session ? this.#session.write(data) : notConnected();
  }

  /** `session.flushStream()` of the current session; ERR_SESSION_CLOSED before `connect()`. */
  flushStream(): Promise<void> {
    return this.#session ? this.#session.flushStream() : notConnected();
  }

  /** `session.end()` of the current session (half-close); ERR_SESSION_CLOSED before `connect()`. */
  end(): Promise<void> {
    return this.#session ? this.#session.end() : notConnected();
  }

  /** `session.close()` of the current session; resolves at once if there is none. */
  async close(code?: number, reason?: string): Promise<void> {
    await this.#session?.close(code, reason);
  }

  /** `await using client = …`: closes the current session. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Files the tickets servers send in the resumption store, if there is one. */
  readonly #newTicket = (ticket: SessionTicket): void => {
    const store = this.#options.resumption;
    if (store) storeTicket(store, ticket);
    else ticket.psk.fill(0);
  };

  #connectSocket(target: Endpoint, signal: AbortSignal | undefined): Promise<Socket> {
    const ms = this.#options.connectTimeout;
    return new Promise<Socket>((resolve, reject) => {
      // Reads go into the thread's shared read buffer (stream/borrowed-reads.ts).
      const socket = connectBorrowing({ host: target.host, port: target.port, noDelay: true });
      const timer = setTimeout(() => fail(new TimeoutError('connect', ms)), ms);
      timer.unref();
      const removeAbort = onAbort(signal, () => fail(abortError('connect', signal!)));
      const done = (): void => {
        clearTimeout(timer);
        removeAbort();
        socket.off('error', onError);
        socket.off('connect', onConnect);
      };
      const fail = (error: Error): void => {
        done();
        socket.destroy();
        reject(error);
      };
      const onError = (err: NodeJS.ErrnoException): void =>
        fail(
          new SessionError(
            ErrorCode.TRANSPORT,
            `cannot connect to ${formatEndpoint(target)}: ${err.code ?? err.message}`,
            { cause: err },
          ),
        );
      const onConnect = (): void => {
        done();
        resolve(socket);
      };
      socket.once('error', onError);
      socket.once('connect', onConnect);
    });
  }
}

/** Waits `ms`; rejects with ERR_ABORTED if `signal` aborts first. */
function pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      removeAbort();
      resolve();
    }, ms);
    const removeAbort = onAbort(signal, () => {
      clearTimeout(timer);
      reject(abortError('connect', signal!));
    });
  });
}

/**
 * The resumption options of one connection: ask for tickets with a store, and offer the
 * newest ticket it holds for this server key, suite and client key (taken out: used once);
 * without a server key (unknown, or a retry that offers none), only ask.
 */
function resumption(
  store: TicketStore | null,
  serverKey: PublicKey | undefined,
  set: AlgorithmSet,
  clientKey: PrivateKey | null,
): { tickets?: boolean; resume?: SessionTicket } {
  if (!store) return {};
  const ticket = serverKey
    ? takeTicket(store, serverKey, resolveSuite(set), clientKey?.publicKey ?? null)
    : null;
  return ticket ? { tickets: true, resume: ticket } : { tickets: true };
}

function notConnected(): Promise<never> {
  return Promise.reject(
    new SessionError(ErrorCode.SESSION_CLOSED, 'client is not connected: call connect() first'),
  );
}
