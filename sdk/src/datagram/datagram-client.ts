/**
 * The datagram client: `DatagramClient.create(serverKey, set, options)`, then
 * `connect(endpoint)` → an open {@link DatagramSession}. Each session has its own UDP
 * socket, connected to the server (the kernel drops packets from anyone else). The client
 * keeps the last cookie each server endpoint gave it (PROTOCOL.md §D2), so the next
 * handshake with that server usually saves the Cookie round trip.
 *
 * Trust mirrors {@link Client}: a pinned key, or `trust: 'strict' | 'tofu'` with a
 * known_hosts file. With an entry for the host the client names its key in the Hello; without
 * one it asks the server (KeyRequest) and known_hosts decides. When a server refuses the named
 * key (ERR_SERVER_KEY_MISMATCH), the client asks once for the server's key and lets
 * known_hosts judge it: a key being rotated in is accepted if trusted, any other is
 * ERR_HOST_KEY_CHANGED naming the file and line.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import type { PrivateKey, PublicKey } from '@secsess/keys';
import { ErrorCode, SessionError, TimeoutError } from '../protocol/index.js';
import type { AlgorithmSet } from '../protocol/index.js';
import { DatagramClientHandshake } from '../protocol/datagram/client-handshake.js';
import { PacketType } from '../protocol/datagram/constants.js';
import { debug, describeError } from '../common/debug.js';
import { BUSY_RETRY_BASE, BUSY_RETRY_CAP } from '../common/defaults.js';
import { abortError, checkSignal, onAbort } from '../common/deferred.js';
import { formatEndpoint, parseEndpoint } from '../common/endpoint.js';
import type { EndpointInput } from '../common/endpoint.js';
import { loadPrivateKeys, loadPublicKey } from '../common/key-input.js';
import type { PrivateKeyInput, PublicKeyInput } from '../common/key-input.js';
import { keyLogFromEnv } from '../observe/keylog.js';
import { checkClientArguments, hostTrust } from '../client/trust.js';
import type { HostTrust, TrustMode } from '../client/trust.js';
import { resolveDatagramClientOptions } from './datagram-options.js';
import type { DatagramClientOptions, ResolvedDatagramClientOptions } from './datagram-options.js';
import { closeSocket, connectSocket } from './datagram-socket.js';
import type { DatagramAddress } from './datagram-socket.js';
import { refusedError, runAttempt } from './client-attempt.js';
import type { OpenedHandshake } from './client-attempt.js';
import { contextOptions } from './session-options.js';
import { createDatagramSession } from './datagram-session.js';
import type { DatagramSession } from './datagram-session.js';
import { startHandshakeTrace } from './observe.js';
import type { HandshakeTrace } from './observe.js';
import { publishPinned, publishPinnedRefused } from '../observe/publish.js';
import { kEstablished } from './session-types.js';

/** Server endpoints whose cookie a client remembers, at most (oldest forgotten first). */
const MAX_CACHED_COOKIES = 256;

interface CachedCookie {
  readonly cookie: Buffer;
  readonly localPort: number;
  /** Set when the socket on `localPort` closes; resolves once the port is free. */
  released: Promise<void> | null;
}

export class DatagramClient {
  readonly #keyInput: PublicKeyInput | null;
  readonly #trust: { readonly mode: TrustMode; readonly knownHosts: string | undefined } | null;
  readonly #clientKeyInput: PrivateKeyInput | null;
  readonly #set: AlgorithmSet;
  readonly #options: ResolvedDatagramClientOptions;
  #serverKey: PublicKey | null = null;
  #clientKey: PrivateKey | null = null;
  /**
   * The last cookie each server (`host|port` as given) gave, least recently used first,
   * with the local port it was given to (a cookie binds the client's address and port,
   * §D2, so it is only worth sending from that port again) and, once the session that
   * used that port has ended, a promise of the port being free.
   */
  readonly #cookies = new Map<string, CachedCookie>();

