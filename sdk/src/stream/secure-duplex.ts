/**
 * Any transport: run a secsess session over any Duplex whose writes reach the peer and
 * whose reads come from it — a TCP socket, an in-memory pair, a WebSocket stream — or over
 * a `{ readable, writable }` pair such as a child process's stdout and stdin. The session is
 * the ciphertext side; the application sees plaintext messages.
 *
 * It takes the options `Client` and `Server` take, through the same code: trust through
 * known_hosts (client/trust.ts) and authorization through authorized_keys and an
 * `authorize` hook (server/authorization.ts), so a session over a pipe is decided exactly
 * as one over TCP, with the same errors. One difference: with known_hosts, the client always
 * asks the server for its key first (a KeyRequest, one more round trip), where the TCP
 * client names the listed key and, if refused, connects again to find out why; a transport
 * cannot be dialled twice. The answer is bound into the transcript the server's proof
 * covers, and only a key the file trusts (or, tofu, a host without entries) is accepted.
 */
import { Duplex } from 'node:stream';
import type { Readable, Writable } from 'node:stream';
import type { PublicKey } from '@secsess/keys';
import { ErrorCode, SessionError, resolveSuite } from '../protocol/index.js';
import type { AlgorithmSet } from '../protocol/index.js';
import { abortError, checkSignal, onAbort } from '../common/deferred.js';
import { parseEndpoint } from '../common/endpoint.js';
import type { EndpointInput } from '../common/endpoint.js';
import {
  checkPrivateKeys,
  checkPublicKey,
  loadPrivateKeys,
  loadPublicKey,
  resolveSuites,
} from '../common/key-input.js';
import type { PrivateKeyInput } from '../common/key-input.js';
import { resolveSessionOptions } from '../common/options.js';
import type { SessionOptions } from '../common/options.js';
import { checkTrustOptions, hostTrust } from '../client/trust.js';
import type { HostTrust, TrustOptions } from '../client/trust.js';
import { Authorizer, peerInfo } from '../server/authorization.js';
import type { AuthorizationOptions } from '../server/authorization.js';
import { ServerTickets, resolveTicketOptions } from '../server/tickets.js';
import type { TicketOptions } from '../server/tickets.js';
import { TicketStore, storeTicket, takeTicket } from '../client/ticket-store.js';
import { createSession } from './session.js';
import { kFail, kIssueTicket, kReady } from './session-types.js';
import type { Session } from './session.js';
import { opened, traceHandshake } from './session-observe.js';
import { publishPinned, publishPinnedRefused } from '../observe/publish.js';

/**
 * `secureDuplex()` as the client: the side that knows the server's public key, pinned
 * (`serverKey`) or through known_hosts (`trust`, with `peer` naming the host).
 */
export interface SecureClientOptions extends SessionOptions, TrustOptions {
  readonly role: 'client';
  /**
   * The server's public key, or the path of its public key file. Required unless
   * `trust` is given (then it must be absent).
   */
  readonly serverKey?: PublicKey | string;
  /**
   * With `trust`: the `"host:port"` (or `{ host, port }`) under which known_hosts lists the
   * peer at the other end of this transport (it has no address of its own). Required with
   * `trust`, ignored without.
   */
  readonly peer?: EndpointInput;
  /** The client's own key (or key file), to authenticate to the server. Default: none. */
  readonly clientKey?: PrivateKeyInput;
  /** The algorithm set. Default RSA / AES-256-CBC / SHA-256. */
  readonly set?: AlgorithmSet;
  /** Largest record payload this side sends, 1–65536. Default 65536. */
  readonly maxFragmentSize?: number;
  /**
   * Resumption (README "Resumption"): ask for a ticket and file it here, and offer one of
   * its tickets for this server key, set and client key (with a pinned `serverKey` only).
   * Default: none.
   */
  readonly resumption?: TicketStore;
  /** Aborts the handshake (the promise rejects with ERR_ABORTED, the duplex is destroyed). */
  readonly signal?: AbortSignal;
}

/**
 * `secureDuplex()` as the server: the side holding the private key(s); with
 * `authorizedKeys` and/or `authorize`, it decides which clients may in, as a `Server` does.
 */
