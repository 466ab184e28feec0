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
 */
import { KnownHosts, defaultKnownHostsPath } from '@secsess/keys';
import type { PublicKey } from '@secsess/keys';
import type { Endpoint } from './endpoint.js';
import { probeServerKey } from './probe.js';
import { ErrorCode, SessionError } from './protocol/index.js';

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
  /** The key to name in the hello, if known_hosts has one; null to ask the server first. */
  readonly key: PublicKey | null;
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

/** Reads known_hosts for `target` and returns the decision procedure for this connection. */
export async function hostTrust(target: Endpoint, mode: TrustMode, knownHosts?: string): Promise<HostTrust> {
  const path = knownHosts ?? defaultKnownHostsPath();
  const store = await KnownHosts.open(path, { create: mode === 'tofu' });
  const known = store.lookup(target.host, target.port)[0];
  const key = known && store.check(target.host, target.port, known.key).status === 'match' ? known.key : null;
  // tofu: a key the server offers is recorded only after the handshake proved the server
  // holds it (confirm()), so an impostor answering the key request cannot poison the file.
  let pending: PublicKey | null = null;
  return {
    key,
    decide: async (offered) => {
      const check = store.check(target.host, target.port, offered);
      if (check.status === 'match') return;
      if (check.status === 'unknown' && mode === 'tofu') {
        pending = offered;
        return;
      }
      // Throws ERR_HOST_UNKNOWN (strict) or ERR_HOST_KEY_CHANGED, naming file and line.
      await store.verify(target.host, target.port, offered, 'strict');
    },
    confirm: async () => {
      if (!pending) return;
      const learned = pending;
      pending = null;
      // Re-checked under the file lock: another client may have recorded a different key.
      await store.verify(target.host, target.port, learned, 'tofu');
    },
    explain: async (error, signal) => {
      if (!key || !(error instanceof SessionError) || error.code !== ErrorCode.SERVER_KEY_MISMATCH)
        return error;
      let current: PublicKey;
      try {
        current = await probeServerKey(target, signal ? { signal } : {});
      } catch {
        return error;
      }
      try {
        // Fails with ERR_HOST_KEY_CHANGED (both fingerprints, file, line) unless recorded.
        await store.verify(target.host, target.port, current, 'strict');
      } catch (changed) {
        return changed;
      }
      return error;
    },
  };
}
