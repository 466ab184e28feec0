/**
 * The TCP client, in SecSess's shape: `Client.create(publicKey, set)`, then
 * `connect(endpoint)`, then `read()` / `write()` / `flushStream()` / `close()` on the
 * client itself (they delegate to the current session) or on the returned session.
 */
import { connect as netConnect } from 'node:net';
import type { Socket } from 'node:net';
import type { PublicKey } from '@secsess/keys';
import { ErrorCode, SessionError, TimeoutError, resolveSuite } from './protocol/index.js';
import type { AlgorithmSet } from './protocol/index.js';
import { abortError, checkSignal, onAbort } from './deferred.js';
import { formatEndpoint, parseEndpoint } from './endpoint.js';
import type { Endpoint, EndpointInput } from './endpoint.js';
import { checkPublicKey, loadPublicKey } from './key-input.js';
import type { PublicKeyInput } from './key-input.js';
import { resolveClientOptions } from './options.js';
import type { ClientOptions } from './options.js';
import { establish } from './secure-duplex.js';
import { Session } from './session.js';
import type { MessageData } from './session.js';

export class Client {
  readonly #keyInput: PublicKeyInput;
  readonly #set: AlgorithmSet;
  readonly #options: ReturnType<typeof resolveClientOptions>;
  #serverKey: PublicKey | null = null;
  #session: Session | null = null;
  #connecting = false;

  private constructor(key: PublicKeyInput, set: AlgorithmSet, options: ClientOptions | undefined) {
    this.#keyInput = key;
    this.#set = set;
    this.#options = resolveClientOptions(options);
  }

  /**
   * Creates a client that trusts `publicKey` as the server's key.
   *
   * @param publicKey The server's public key, or the path of its public key file (read by `connect()`).
   * @param set The algorithm set. Default RSA / AES-256-CBC / SHA-256.
   * @param options Timeouts and limits; see {@link ClientOptions}.
   * @throws TypeError / RangeError for invalid arguments.
   */
  static create(publicKey: PublicKeyInput, set: AlgorithmSet = {}, options?: ClientOptions): Client {
    checkPublicKey(publicKey);
    resolveSuite(set);
    return new Client(publicKey, set, options);
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
   * A client holds one session at a time: connect again once the previous one is closed.
   */
  async connect(endpoint: EndpointInput, options: { readonly signal?: AbortSignal } = {}): Promise<Session> {
    const target = parseEndpoint(endpoint);
    const signal = checkSignal(options?.signal, 'options.signal');
    if (this.#connecting || (this.#session && this.#session.state !== 'closed')) {
      throw new Error('client is already connected: close() it before connecting again');
    }
    this.#connecting = true;
    try {
      if (signal?.aborted) throw abortError('connect', signal);
      this.#serverKey ??= await loadPublicKey(this.#keyInput);
      const socket = await this.#connectSocket(target, signal);
      const session = new Session(
        socket,
        {
          role: 'client',
          connection: {
            serverKey: this.#serverKey,
            set: this.#set,
            maxFragmentSize: this.#options.maxFragmentSize,
          },
        },
        this.#options,
      );
      this.#session = session;
      return await establish(session, signal);
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

  /** `session.close()` of the current session; resolves at once if there is none. */
  async close(code?: number, reason?: string): Promise<void> {
    await this.#session?.close(code, reason);
  }

  /** `await using client = …`: closes the current session. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #connectSocket(target: Endpoint, signal: AbortSignal | undefined): Promise<Socket> {
    const ms = this.#options.connectTimeout;
    return new Promise<Socket>((resolve, reject) => {
      const socket = netConnect({ host: target.host, port: target.port, noDelay: true });
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

function notConnected(): Promise<never> {
  return Promise.reject(
    new SessionError(ErrorCode.SESSION_CLOSED, 'client is not connected: call connect() first'),
  );
}