export interface SecureServerOptions extends SessionOptions, AuthorizationOptions {
  readonly role: 'server';
  /** The private key(s) or key file path(s); several during a key rotation. */
  readonly keys: PrivateKeyInput | readonly PrivateKeyInput[];
  /** The accepted set(s). Default: every supported suite. */
  readonly set?: AlgorithmSet | readonly AlgorithmSet[];
  /**
   * Resumption tickets, as `ServerOptions.tickets` (README "Resumption"), except
   * `singleUse`: single use needs one memory of used tickets shared by every connection,
   * and each `secureDuplex()` call is one connection — `singleUse: true` is a TypeError
   * (use a `Server`). Default: none.
   */
  readonly tickets?: TicketOptions;
  /** Aborts the handshake (the promise rejects with ERR_ABORTED, the duplex is destroyed). */
  readonly signal?: AbortSignal;
}

export type SecureDuplexOptions = SecureClientOptions | SecureServerOptions;

/** Two one-way streams that together reach the peer: a child's `stdout` and `stdin`. */
export interface StreamPair {
  /** Where the peer's bytes come from (e.g. `child.stdout`, `process.stdin`). */
  readonly readable: Readable;
  /** Where bytes for the peer go (e.g. `child.stdin`, `process.stdout`). */
  readonly writable: Writable;
}

/**
 * Runs the handshake over `transport` and resolves with the open session. The server role
 * decrypts on the calling thread (a {@link Server} uses its worker pool instead). On
 * failure the promise rejects with the coded error and the transport is ended or
 * destroyed: a trust refusal (ERR_HOST_UNKNOWN, ERR_HOST_KEY_CHANGED,
 * ERR_HOST_KEY_REVOKED), on the server a refused client (ERR_NOT_AUTHORIZED, with the
 * reason in the message; the client sees ERR_NOT_AUTHORIZED on its first `read()`), or
 * the handshake's own error.
 *
 * @param transport A Duplex, or a `{ readable, writable }` pair (joined with `Duplex.from`).
 * @throws TypeError for a missing/wrong `role`, key, transport or option (as a rejection).
 */
export async function secureDuplex(
  transport: Duplex | StreamPair,
  options: SecureDuplexOptions,
): Promise<Session> {
  const duplex = toDuplex(transport);
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object');
  const signal = checkSignal(options.signal, 'options.signal');
  const sessionOptions = resolveSessionOptions(options);
  if (options.role === 'client') {
    const trust = await clientTrust(options);
    const serverKey = trust
      ? undefined
      : await loadPublicKey(checkPublicKey(options.serverKey!, 'options.serverKey'));
    const clientKey =
      options.clientKey === undefined
        ? undefined
        : (await loadPrivateKeys(checkPrivateKeys(options.clientKey, 'options.clientKey')))[0];
    let trustError: unknown = null;
    const store = checkStore(options.resumption);
    const resume =
      store && serverKey
        ? takeTicket(store, serverKey, resolveSuite(options.set), clientKey?.publicKey ?? null)
        : null;
    const session = createSession(
      duplex,
      {
        role: 'client',
        newTicket: store ? (ticket) => storeTicket(store, ticket) : undefined,
        connection: {
          ...(store ? { tickets: true } : {}),
          ...(resume ? { resume } : {}),
          // With known_hosts, the client asks the server for its key (one more round trip)
          // and the file decides: the TCP client's diagnosis of a changed key, or its retry
          // during a key rotation, would need a second connection, which this transport
          // cannot make.
          serverKey,
          set: options.set ?? {},
          maxFragmentSize: options.maxFragmentSize,
          clientKey,
        },
        decideServerKey: trust
          ? (key) =>
              trust.decide(key).catch((err: unknown) => {
                trustError = err;
                throw err;
              })
          : undefined,
      },
      sessionOptions,
    );
    const trace = traceHandshake(session, 'client');
    try {
      await establish(session, signal);
    } catch (err) {
      trace?.fail(trustError ?? err);
      if (!trust) publishPinnedRefused('stream', null, serverKey!, err);
      // A trust refusal keeps its own code (ERR_HOST_UNKNOWN, ERR_HOST_KEY_CHANGED…).
      throw trustError ?? err;
    }
    if (trust) {
      try {
        await trust.confirm();
      } catch (err) {
        trace?.fail(err);
        session.destroy();
        throw err;
      }
    } else publishPinned('stream', null, serverKey!);
    opened(session, trace);
    return session;
  }
  if (options.role === 'server') {
    const suites = resolveSuites(options.set);
    const resolved = resolveTicketOptions(options.tickets);
    if (resolved?.singleUse) {
      // A memory made here would be this transport's alone: the ticket would be accepted
      // again on the next secureDuplex(). Refused rather than silently not single-use.
      throw new TypeError(
        'options.tickets.singleUse is not supported by secureDuplex(): single use needs one memory of used tickets shared by every connection (use a Server)',
      );
    }
    const tickets = new ServerTickets(resolved).context;
    const authorizer = new Authorizer(options);
    const keys = await loadPrivateKeys(checkPrivateKeys(options.keys, 'options.keys'));
    await authorizer.load();
    // A TCP socket names the peer for the channels (observe/); another Duplex does not.
    const socketish = duplex as { readonly remoteAddress?: string; readonly remotePort?: number };
    const session = createSession(
      duplex,
      {
        role: 'server',
        connection: {
          keys,
          suites,
          clientKeyAllowed: authorizer.enabled
            ? authorizer.allowsFrom(socketish.remoteAddress, socketish.remotePort)
            : undefined,
          tickets,
        },
      },
      sessionOptions,
    );
    const trace = traceHandshake(session, 'server');
    try {
      await establish(session, signal);
    } catch (err) {
      trace?.fail(err);
      throw err;
    }
    if (authorizer.enabled) {
      const denial = await authorizer.check(
        peerInfo(session, session.remoteAddress, session.remotePort),
        sessionOptions.handshakeTimeout,
      );
      if (denial !== null) {
        // The client learns only ERR_NOT_AUTHORIZED; the reason stays on this side.
        const err = new SessionError(ErrorCode.NOT_AUTHORIZED, `client not authorized: ${denial}`);
        trace?.fail(err);
        session[kFail](err);
        throw err;
      }
      // The client may have left while the hook ran: no session to hand on (as a Server).
      if (session.state === 'closed') {
        const err = new SessionError(ErrorCode.SESSION_CLOSED, 'the client left during authorization');
        trace?.fail(err);
        throw err;
      }
    }
    session[kIssueTicket]();
    opened(session, trace);
    return session;
  }
  throw new TypeError("options.role must be 'client' or 'server'");
}