  private constructor(
    key: PublicKeyInput | null,
    set: AlgorithmSet,
    options: DatagramClientOptions | undefined,
  ) {
    this.#keyInput = key;
    this.#trust = options?.trust ? { mode: options.trust, knownHosts: options.knownHosts } : null;
    this.#clientKeyInput = options?.clientKey ?? null;
    this.#set = set;
    this.#options = resolveDatagramClientOptions(options);
  }

  /**
   * Creates a datagram client that trusts `publicKey` as the server's key.
   *
   * @param publicKey The server's public key or its file's path (read by `connect()`); or
   *   null with `options.trust` ('strict' or 'tofu') to trust through known_hosts.
   * @param set The algorithm set. Default RSA / AES-256-CBC / SHA-256.
   * @param options See {@link DatagramClientOptions}.
   * @throws TypeError / RangeError for invalid arguments.
   */
  static create(
    publicKey: PublicKeyInput | null,
    set: AlgorithmSet = {},
    options?: DatagramClientOptions,
  ): DatagramClient {
    checkClientArguments(publicKey, set, options);
    return new DatagramClient(publicKey ?? null, set, options);
  }

  /**
   * Runs the handshake with the server at `endpoint` over a new UDP socket and resolves
   * with the open session. Rejects with TimeoutError (`limit: 'handshake'`: no answer
   * within `handshakeTimeout`, retransmissions included), ERR_TRANSPORT (the host does not
   * resolve; or connection refused: the socket reported ECONNREFUSED — ICMP port
   * unreachable — and no answer came by the next retransmission, also while the server's
   * first record is awaited after the ClientFinished; `cause` is the system
   * error), ERR_ABORTED, a trust error (ERR_HOST_UNKNOWN, ERR_HOST_KEY_CHANGED…) or the
   * handshake's coded error (ERR_SERVER_KEY_MISMATCH, ERR_SUITE_MISMATCH, ERR_HANDSHAKE,
   * ERR_NOT_AUTHORIZED…).
   * ERR_SERVER_BUSY is retried `busyRetries` times after a random, growing pause. A
   * client may hold any number of sessions; each has its own socket.
   */
  async connect(
    endpoint: EndpointInput,
    options: { readonly signal?: AbortSignal } = {},
  ): Promise<DatagramSession> {
    const target = parseEndpoint(endpoint);
    const signal = checkSignal(options?.signal, 'options.signal');
    if (signal?.aborted) throw abortError('connect', signal);
    if (this.#keyInput !== null) this.#serverKey ??= await loadPublicKey(this.#keyInput);
    if (this.#clientKeyInput !== null)
      this.#clientKey ??= (await loadPrivateKeys([this.#clientKeyInput]))[0]!;
    const cacheKey = `${target.host}|${target.port}`;
    const cached = this.#cookies.get(cacheKey);
    // Reconnecting after a session ended: from the port the cookie is for, if it is free.
    if (cached?.released) await cached.released;
    const { socket, remote } = await connectSocket(
      target,
      cached?.released ? cached.localPort : 0,
      this.#options.socket,
    );
    const localPort = socket.address().port;
    /** The current attempt's trace: from its first packet to the open session or its failure. */
    let trace: HandshakeTrace | null = null;
    // Logged only: the attempt (client-attempt.ts) treats an ECONNREFUSED as fatal only if
    // no valid answer arrives by the next retransmission (a forged ICMP must not be enough).
    const onSocketError = (err: Error): void => debug('datagram client socket: %s', err.message);
    socket.on('error', onSocketError);
    let handed = false;
    try {
      let askServerKey = false;
      for (let attempt = 0; ;) {
        const trust = this.#trust
          ? await hostTrust(target, this.#trust.mode, this.#trust.knownHosts, 'datagram')
          : null;
        const serverKey = trust ? (askServerKey ? null : trust.key) : this.#serverKey;
        // The newest cookie for this port: a retry reuses the one the last attempt got.
        const known = this.#cookies.get(cacheKey);
        const hs = new DatagramClientHandshake({
          ...(serverKey ? { serverKey } : {}),
          set: this.#set,
          ...(this.#clientKey ? { clientKey: this.#clientKey } : {}),
          cookie: known && known.localPort === localPort ? known.cookie : null,
          handshakeTimeout: this.#options.handshakeTimeout,
          context: contextOptions(this.#options.session),
          keyLog: keyLogFromEnv(),
        });
        debug(
          'datagram client: handshake with %s, %s',
          formatEndpoint(target),
          serverKey ? `naming ${serverKey.fingerprint()}` : 'asking for the server key',
        );
        // The attempt's handshake timeout also bounds the wait for the server's first record.
        const deadline = performance.now() + this.#options.handshakeTimeout;
        trace = startHandshakeTrace('client', socket, remote);
        let opened: OpenedHandshake;
        try {
          opened = await runAttempt(socket, hs, decider(trust, this.#serverKey), signal);
        } catch (err) {
          trace?.fail(err);
          if (!trust) publishPinnedRefused('datagram', target, this.#serverKey!, err);
          this.#remember(cacheKey, hs.cookie, localPort);
          debug('datagram client: handshake with %s failed: %s', formatEndpoint(target), describeError(err));
          const code = err instanceof SessionError ? err.code : null;
          if (trust && code === ErrorCode.SERVER_KEY_MISMATCH && !askServerKey) {
            // Let known_hosts judge the key the server holds: rotated-in and trusted, or changed.
            askServerKey = true;
            continue;
          }
          if (code !== ErrorCode.SERVER_BUSY || attempt >= this.#options.busyRetries) throw err;
          const ms = Math.random() * Math.min(BUSY_RETRY_CAP, BUSY_RETRY_BASE * 2 ** attempt);
          debug('%s is busy: trying again in %d ms', formatEndpoint(target), Math.round(ms));
          await pause(ms, signal);
          attempt++;
          continue;
        }
        const entry = this.#remember(cacheKey, hs.cookie, localPort);
        try {
          await trust?.confirm();
        } catch (err) {
          opened.result.outbound.destroy();
          opened.result.inbound.destroy();
          throw err;
        }
        handed = true;
        const session = await this.#open(socket, remote, opened, deadline, signal, (released) => {
          if (entry && this.#cookies.get(cacheKey) === entry) entry.released = released;
        });
        if (!trust) publishPinned('datagram', target, this.#serverKey!);
        session[kEstablished](socket);
        trace?.done(session);
        return session;
      }
    } catch (err) {
      trace?.fail(err);
      throw err;
    } finally {
      socket.off('error', onSocketError);
      if (!handed) {
        const released = closeSocket(socket);
        const entry = this.#cookies.get(cacheKey);
        if (entry?.localPort === localPort) entry.released = released;
      }
    }
  }

  /**
   * The session over `socket`, which it owns from now on (closed when the session ends).
   * Resolves once a first record from the server has opened (its HandshakeDone, normally):
   * only then does the server hold the session, so a message sent at once is not dropped
   * as early (§D3), and a client the server refused is not handed a dead session. The
   * session resends the ClientFinished meanwhile; past `deadline` the session is destroyed
   * and the promise rejects with TimeoutError('handshake'); with ERR_ABORTED if `signal`
   * aborts; with the session's error if it ends first (an Alert record from the server);
   * with ERR_TRANSPORT if the socket reports ECONNREFUSED and the next resend comes with no
   * record opened (the server stopped after its ServerFinished).
   */
  #open(
    socket: Socket,
    remote: DatagramAddress,
    opened: OpenedHandshake,
    deadline: number,
    signal: AbortSignal | undefined,
    onReleased: (released: Promise<void>) => void,
  ): Promise<DatagramSession> {
    const { result, clientFinished } = opened;
    const inbound = result.inbound;
    // The ServerFinished already counts as opened: wait for one more.
    const openedBefore = inbound.counters.opened;
    let confirm: (() => void) | null = null;
    /**
     * Until a record opens: an ECONNREFUSED since the last send, how many sends in a row
     * drew one, and the way to fail.
     */
    let refused: NodeJS.ErrnoException | null = null;
    let strikes = 0;
    let refuse: ((err: NodeJS.ErrnoException) => void) | null = null;
    const session = createDatagramSession({
      role: 'client',
      outbound: result.outbound,
      inbound,
      remote,
      transmit: (packet, _to, done) => {
        // The server answered our Hello, so it was there: it may be slow now (an authorize
        // hook, a queued signature check, a lost HandshakeDone). Only an ECONNREFUSED after
        // each of REFUSALS_AFTER_HELLO sends in a row, with no record opened, means no server
        // listens any more; a forged ICMP or two is not enough.
        const cause = refused;
        refused = null;
        strikes = cause ? strikes + 1 : 0;
        if (cause && refuse && strikes >= REFUSALS_AFTER_HELLO) {
          const give = refuse;
          done();
          queueMicrotask(() => give(cause));
          return;
        }
        try {
          socket.send(packet, (err) => {
            if (err) debug('datagram client: send: %s', err.message);
            done();
          });
        } catch (err) {
          debug('datagram client: send: %s', (err as Error).message);
          done();
        }
      },
      options: this.#options.session,
      info: result.info,
      resend: clientFinished,
      // The session would otherwise give up at its default 10 s: our deadline (below) rules.
      resendTimeout: this.#options.handshakeTimeout,
      onEnd: () => {
        socket.off('message', onMessage);
        onReleased(closeSocket(socket));
      },
    });
    const onMessage = (packet: Buffer, rinfo: RemoteInfo): void => {
      // Only records belong to the session; a late handshake answer is dropped.
      if (packet.length === 0 || packet[0] !== PacketType.Record) return;
      session.receive(packet, rinfo);
      if (confirm && inbound.counters.opened > openedBefore) confirm();
    };
    socket.on('message', onMessage);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      debug('datagram client socket: %s', err.message);
      if (err.code === 'ECONNREFUSED' && refuse) refused = err;
    });
    return new Promise<DatagramSession>((resolve, reject) => {
      const timeout = this.#options.handshakeTimeout;
      let failure: SessionError | null = null;
      const onError = (err: SessionError): void => {
        failure = err;
      };
      const onClose = (code: number): void =>
        fail(
          failure ??
            new SessionError(ErrorCode.SESSION_CLOSED, `session closed during the handshake (code ${code})`),
        );
      const done = (): void => {
        confirm = refuse = null;
        refused = null;
        clearTimeout(timer);
        removeAbort();
        session.off('error', onError);
        session.off('close', onClose);
      };
      const fail = (err: Error): void => {
        done();
        session.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new TimeoutError('handshake', timeout)),
        Math.max(0, deadline - performance.now()),
      );
      const removeAbort = onAbort(signal, () => fail(abortError('connect', signal!)));
      session.on('error', onError);
      session.on('close', onClose);
      refuse = (cause) => fail(refusedError(socket, cause));
      confirm = () => {
        done();
        debug(
          'datagram client: session with %s port %d open, local port %d',
          remote.address,
          remote.port,
          socket.address().port,
        );
        resolve(session);
      };
    });
  }

  /** Keeps the cookie `localPort` got from the server at `key` (if any); returns the entry. */
  #remember(key: string, cookie: Buffer | null, localPort: number): CachedCookie | null {
    if (!cookie) return null;
    const entry: CachedCookie = { cookie: Buffer.from(cookie), localPort, released: null };
    this.#cookies.delete(key);
    this.#cookies.set(key, entry);
    if (this.#cookies.size > MAX_CACHED_COOKIES) this.#cookies.delete(this.#cookies.keys().next().value!);
    return entry;
  }
}

/** Sends in a row that must each draw an ECONNREFUSED before connect() gives up early. */
const REFUSALS_AFTER_HELLO = 3;

/** The trust decision on a key the server sent: known_hosts's, else only the pinned key. */
function decider(trust: HostTrust | null, pinned: PublicKey | null): (key: PublicKey) => Promise<void> {
  if (trust) return (key) => trust.decide(key);
  return (key) =>
    pinned && pinned.equals(key)
      ? Promise.resolve()
      : Promise.reject(
          new SessionError(ErrorCode.SERVER_KEY_MISMATCH, 'handshake: the server offered another key'),
        );
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
