/**
 * The handshake's hooks that reach outside the session: a server's RSA decryption and
 * client-signature verification done elsewhere (the server's worker pool, the "vault"), and
 * a client's decision on the key a server sends (trust on first use). Each is a subclass of
 * the session's state object carrying its function, so a session still makes one object
 * for all its callbacks; `createCore` picks the class.
 */
import type { Duplex } from 'node:stream';
import type { PublicKey } from '@secsess/keys';
import type {
  ClientConnection,
  ClientConnectionHandler,
  ClientConnectionOptions,
  DecryptRequest,
  ServerConnection,
  ServerConnectionHandler,
  ServerConnectionOptions,
  SessionTicket,
  VerifyRequest,
} from '../protocol/index.js';
import type { ResolvedSessionOptions } from '../common/options.js';
import { fail } from './session-end.js';
import { SessionHooks } from './session-hooks.js';
import type { ProxiedAddresses, SessionEmitter } from './session-types.js';

/** Performs the server's RSA decryption elsewhere; null on any failure. `S`: the session type. */
export type DecryptFunctionOf<S> = (
  keyIndex: number,
  ciphertext: Buffer,
  session: S,
) => Promise<Buffer | null>;

/** Verifies a client's signature elsewhere (the server's worker pool); false on any failure. */
export type VerifyFunctionOf<S> = (request: VerifyRequest, session: S) => Promise<boolean>;

/** How the session's connection is made. */
export type SessionInitOf<S> =
  | {
      readonly role: 'client';
      readonly connection: ClientConnectionOptions;
      /** Without `connection.serverKey`: decides on the key the server sends (trust on first use). */
      readonly decideServerKey?: ((key: PublicKey) => Promise<void>) | undefined;
      /** Where the tickets the server sends go (the client's ticket store). */
      readonly newTicket?: ((ticket: SessionTicket) => void) | undefined;
    }
  | {
      readonly role: 'server';
      readonly connection: ServerConnectionOptions;
      readonly decrypt?: DecryptFunctionOf<S> | undefined;
      readonly verify?: VerifyFunctionOf<S> | undefined;
      /** The addresses a trusted proxy's PROXY header gave, instead of the socket's. */
      readonly proxied?: ProxiedAddresses | undefined;
    };

/** A server session whose RSA decryption runs elsewhere (the server's worker pool). */
class DecryptHooks<S extends SessionEmitter> extends SessionHooks implements ServerConnectionHandler {
  readonly #decryptFn: DecryptFunctionOf<S>;

  constructor(
    session: S,
    transport: Duplex,
    init: SessionInitOf<S> & { role: 'server' },
    options: ResolvedSessionOptions,
    decrypt: DecryptFunctionOf<S>,
  ) {
    super(session, transport, init, options);
    this.#decryptFn = decrypt;
  }

  decryptSecret(request: DecryptRequest): void {
    const complete = (secret: Buffer | null): void => {
      if (this.state !== 'handshake') {
        secret?.fill(0);
        return;
      }
      // ServerHello and ServerFinished: corked, one write.
      this.transport.cork();
      try {
        (this.conn as ServerConnection).completeDecrypt(secret);
      } catch (err) {
        fail(this, err);
      } finally {
        this.transport.uncork();
      }
    };
    this.#decryptFn(request.keyIndex, request.ciphertext, this.session as S).then(complete, () =>
      complete(null),
    );
  }
}

/** A server session whose client-signature verification runs there too. */
class VaultHooks<S extends SessionEmitter> extends DecryptHooks<S> {
  readonly #verifyFn: VerifyFunctionOf<S>;

  constructor(
    session: S,
    transport: Duplex,
    init: SessionInitOf<S> & { role: 'server' },
    options: ResolvedSessionOptions,
    decrypt: DecryptFunctionOf<S>,
    verify: VerifyFunctionOf<S>,
  ) {
    super(session, transport, init, options, decrypt);
    this.#verifyFn = verify;
  }

  /**
   * Hands the client's signature to `verify`; the transport is not read meanwhile (what
   * the core already holds of the current read is queued there, bounded).
   */
  verifyClientAuth(request: VerifyRequest): void {
    const transport = this.transport;
    transport.pause();
    const complete = (valid: boolean): void => {
      if (this.state !== 'handshake') return;
      const writer = this.writer;
      writer.beginDelivery();
      try {
        (this.conn as ServerConnection).completeVerify(valid);
      } catch (err) {
        fail(this, err);
      } finally {
        writer.endDelivery();
      }
      if (this.conn.state !== 'closed' && !this.paused && !this.stalled) transport.resume();
    };
    this.#verifyFn(request, this.session as S).then(complete, () => complete(false));
  }
}

/** A client session that decides on the key the server sends (trust on first use). */
class TrustHooks extends SessionHooks implements ClientConnectionHandler {
  readonly #decide: (key: PublicKey) => Promise<void>;

  constructor(
    session: SessionEmitter,
    transport: Duplex,
    init: SessionInitOf<unknown> & { role: 'client' },
    options: ResolvedSessionOptions,
    decide: (key: PublicKey) => Promise<void>,
  ) {
    super(session, transport, init, options);
    this.#decide = decide;
  }

  serverKey(key: PublicKey): void {
    this.#decide(key).then(
      () => {
        if (this.state !== 'handshake') return;
        try {
          (this.conn as ClientConnection).useServerKey(key);
        } catch (err) {
          fail(this, err);
        }
      },
      (err: unknown) => fail(this, err),
    );
  }
}

/** The state object of a new session, of the class its handshake hooks need (not started yet). */
export function createCore<S extends SessionEmitter>(
  session: S,
  transport: Duplex,
  init: SessionInitOf<S>,
  options: ResolvedSessionOptions,
): SessionHooks {
  if (init.role === 'server') {
    if (!init.decrypt) return new SessionHooks(session, transport, init, options);
    return init.verify
      ? new VaultHooks(session, transport, init, options, init.decrypt, init.verify)
      : new DecryptHooks(session, transport, init, options, init.decrypt);
  }
  return init.decideServerKey
    ? new TrustHooks(session, transport, init, options, init.decideServerKey)
    : new SessionHooks(session, transport, init, options);
}