function checkStore(store: unknown): TicketStore | null {
  if (store === undefined) return null;
  if (!(store instanceof TicketStore)) throw new TypeError('options.resumption must be a TicketStore');
  return store;
}

/** The client's known_hosts decision, if it trusts through known_hosts; checks the key options. */
async function clientTrust(options: SecureClientOptions): Promise<HostTrust | null> {
  checkTrustOptions(options);
  if (!options.trust) {
    if (options.serverKey === undefined || options.serverKey === null) {
      throw new TypeError("options.serverKey is required unless options.trust is 'strict' or 'tofu'");
    }
    return null;
  }
  if (options.serverKey !== undefined) {
    throw new TypeError('give either a pinned options.serverKey or options.trust, not both');
  }
  if (options.peer === undefined) {
    throw new TypeError('options.trust needs options.peer: the "host:port" known_hosts lists the peer under');
  }
  return hostTrust(parseEndpoint(options.peer), options.trust, options.knownHosts);
}

/** @internal Waits for the session's handshake; `signal` aborts it. */
export async function establish(session: Session, signal: AbortSignal | undefined): Promise<Session> {
  if (signal?.aborted) {
    session.destroy();
    throw abortError('handshake', signal);
  }
  let cleanup = (): void => {};
  const aborted = new Promise<never>((_, reject) => {
    cleanup = onAbort(signal, () => {
      reject(abortError('handshake', signal!));
      session.destroy();
    });
  });
  try {
    await Promise.race([session[kReady], aborted]);
    return session;
  } finally {
    cleanup();
  }
}

/** The transport as one Duplex: a Duplex as it is, a `{ readable, writable }` pair joined. */
function toDuplex(transport: Duplex | StreamPair): Duplex {
  if (isDuplex(transport)) return transport;
  const pair = transport as Partial<StreamPair> | null;
  if (
    pair !== null &&
    typeof pair === 'object' &&
    typeof pair.readable?.on === 'function' &&
    typeof pair.readable.pause === 'function' &&
    typeof pair.writable?.write === 'function' &&
    typeof pair.writable.end === 'function'
  ) {
    return Duplex.from({ readable: pair.readable, writable: pair.writable });
  }
  throw new TypeError('transport must be a Duplex stream or a { readable, writable } pair of streams');
}

function isDuplex(value: unknown): value is Duplex {
  const d = value as Duplex | null;
  return (
    d !== null &&
    typeof d === 'object' &&
    typeof d.write === 'function' &&
    typeof d.end === 'function' &&
    typeof d.on === 'function' &&
    typeof d.pause === 'function' &&
    typeof d.resume === 'function'
  );
}
