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
  /** A passphrase-protected OpenSSH private key: convert it with `ssh-keygen -p -m PKCS8 -f FILE`. */
  OPENSSH_ENCRYPTED: 'ERR_KEY_OPENSSH_ENCRYPTED',
  /** The key is not an RSA key (EC, Ed25519, DSA, RSA-PSS-restricted…). */
  NOT_RSA: 'ERR_KEY_NOT_RSA',
  /** The RSA modulus is shorter than 2048 bits. */
  TOO_SMALL: 'ERR_KEY_TOO_SMALL',
  /** A private key file is readable by group or others: `chmod 600 FILE`. */
  PERMISSIONS: 'ERR_KEY_PERMISSIONS',
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
