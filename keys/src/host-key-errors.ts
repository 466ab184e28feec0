/**
 * The two refusals of a known_hosts file. Each message names the host, the fingerprints,
 * the file (and line), and the `secsess-keygen` command that resolves it; the command
 * carries `--known-hosts FILE` when the file is not the default one.
 */
import { resolve } from 'node:path';
import { defaultKnownHostsPath } from './default-paths.js';
import { TrustError, TrustErrorCode } from './errors.js';
import { formatHostPort } from './host-port.js';
import type { PublicKey } from './public-key.js';

/** The conflicting line, as `KnownHosts.check` reports it. */
export interface ConflictingEntry {
  /** Fingerprint recorded on the line, if it can be computed. */
  expected: string | undefined;
  line: number;
  /** Why the line cannot be used, for an unusable line; `undefined` for another valid key. */
  problem: string | undefined;
}

function fileOption(path: string): string {
  return resolve(path) === resolve(defaultKnownHostsPath()) ? '' : ` --known-hosts ${path}`;
}

/** `ERR_HOST_UNKNOWN`: strict mode and no line for the host. */
export function unknownHostError(path: string, host: string, port: number, key: PublicKey): TrustError {
  const shown = formatHostPort(host, port);
  const offered = key.fingerprint();
  return new TrustError(
    TrustErrorCode.HOST_UNKNOWN,
    `host key of ${shown} is unknown: the server offered ${offered} and ${path} has no entry for ${shown}; ` +
      `if that is the server's key (compare \`secsess-keygen fingerprint\` of its key file), ` +
      `trust it with \`secsess-keygen trust add ${shown} KEYFILE${fileOption(path)}\``,
    { host, port, offered, path },
  );
}

/**
 * `ERR_HOST_KEY_CHANGED`: another key, or an unusable line, recorded for the host.
 * `context` is `verify` when a server offered the key, `add` when a person asked to record it.
 */
export function changedKeyError(
  path: string,
  host: string,
  port: number,
  key: PublicKey,
  entry: ConflictingEntry,
  context: 'add' | 'verify',
): TrustError {
  const shown = formatHostPort(host, port);
  const offered = key.fingerprint();
  const where = `line ${entry.line} of ${path}`;
  const recorded =
    entry.problem === undefined
      ? `${where} records ${entry.expected ?? 'another key'}`
      : `${where} has an entry for ${shown} that secsess cannot use (${entry.problem})`;
  const fix =
    `remove ${where}, or run \`secsess-keygen trust remove ${shown}${fileOption(path)}\`, ` +
    'then trust the new key';
  const message =
    context === 'verify'
      ? `host key of ${shown} has changed: the server offered ${offered}, but ${recorded}. ` +
        'Someone may be intercepting the connection, or the server was given a new key; ' +
        `if you know the new key is right, ${fix}`
      : `not recording ${offered} for ${shown}: ${recorded}; keys are never replaced silently: ${fix}`;
  return new TrustError(TrustErrorCode.HOST_KEY_CHANGED, message, {
    host,
    port,
    offered,
    expected: entry.expected,
    path,
    line: entry.line,
  });
}

/**
 * `ERR_HOST_KEY_REVOKED`: an `@revoked` line revokes the key. `context` as
 * {@link changedKeyError}.
 */
export function revokedKeyError(
  path: string,
  host: string,
  port: number,
  key: PublicKey,
  line: number,
  context: 'add' | 'verify',
): TrustError {
  const shown = formatHostPort(host, port);
  const offered = key.fingerprint();
  const where = `line ${line} of ${path}`;
  const message =
    context === 'verify'
      ? `host key of ${shown} is revoked: the server offered ${offered}, which ${where} marks @revoked. ` +
        'Whoever answered holds a key that is no longer to be trusted; do not connect. If the server ' +
        'still uses that key, it must be given a new one'
      : `not recording ${offered} for ${shown}: ${where} marks it @revoked`;
  return new TrustError(TrustErrorCode.HOST_KEY_REVOKED, message, {
    host,
    port,
    offered,
    expected: undefined,
    path,
    line,
  });
}
