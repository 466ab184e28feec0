/**
 * How a client decides to trust a server's key, besides a pinned key: a known_hosts file
 * (`@secsess/keys` KnownHosts), in `strict` mode (unknown hosts are refused) or `tofu` mode
 * (the first key seen for host:port is recorded; later contacts must match). A changed key
 * always fails with ERR_HOST_KEY_CHANGED naming both fingerprints and the line to edit; it
 * is never updated silently.
 *
 * With an entry for the host, the client names that key in its hello (one round trip). If
 * the server no longer holds it, the client fetches the server's current key in a separate
 * probe so the error can name it. Without an entry, the client asks the server for its key
 * first (one more round trip) and the file decides.
 *
 * A host with several trusted keys (a server key being rotated) connects while the server
 * holds any of them. The client names the one listed last, the newest by the rotation
 * procedure (README "Rotating the server key without downtime"), which a rotating server
 * holds: still one round trip. Only if the server refuses that key (ERR_SERVER_KEY_MISMATCH)
 * does the client connect once more, ask the server for its key (KeyRequest) and accept it
 * if, and only if, it is one of the trusted keys. That refusal is unauthenticated, so an
 * on-path attacker can force the second connection; it gains nothing by it: the
 * KeyResponse is part of the transcript the server's proof covers, the answer must be a
 * trusted key the server then proves it holds, and a revoked key is refused
 * (ERR_HOST_KEY_REVOKED) whatever other lines say. No key outside the set is ever accepted
 * and nothing is learned (tofu records only for a host without entries).
 */
import { KnownHosts, defaultKnownHostsPath } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import type { Endpoint } from '../common/endpoint.js';
import { requestServerKey } from './probe.js';
import { ErrorCode, SessionError, resolveSuite } from '../protocol/index.js';
import type { AlgorithmSet } from '../protocol/index.js';
import { checkPrivateKeys, checkPublicKey } from '../common/key-input.js';
import type { PrivateKeyInput, PublicKeyInput } from '../common/key-input.js';
import { debug, describeError } from '../common/debug.js';
import { formatEndpoint } from '../common/endpoint.js';
import type { TransportKind } from '../observe/channels.js';
import { publishTrust, refusalReason } from '../observe/publish.js';

/** `strict`: only keys already in known_hosts; `tofu`: record the first key seen. */
export type TrustMode = 'strict' | 'tofu';

/** The trust options of {@link ClientOptions}. */
export interface TrustOptions {
  /**
   * Trust the server through a known_hosts file instead of a pinned key. Use it with
   * `Client.create(null, …)`. Default: none (a pinned key is required).
   */
  readonly trust?: TrustMode;
  /** The known_hosts file. Default `$SECSESS_HOME/known_hosts` or `~/.secsess/known_hosts`. */
  readonly knownHosts?: string;
}

/** The trust decision for one connection attempt. */
export interface HostTrust {
  /** The known_hosts file consulted. */
  readonly path: string;
  /** The key to name in the hello, if known_hosts has one; null to ask the server first. */
  readonly key: PublicKey | null;
  /**
   * Whether known_hosts trusts other keys for the host besides `key`: if the server refuses
   * `key`, ask it for its key (KeyRequest) and check that against the file.
   */
  readonly alternatives: boolean;
  /** Decides on a key the server sent: resolves to trust it, rejects with a TrustError. */
  decide(key: PublicKey): Promise<void>;
  /** After the handshake succeeded: records a key learned on first use (tofu). */
  confirm(): Promise<void>;
  /**
   * Turns a handshake failure into a better error when it means the host key changed;
   * returns the error unchanged otherwise.
   */
  explain(error: unknown, signal?: AbortSignal): Promise<unknown>;
}

export function checkTrustOptions(options: TrustOptions): void {
  if (options.trust !== undefined && options.trust !== 'strict' && options.trust !== 'tofu') {
    throw new TypeError("options.trust must be 'strict' or 'tofu'");
  }
  if (options.knownHosts !== undefined && (typeof options.knownHosts !== 'string' || !options.knownHosts)) {
    throw new TypeError('options.knownHosts must be a non-empty path');
  }
  if (options.knownHosts !== undefined && options.trust === undefined) {
    throw new TypeError("options.knownHosts needs options.trust ('strict' or 'tofu')");
  }
}

/**
 * What `Client.create` and `DatagramClient.create` check before anything is loaded: a
 * pinned key or a trust mode (one of them, not both), a usable client key, a valid set.
 * Throws TypeError naming the problem.
 */
