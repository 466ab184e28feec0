/**
 * Server-side client authorization (Versile's authorization hooks): an `authorized_keys`
 * file and/or an `authorize(peer)` hook decide whether an authenticated session is handed
 * to the application. The client's key was already proven by its RSA-PSS signature over
 * the transcript (PROTOCOL.md §6); this only decides whether that key (and address) may in.
 *
 * Order of the server's checks on a client key: its shape, size and exponent (the core),
 * membership in authorized_keys ({@link Authorizer.allows}, asked by the core before any
 * signature work), the signature (in the worker pool), then {@link Authorizer.check}
 * (a key missing from the file after a reload, a client without a key, the hook).
 *
 * Rules: with `authorizedKeys`, the client must authenticate with a key in the file; with
 * `authorize`, the hook must also return true (it sees clients without a key too when there
 * is no file). A hook that throws, rejects or does not answer within the handshake timeout
 * denies. A denied client gets ERR_NOT_AUTHORIZED
 * and learns nothing else.
 */
import { AuthorizedKeys } from '@secsess/keys';
import type { PreparedAuthorizedKeysReload, PublicKey } from '@secsess/keys';
import { ErrorCode, SessionError } from '../protocol/index.js';
import { debug } from '../common/debug.js';
import { trustChannel } from '../observe/channels.js';
import type { TransportKind } from '../observe/channels.js';
import { publishAuthorization, publishTrust, hostPort } from '../observe/publish.js';

/** What the `authorize` hook is told about a client whose handshake completed. */
export interface PeerInfo {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  /** The server key the client used. */
  readonly serverKey: PublicKey;
  readonly serverFingerprint: string;
  /** The client's key, proven by its signature; null if the client did not authenticate. */
  readonly clientKey: PublicKey | null;
  readonly clientFingerprint: string | null;
}

/**
 * What the authorize hook is told of a session whose handshake completed (over TCP, or over
 * any transport, whose addresses may be unknown).
 */
export function peerInfo(
  session: { readonly serverKey: PublicKey | null; readonly clientKey: PublicKey | null },
  remoteAddress: string | undefined,
  remotePort: number | undefined,
): PeerInfo {
  const serverKey = session.serverKey!;
  const clientKey = session.clientKey;
  return {
    remoteAddress,
    remotePort,
    serverKey,
    serverFingerprint: serverKey.fingerprint(),
    clientKey,
    clientFingerprint: clientKey ? clientKey.fingerprint() : null,
  };
}

/** Returns (or resolves to) true to let the client in. Throwing denies. */
export type AuthorizeHook = (peer: PeerInfo) => boolean | Promise<boolean>;

/** The authorization options of {@link ServerOptions}. */
export interface AuthorizationOptions {
  /**
   * Only clients authenticating with a key in this file (OpenSSH `authorized_keys` syntax:
   * `ssh-rsa AAAA… comment` lines, plus PEM public keys) are let in. A path is loaded when
   * the server starts; reload it with `server.reloadAuthorizedKeys()`. Default: none.
   */
  readonly authorizedKeys?: string | AuthorizedKeys;
  /** Decides on each authenticated session. Default: none. */
  readonly authorize?: AuthorizeHook;
}

/** Why a client was refused, for the server's `'handshakeError'` event (never sent to the client). */
export type DenialReason =
  'no client key' | 'key not authorized' | 'denied by hook' | 'hook failed' | 'hook timed out';

export function checkAuthorizationOptions(options: AuthorizationOptions): void {
  const file = options.authorizedKeys;
  if (file !== undefined && !(file instanceof AuthorizedKeys) && !(typeof file === 'string' && file)) {
    throw new TypeError('options.authorizedKeys must be a path or an AuthorizedKeys');
  }
  if (options.authorize !== undefined && typeof options.authorize !== 'function') {
    throw new TypeError('options.authorize must be a function');
  }
}

export class Authorizer {
  readonly #source: string | AuthorizedKeys | undefined;
  readonly #hook: AuthorizeHook | undefined;
  #keys: AuthorizedKeys | null = null;
  readonly #allows = (key: PublicKey): boolean => this.allows(key);

