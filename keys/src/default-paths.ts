/**
 * Where secsess keeps its trust stores by default. The SDK and `secsess-keygen` both call
 * these, so a client and the CLI always agree on the file.
 */
import { homedir } from 'node:os';
import { join } from 'node:path';

/** Environment variable that moves every default file (tests point it at a temporary directory). */
export const SECSESS_HOME_ENV = 'SECSESS_HOME';

/**
 * The directory of secsess's default files: `$SECSESS_HOME` when set and not empty,
 * otherwise `~/.secsess`. Read on every call, so a change of the variable takes effect.
 */
export function secsessHome(): string {
  const fromEnv = process.env[SECSESS_HOME_ENV];
  return fromEnv !== undefined && fromEnv !== '' ? fromEnv : join(homedir(), '.secsess');
}

/** The client's default known_hosts file: `$SECSESS_HOME/known_hosts` or `~/.secsess/known_hosts`. */
export function defaultKnownHostsPath(): string {
  return join(secsessHome(), 'known_hosts');
}

/**
 * The server's default authorized_keys file: `$SECSESS_HOME/authorized_keys` or
 * `~/.secsess/authorized_keys`.
 */
export function defaultAuthorizedKeysPath(): string {
  return join(secsessHome(), 'authorized_keys');
}