export function checkClientArguments(
  publicKey: PublicKeyInput | null,
  set: AlgorithmSet,
  options: (TrustOptions & { readonly clientKey?: PrivateKeyInput }) | undefined,
): void {
  checkTrustOptions(options ?? {});
  if (publicKey === null || publicKey === undefined) {
    if (!options?.trust) {
      throw new TypeError("publicKey is required unless options.trust is 'strict' or 'tofu' (known_hosts)");
    }
  } else {
    checkPublicKey(publicKey);
    if (options?.trust) throw new TypeError('give either a pinned publicKey or options.trust, not both');
  }
  if (options?.clientKey !== undefined) checkPrivateKeys(options.clientKey, 'options.clientKey');
  resolveSuite(set);
}

/**
 * Reads known_hosts for `target` and returns the decision procedure for this connection.
 * Its decisions are published on `secsess:trust` (`transport`: the session's kind): a
 * refusal when it is made, an acceptance (`known`, or `new-host` once learned) by `confirm()`.
 */
export async function hostTrust(
  target: Endpoint,
  mode: TrustMode,
  knownHosts?: string,
  transport: TransportKind = 'stream',
): Promise<HostTrust> {
  const path = knownHosts ?? defaultKnownHostsPath();
  const store = await KnownHosts.open(path, { create: mode === 'tofu' });
  // lookup() leaves revoked keys out; check() refuses them all if a line for the host is unusable.
  const trusted = new Map<string, PublicKey>();
  for (const entry of store.lookup(target.host, target.port)) {
    if (store.check(target.host, target.port, entry.key).status === 'match') {
      trusted.delete(entry.fingerprint);
      trusted.set(entry.fingerprint, entry.key);
    }
  }
  const keys = [...trusted.values()];
  // The last listed: `trust add --alongside` appends the new key after the old one.
  const key = keys[keys.length - 1] ?? null;
  // tofu: a key the server offers is recorded only after the handshake proved the server
  // holds it (confirm()), so an impostor answering the key request cannot poison the file.
  let pending: PublicKey | null = null;
  // A key the server sent that the file lists (else the one named in the hello was used).
  let accepted: PublicKey | null = null;
  const host = formatEndpoint(target);
  const refused = (offered: PublicKey, err: unknown): void =>
    publishTrust('client', transport, host, offered, 'refused', refusalReason(err));
  return {
    path,
    key,
    alternatives: keys.length > 1,
    decide: async (offered) => {
      const check = store.check(target.host, target.port, offered);
      if (check.status === 'match') {
        debug('trust: %s key %s is known (%s)', host, offered.fingerprint(), path);
        accepted = offered;
        return;
      }
      if (check.status === 'unknown' && mode === 'tofu') {
        debug(
          'trust: %s key %s is new: tofu, recorded once the server proves it',
          host,
          offered.fingerprint(),
        );
        pending = offered;
        return;
      }
      // Throws ERR_HOST_UNKNOWN (strict), ERR_HOST_KEY_CHANGED or ERR_HOST_KEY_REVOKED,
      // naming file and line.
      try {
        await store.verify(target.host, target.port, offered, 'strict');
      } catch (err) {
        debug(
          'trust: %s key %s refused (%s mode): %s',
          host,
          offered.fingerprint(),
          mode,
          describeError(err),
        );
        refused(offered, err);
        throw err;
      }
    },
    confirm: async () => {
      if (!pending) {
        publishTrust('client', transport, host, accepted ?? key, 'trusted', 'known');
        return;
      }
      const learned = pending;
      pending = null;
      // Re-checked under the file lock: another client may have recorded a different key.
      try {
        await store.verify(target.host, target.port, learned, 'tofu');
      } catch (err) {
        refused(learned, err);
        throw err;
      }
      debug('trust: %s key %s tofu-learned into %s', host, learned.fingerprint(), path);
      publishTrust('client', transport, host, learned, 'learned', 'new-host');
    },
    explain: async (error, signal) => {
      if (!key || !(error instanceof SessionError) || error.code !== ErrorCode.SERVER_KEY_MISMATCH)
        return error;
      // The probe's answer is checked before it hangs up, so that a refusal reaches the
      // server as one (the plaintext Alert HandshakeFailed): it logs a refused key, not an attack.
      let refusal: unknown = null;
      const decide = async (current: PublicKey): Promise<void> => {
        try {
          // Fails with ERR_HOST_KEY_CHANGED (both fingerprints, file, line) or
          // ERR_HOST_KEY_REVOKED unless recorded.
          await store.verify(target.host, target.port, current, 'strict');
        } catch (changed) {
          refusal = changed;
          debug('trust: %s key %s refused: %s', host, current.fingerprint(), describeError(changed));
          refused(current, changed);
          throw changed;
        }
      };
      try {
        await requestServerKey(target, { ...(signal ? { signal } : {}), decide });
      } catch {
        return refusal ?? error;
      }
      return error;
    },
  };
}