  constructor(options: AuthorizationOptions) {
    checkAuthorizationOptions(options);
    this.#source = options.authorizedKeys;
    this.#hook = options.authorize;
    if (this.#source instanceof AuthorizedKeys) this.#keys = this.#source;
  }

  /** Whether any authorization is configured (if not, every client is let in). */
  get enabled(): boolean {
    return this.#source !== undefined || this.#hook !== undefined;
  }

  /** The loaded authorized_keys, if any. */
  get authorizedKeys(): AuthorizedKeys | null {
    return this.#keys;
  }

  /** Loads the authorized_keys file (at server start). Throws its coded error. */
  async load(): Promise<void> {
    if (typeof this.#source === 'string' && !this.#keys) this.#keys = await AuthorizedKeys.load(this.#source);
  }

  /** Re-reads the authorized_keys file; on failure the current set stays and the error is thrown. */
  async reload(): Promise<{ added: number; removed: number }> {
    const { added, removed, apply } = await this.prepareReload();
    apply();
    return { added, removed };
  }

  /** {@link reload} without putting the new set in force: the result's `apply()` does. */
  async prepareReload(): Promise<PreparedAuthorizedKeysReload> {
    if (!this.#keys) {
      throw new SessionError(
        ErrorCode.INVALID_STATE,
        typeof this.#source === 'string'
          ? 'the authorizedKeys file is read by start(): start the server before reloading it'
          : 'the server has no authorizedKeys file to reload',
      );
    }
    return this.#keys.prepareReload();
  }

  /**
   * Whether `key` may authenticate at all: without authorized_keys every key may (it is
   * still verified, then given to the hook); with it, only a listed key. Synchronous and
   * cheap (a fingerprint lookup): asked before the client's signature is verified.
   */
  allows(key: PublicKey): boolean {
    return this.#keys === null || this.#keys.has(key);
  }

  /**
   * `allows` as the core's `clientKeyAllowed` for one connection from `remote`: when someone
   * subscribes to `secsess:trust`, a function that also publishes a refusal (`not-listed`);
   * else one function for all connections.
   */
  allowsFrom(
    remoteAddress: string | undefined,
    remotePort: number | undefined,
    transport: TransportKind = 'stream',
  ): (key: PublicKey) => boolean {
    if (!trustChannel.hasSubscribers) return this.#allows;
    return (key) => {
      if (this.allows(key)) return true;
      publishTrust('server', transport, hostPort(remoteAddress, remotePort), key, 'refused', 'not-listed');
      return false;
    };
  }

  /**
   * Decides on an established server session whose client is at `remote` (its `label` for
   * the debug line); never throws. Returns null when allowed, else the ERR_NOT_AUTHORIZED
   * error to fail the session with: the client learns only the code, the reason stays here.
   */
  async deny(
    session: { readonly serverKey: PublicKey | null; readonly clientKey: PublicKey | null },
    remote: { readonly address: string | undefined; readonly port: number | undefined },
    label: string,
    timeoutMs: number,
  ): Promise<SessionError | null> {
    const denial = await this.check(peerInfo(session, remote.address, remote.port), timeoutMs);
    if (denial === null) return null;
    const fingerprint = session.clientKey?.fingerprint() ?? 'none';
    debug('server: client %s with key %s refused: %s', label, fingerprint, denial);
    return new SessionError(ErrorCode.NOT_AUTHORIZED, `client not authorized: ${denial}`);
  }

  /**
   * Decides; never throws. Returns null when allowed, the reason when denied. A hook that
   * has not answered within `timeoutMs` denies (its session holds a handshake slot meanwhile).
   * The decision is published on `secsess:trust` (`transport`: the session's kind).
   */
  async check(
    peer: PeerInfo,
    timeoutMs: number,
    transport: TransportKind = 'stream',
  ): Promise<DenialReason | null> {
    const denial = await this.#check(peer, timeoutMs);
    publishAuthorization(transport, peer.remoteAddress, peer.remotePort, peer.clientKey, denial);
    return denial;
  }

  async #check(peer: PeerInfo, timeoutMs: number): Promise<DenialReason | null> {
    if (this.#keys) {
      if (!peer.clientKey) return 'no client key';
      if (!this.#keys.has(peer.clientKey)) return 'key not authorized';
    }
    if (!this.#hook) return null;
    const hook = this.#hook;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<DenialReason>((resolve) => {
      timer = setTimeout(() => resolve('hook timed out'), timeoutMs);
      timer.unref();
    });
    const decided = (async (): Promise<DenialReason | null> => {
      try {
        return (await hook(peer)) === true ? null : 'denied by hook';
      } catch {
        return 'hook failed';
      }
    })();
    try {
      return await Promise.race([decided, expired]);
    } finally {
      clearTimeout(timer);
    }
  }
}
