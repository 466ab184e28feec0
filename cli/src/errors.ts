import { KeyErrorCode, SecsessError } from '@secsess/keys';

/** Stable codes of errors raised by the CLI itself (key errors keep their own codes). */
export const CliErrorCode = {
  /** Bad arguments: unknown option, missing value, conflicting options. Exit status 2. */
  USAGE: 'ERR_USAGE',
  /** A `--passphrase-file` / `--new-passphrase-file` is missing, unreadable or empty. */
  PASSPHRASE_FILE: 'ERR_PASSPHRASE_FILE',
  /** A file or directory the CLI writes could not be created. */
  OUTPUT: 'ERR_OUTPUT',
  /** `probe --fingerprint`: the server offered a key with another fingerprint. Nothing is recorded. */
  FINGERPRINT_MISMATCH: 'ERR_FINGERPRINT_MISMATCH',
  /** `secsess serve --forward`: the backend is not a loopback address; pass --unsafe-target to allow it. */
  UNSAFE_TARGET: 'ERR_UNSAFE_TARGET',
  /** `secsess connect --listen`: the address is not loopback; pass --unsafe-listen to allow it. */
  UNSAFE_LISTEN: 'ERR_UNSAFE_LISTEN',
  /**
   * `secsess serve --forward` / `--listen`, `connect --listen`: the host name does not resolve
   * (no such name, or no DNS answer), so whether it is loopback cannot be told; check the name.
   */
  RESOLVE: 'ERR_RESOLVE',
  /**
   * `secsess serve`: a listening address that is not loopback and no --authorized-keys
   * (anyone who reaches the port reaches the service); pass --allow-any-client to allow it.
   */
  UNSAFE_ANY_CLIENT: 'ERR_UNSAFE_ANY_CLIENT',
  /**
   * `secsess serve --metrics`: the address is not loopback (the metrics tell anyone who reaches
   * them how busy the server is); pass --metrics-public to allow it.
   */
  UNSAFE_METRICS: 'ERR_UNSAFE_METRICS',
  /** `secsess serve --metrics`: the address could not be listened on (in use, not this host's). */
  METRICS: 'ERR_METRICS',
  /** `--listen systemd`: no socket was passed (LISTEN_FDS / LISTEN_PID do not name this process). */
  LISTEN_FDS: 'ERR_LISTEN_FDS',
  /**
   * `secsess serve --workers`: a worker process exited before it listened (its own error is
   * logged above), workers died more than 5 times in a minute, or one did not stop cleanly.
   */
  WORKERS: 'ERR_WORKERS',
} as const;

/** One of the {@link CliErrorCode} values. */
export type CliErrorCode = (typeof CliErrorCode)[keyof typeof CliErrorCode];

/** An error of the CLI itself. `ERR_USAGE` exits with status 2, every other code with 1. */
export class CliError extends SecsessError {
  declare readonly code: CliErrorCode;

  constructor(code: CliErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** Exit status for `error`: 2 for usage errors, 1 for everything else. */
export function exitStatusOf(error: unknown): 1 | 2 {
  return error instanceof CliError && error.code === CliErrorCode.USAGE ? 2 : 1;
}

/**
 * The one-line message for `error`, with the advice phrased for the command line where the
 * library's wording speaks of options objects.
 */
export function cliMessage(error: unknown): string {
  if (error instanceof SecsessError) {
    const path = 'path' in error && typeof error.path === 'string' ? error.path : undefined;
    if (error.code === KeyErrorCode.FILE_EXISTS && path !== undefined) {
      return `${path} already exists; pass --force to overwrite it`;
    }
    if (error.code === KeyErrorCode.ENCRYPTED) {
      return `${error.message}; pass the passphrase with --passphrase-file FILE`;
    }
    if (error.code === KeyErrorCode.PASSPHRASE) {
      return `${error.message}; check the file given to --passphrase-file`;
    }
    return error.message;
  }
  if (error instanceof Error) return `unexpected error: ${error.message}`;
  return `unexpected error: ${String(error)}`;
}

/** The stable code of `error`, or `undefined` for unexpected errors. */
export function codeOf(error: unknown): string | undefined {
  return error instanceof SecsessError ? error.code : undefined;
}
