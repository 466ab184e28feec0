/**
 * The root of every error secsess raises. Each error carries a stable string `code`
 * (documented in README.md "Error codes"); messages are for people and may change.
 */
export class SecsessError extends Error {
  /** Stable, documented code, e.g. `ERR_KEY_PASSPHRASE`. */
  readonly code: string;

  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/**
 * Stable codes of {@link KeyError}. Each message names the file (when there is one) and
 * says what to do; none ever contains key material or a passphrase.
 */
export const KeyErrorCode = {
  /** The key file does not exist. Check the path. */
  FILE_NOT_FOUND: 'ERR_KEY_FILE_NOT_FOUND',
  /** The key file exists but could not be read (permissions, a directory, an I/O error). */
  FILE_UNREADABLE: 'ERR_KEY_FILE_UNREADABLE',
  /** A key file could not be written (missing directory, permissions, disk full). */
  FILE_UNWRITABLE: 'ERR_KEY_FILE_UNWRITABLE',
  /** Saving would overwrite an existing file and `force` was not given. */
  FILE_EXISTS: 'ERR_KEY_FILE_EXISTS',
  /** Unknown, corrupt or truncated key data, or a public key where a private one was expected (or the reverse). */
  FORMAT: 'ERR_KEY_FORMAT',
  /** The private key is encrypted and no passphrase was given. */
  ENCRYPTED: 'ERR_KEY_ENCRYPTED',
  /** The passphrase does not decrypt the private key (or the encrypted file is corrupt). */
  PASSPHRASE: 'ERR_KEY_PASSPHRASE',
  /**
   * A passphrase-protected OpenSSH private key secsess cannot decrypt (a cipher other than
   * AES-CTR/CBC/GCM, a KDF other than bcrypt, more than 1024 rounds): re-encrypt it with
   * `ssh-keygen -p -Z aes256-ctr -a 16 -f FILE` or convert it with `ssh-keygen -p -m PKCS8 -f FILE`.
   */
  OPENSSH_ENCRYPTED: 'ERR_KEY_OPENSSH_ENCRYPTED',
  /** The key is not an RSA key (EC, Ed25519, DSA, RSA-PSS-restricted…). */
  NOT_RSA: 'ERR_KEY_NOT_RSA',
  /** The RSA modulus is shorter than 2048 bits. */
  TOO_SMALL: 'ERR_KEY_TOO_SMALL',
  /**
   * A private key file is readable by group or others (`chmod 600 FILE`), or a trust-store
   * file (known_hosts, authorized_keys) or a directory above it is writable by group or
   * others (`chmod go-w PATH`).
   */
  PERMISSIONS: 'ERR_KEY_PERMISSIONS',
  /**
   * A trust-store file, its lock file, or a directory above it belongs to another user
   * (neither you nor root), who could change which keys secsess trusts.
   */
  FILE_OWNER: 'ERR_KEY_FILE_OWNER',
  /**
   * A trust-store file or its lock file is a symbolic link (or not a regular file). secsess
   * never reads or writes a store through a link: name the real file instead.
   */
  FILE_SYMLINK: 'ERR_KEY_FILE_SYMLINK',
} as const;

/** One of the {@link KeyErrorCode} values, e.g. `'ERR_KEY_PASSPHRASE'`. */
export type KeyErrorCode = (typeof KeyErrorCode)[keyof typeof KeyErrorCode];

/**
 * Everything that goes wrong reading, parsing, checking or writing a key.
 * `code` is one of {@link KeyErrorCode}; `path` is the file involved, if any.
 */
export class KeyError extends SecsessError {
  declare readonly code: KeyErrorCode;
  /** The file this error is about, or `undefined` for in-memory data. */
  readonly path: string | undefined;

  constructor(code: KeyErrorCode, message: string, options?: { cause?: unknown; path?: string | undefined }) {
    super(code, message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.path = options?.path;
  }
}

/** `"key file /x/y"` or `"key data"`: how messages name the source of the bytes. */
export function describeSource(path: string | undefined): string {
  return path === undefined ? 'key data' : `key file ${path}`;
}

/**
 * Stable codes of {@link TrustError}: the host-key decisions of a known_hosts file
 * (README.md "Error codes" says what to do about each).
 */
export const TrustErrorCode = {
  /** Strict mode: the known_hosts file has no entry for the host, so its key is not trusted. */
  HOST_UNKNOWN: 'ERR_HOST_UNKNOWN',
  /**
   * The known_hosts file records another key for the host (or an entry for it that cannot
   * be read). Never resolved silently: a person must remove the old entry.
   */
  HOST_KEY_CHANGED: 'ERR_HOST_KEY_CHANGED',
  /**
   * The server offered a key that an `@revoked` line of the known_hosts file revokes. Refused
   * whatever other lines say, for every host, in every mode.
   */
  HOST_KEY_REVOKED: 'ERR_HOST_KEY_REVOKED',
} as const;

/** One of the {@link TrustErrorCode} values. */
export type TrustErrorCode = (typeof TrustErrorCode)[keyof typeof TrustErrorCode];

/** What a {@link TrustError} is about. */
export interface TrustErrorDetails {
  /** The host, normalised as the known_hosts file stores it (lower case, canonical IPv6). */
  host: string;
  /** The TCP port. */
  port: number;
  /** Fingerprint (`SHA256:…`) of the key the server offered (or that was being recorded). */
  offered: string;
  /** Fingerprint of the key the file records; `undefined` when unknown or the entry is unreadable. */
  expected?: string | undefined;
  /** The known_hosts file. */
  path: string;
  /** 1-based line of the conflicting entry; `undefined` for `ERR_HOST_UNKNOWN`. */
  line?: number | undefined;
}

/**
 * A host key that is not trusted: unknown in strict mode, or different from the recorded
 * one. The message names the host, both fingerprints, the file and line, and the command
 * that fixes it; the fields carry the same facts for programs.
 */
export class TrustError extends SecsessError {
  declare readonly code: TrustErrorCode;
  readonly host: string;
  readonly port: number;
  readonly offered: string;
  readonly expected: string | undefined;
  /** The known_hosts file (named `path` like {@link KeyError.path}). */
  readonly path: string;
  readonly line: number | undefined;

  constructor(code: TrustErrorCode, message: string, details: TrustErrorDetails) {
    super(code, message);
    this.host = details.host;
    this.port = details.port;
    this.offered = details.offered;
    this.expected = details.expected;
    this.path = details.path;
    this.line = details.line;
  }
}

/** Stable codes of {@link LockError}. */
export const LockErrorCode = {
  /** Another process held the file's lock for longer than the lock timeout. */
  TIMEOUT: 'ERR_LOCK_TIMEOUT',
} as const;

/** One of the {@link LockErrorCode} values. */
export type LockErrorCode = (typeof LockErrorCode)[keyof typeof LockErrorCode];

/**
 * The cross-process lock of a known_hosts or authorized_keys file could not be taken in
 * time. `path` is the protected file, `lockPath` the lock file (`<path>.lock`).
 */
export class LockError extends SecsessError {
  declare readonly code: LockErrorCode;
  readonly path: string;
  readonly lockPath: string;

  constructor(code: LockErrorCode, message: string, options: { path: string; lockPath: string }) {
    super(code, message);
    this.path = options.path;
    this.lockPath = options.lockPath;
  }
}
