/**
 * The server's list of client keys allowed to connect, in OpenSSH `authorized_keys` syntax
 * (so existing SSH RSA keys work as they are), plus PEM public keys:
 *
 *   ssh-rsa AAAA… comment                      authorized
 *   -----BEGIN PUBLIC KEY----- … -----END …    authorized (SPKI, or BEGIN RSA PUBLIC KEY)
 *   from="10.0.0.0/8",no-pty ssh-rsa AAAA…     skipped: secsess cannot enforce options
 *   ssh-ed25519 AAAA…                          skipped: not RSA
 *
 * Fail safe: a line is authorized only if every part of it is understood; anything else is
 * listed in `skipped` with its line number and reason, and never stops the other lines.
 */
import { resolve } from 'node:path';
import { defaultAuthorizedKeysPath } from './default-paths.js';
import { KeyError } from './errors.js';
import { checkLockOptions, withFileLock } from './file-lock.js';
import type { FileLockOptions } from './file-lock.js';
import { looksLikeSshKeyType, parseSshKeyField } from './key-line.js';
import type { SshKeyField } from './key-line.js';
import { checkCommentOption, checkOptionsObject } from './options.js';
import { PublicKey } from './public-key.js';
import { appendStoreLine, ensureStoreDirectory, readStoreFile, rewriteStoreFile } from './store-file.js';
import type { StoreContents } from './store-file.js';

/** An authorized key. */
export interface AuthorizedKeyEntry {
  key: PublicKey;
  /** `SHA256:…` of `key`, the lookup key. */
  fingerprint: string;
  /** Comment after an ssh-rsa key; `''` for none and for PEM blocks. */
  comment: string;
  /** 1-based line of the key (of the BEGIN line for PEM). The first line wins for a key listed twice. */
  line: number;
}

/** A line (or PEM block) that authorizes nothing, and why. */
export interface SkippedAuthorizedKey {
  line: number;
  reason: string;
  /** `SHA256:…` of the key on the line, when its key data could be decoded. */
  fingerprint?: string | undefined;
}

/** Options of {@link AuthorizedKeys.load} and {@link AuthorizedKeys.add}. */
export interface AuthorizedKeysOptions {
  /**
   * Skip sshd's StrictModes checks: accept a file (or a directory above it) that group or
   * others may write or another user owns. Default `false` (`ERR_KEY_PERMISSIONS`,
   * `ERR_KEY_FILE_OWNER`). A symbolic link is refused either way (`ERR_KEY_FILE_SYMLINK`).
   */
  allowInsecurePermissions?: boolean | undefined;
  /** Timing of the cross-process lock {@link AuthorizedKeys.add} takes. Default: 5 s timeout, stale after 10 s. */
  lock?: FileLockOptions | undefined;
}

/** Result of {@link AuthorizedKeys.reload}: how many keys appeared and disappeared. */
export interface AuthorizedKeysReloadResult {
  added: number;
  removed: number;
}

/**
 * A re-read file not yet in force ({@link AuthorizedKeys.prepareReload}): `added` and
 * `removed` against the set in force when it was read; `apply()` puts it in force.
 */
export interface PreparedAuthorizedKeysReload extends AuthorizedKeysReloadResult {
  apply(): void;
}

/** Result of {@link AuthorizedKeys.add}. */
export interface AuthorizeResult {
  /** `false` when the key was already authorized (nothing written). */
  added: boolean;
  /** The line that authorizes the key. */
  line: number;
}

/** Lines `first`..`last` (1-based, inclusive) hold a key with this fingerprint. */
interface KeySpan {
  fingerprint: string;
  first: number;
  last: number;
}

interface Parsed {
  keys: Map<string, AuthorizedKeyEntry>;
  skipped: SkippedAuthorizedKey[];
  /** Every line or PEM block whose key has a known fingerprint, authorized or skipped. */
  spans: KeySpan[];
}

/** A fingerprint as `secsess-keygen fingerprint` and `ssh-keygen -l -E sha256` print it. */
const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/;

const NOT_A_KEY_LINE = 'not a public key line (expected "ssh-rsa <base64> [comment]" or a PEM public key)';

/** A PEM line that can only continue a block: base64 or an RFC 1421 header. */
const PEM_BODY_LINE = /^(?:[A-Za-z0-9+/]+={0,2}|[A-Za-z-]+:.*)$/;

function checkPath(path: unknown): string {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  return path;
}

function checkPublicKey(key: unknown): PublicKey {
  if (!(key instanceof PublicKey)) throw new TypeError('key must be a PublicKey');
  return key;
}

/**
 * Splits leading OpenSSH options (`name`, `name="value"`, comma-separated, quotes may hold
 * spaces and `\"`) from the rest of the line. Returns `undefined` on an unterminated quote.
 */
function splitOptions(line: string): { names: string[]; rest: string } | undefined {
  let quoted = false;
  let end = 0;
  for (; end < line.length; end++) {
    const char = line[end];
    if (quoted && char === '\\' && line[end + 1] === '"') end++;
    else if (char === '"') quoted = !quoted;
    else if (!quoted && (char === ' ' || char === '\t')) break;
  }
  if (quoted) return undefined;
  const names = line
    .slice(0, end)
    .replace(/"(?:\\"|[^"])*"/g, '')
    .split(',')
    .map((option) => option.split('=', 1)[0] ?? '')
    .filter((name) => name !== '');
  return { names, rest: line.slice(end).trim() };
}

function fingerprintOf(field: SshKeyField): string | undefined {
  return field.kind === 'rsa' ? field.key.fingerprint() : field.fingerprint;
}

/** Parses the whole text. Never throws for bad content. */
function parseAuthorizedKeys(text: string): Parsed {
  const keys = new Map<string, AuthorizedKeyEntry>();
  const skipped: SkippedAuthorizedKey[] = [];
  const spans: KeySpan[] = [];
  const authorize = (key: PublicKey, comment: string, line: number, last = line): void => {
    const fingerprint = key.fingerprint();
    spans.push({ fingerprint, first: line, last });
    if (!keys.has(fingerprint)) keys.set(fingerprint, { key, fingerprint, comment, line });
  };
  const skip = (entry: SkippedAuthorizedKey): void => {
    skipped.push(entry);
    if (entry.fingerprint !== undefined) {
      spans.push({ fingerprint: entry.fingerprint, first: entry.line, last: entry.line });
    }
  };
  const lines = text.split('\n').map((line) => line.trim());
  for (let index = 0; index < lines.length; index++) {
    const line = index + 1;
    const content = lines[index] ?? '';
    if (content === '' || content.startsWith('#')) continue;
    const begin = /^-----BEGIN ([A-Z0-9 ]+)-----$/.exec(content);
    if (begin !== null) {
      const label = begin[1] ?? '';
      const endMarker = `-----END ${label}-----`;
      let end = index + 1;
      while (end < lines.length && lines[end] !== endMarker && PEM_BODY_LINE.test(lines[end] ?? '')) end++;
      if (lines[end] !== endMarker) {
        skip({ line, reason: `the "BEGIN ${label}" block has no END line` });
        index = end - 1;
        continue;
      }
      const block = lines.slice(index, end + 1).join('\n');
      index = end;
      if (label !== 'PUBLIC KEY' && label !== 'RSA PUBLIC KEY') {
        const reason = label.includes('PRIVATE')
          ? `a ${label} block: a private key never belongs in authorized_keys (remove it, and treat the key as exposed)`
          : `a "${label}" PEM block is not a public key`;
        skip({ line, reason });
        continue;
      }
      try {
        authorize(PublicKey.fromString(block), '', line, end + 1);
      } catch (error) {
        if (!(error instanceof KeyError)) throw error;
        skip({ line, reason: error.message.replace(/^key data /, 'the key ') });
      }
      continue;
    }
    const firstWord = content.split(/[ \t]/, 1)[0] ?? '';
    if (looksLikeSshKeyType(firstWord)) {
      const field = parseSshKeyField(content);
      if (field.kind === 'rsa') authorize(field.key, field.comment, line);
      else if (field.kind === 'other') {
        skip({
          line,
          reason: `${field.type} key: secsess accepts only RSA keys`,
          fingerprint: field.fingerprint,
        });
      } else skip({ line, reason: field.reason, fingerprint: field.fingerprint });
      continue;
    }
    const options = splitOptions(content);
    const keyType = options?.rest.split(/[ \t]/, 1)[0] ?? '';
    if (options === undefined || !looksLikeSshKeyType(keyType)) {
      skip({ line, reason: NOT_A_KEY_LINE });
      continue;
    }
    skip({
      line,
      reason: `options (${options.names.join(', ')}) are not supported by secsess; the key was not authorized`,
      fingerprint: fingerprintOf(parseSshKeyField(options.rest)),
    });
  }
  return { keys, skipped, spans };
}

/**
 * A set of authorized client keys, looked up by fingerprint. Immutable between
 * {@link reload}s, which swap the whole set at once.
 */
export class AuthorizedKeys {
  /** The file, or `undefined` for {@link AuthorizedKeys.fromString}. */
  readonly path: string | undefined;
  readonly #options: AuthorizedKeysOptions;
  #keys: Map<string, AuthorizedKeyEntry>;
  #skipped: SkippedAuthorizedKey[];

  private constructor(path: string | undefined, parsed: Parsed, options: AuthorizedKeysOptions) {
    this.path = path;
    this.#options = options;
    this.#keys = parsed.keys;
    this.#skipped = parsed.skipped;
  }

  /**
   * Reads an authorized_keys file.
   *
   * @param path - default {@link defaultAuthorizedKeysPath} (`$SECSESS_HOME/authorized_keys` or `~/.secsess/authorized_keys`)
   * @throws KeyError `ERR_KEY_FILE_NOT_FOUND`, `ERR_KEY_FILE_UNREADABLE`, `ERR_KEY_PERMISSIONS`
   *   (the file or a directory above it writable by group or others), `ERR_KEY_FILE_OWNER`
   *   (owned by another user), `ERR_KEY_FILE_SYMLINK` (a link), `ERR_KEY_FORMAT` (over 16 MiB)
   */
  static async load(
    path: string = defaultAuthorizedKeysPath(),
    options: AuthorizedKeysOptions = {},
  ): Promise<AuthorizedKeys> {
    checkPath(path);
    checkOptionsObject(options);
    checkLockOptions(options.lock);
    const text = await readAuthorizedKeysFile(path, options, false);
    return new AuthorizedKeys(path, parseAuthorizedKeys(text ?? ''), { ...options });
  }

  /** Parses authorized_keys text held in memory. It has no file: {@link reload} is not available. */
  static fromString(text: string): AuthorizedKeys {
    if (typeof text !== 'string') throw new TypeError('text must be a string');
    return new AuthorizedKeys(undefined, parseAuthorizedKeys(text.replace(/^\uFEFF/, '')), {});
  }

  /**
   * Authorizes `key` in the file at `path`: under the file's lock, re-reads it and appends
   * `ssh-rsa AAAA… comment`, creating the file (0600) and its directory (0700) if needed.
   * A key that is already authorized is not added twice.
   *
   * @throws LockError `ERR_LOCK_TIMEOUT`; KeyError file errors as {@link load} and `ERR_KEY_FILE_UNWRITABLE`
   */
  static async add(
    path: string,
    key: PublicKey,
    comment?: string,
    options: AuthorizedKeysOptions = {},
  ): Promise<AuthorizeResult> {
    checkPath(path);
    checkPublicKey(key);
    checkCommentOption(comment);
    checkOptionsObject(options);
    checkLockOptions(options.lock);
    await ensureStoreDirectory('authorized_keys', path, options);
    return withFileLock(
      path,
      async () => {
        const text = await readAuthorizedKeysFile(path, options, true);
        const existing = parseAuthorizedKeys(text ?? '').keys.get(key.fingerprint());
        if (existing !== undefined) return { added: false, line: existing.line };
        await appendStoreLine('authorized_keys', path, key.toOpenSSH(comment?.trim()), text, options);
        const lines = (text ?? '').split('\n');
        if (lines[lines.length - 1] === '') lines.pop();
        return { added: true, line: lines.length + 1 };
      },
      options.lock,
      options.allowInsecurePermissions !== true,
    );
  }

  /**
   * Removes every line (or PEM block) of the file at `path` that holds `key` — given as a
   * {@link PublicKey} or as its `SHA256:…` fingerprint — authorized or skipped (a line with
   * options), rewriting the file atomically under its lock with the same mode. Other lines,
   * comments and blank lines are kept byte for byte.
   *
   * @returns the number of lines and PEM blocks removed (0 if none, or if the file does not exist)
   * @throws TypeError for a fingerprint that is not `SHA256:` and 43 base64 characters
   * @throws LockError `ERR_LOCK_TIMEOUT`; KeyError file errors as {@link load} and `ERR_KEY_FILE_UNWRITABLE`
   */
  static async remove(
    path: string,
    key: PublicKey | string,
    options: AuthorizedKeysOptions = {},
  ): Promise<number> {
    checkPath(path);
    const fingerprint = typeof key === 'string' ? key.replace(/=+$/, '') : checkPublicKey(key).fingerprint();
    if (!FINGERPRINT.test(fingerprint)) {
      throw new TypeError('key must be a PublicKey or a SHA256:… fingerprint (43 base64 characters)');
    }
    checkOptionsObject(options);
    checkLockOptions(options.lock);
    const read = (): Promise<StoreContents | undefined> =>
      readStoreFile('authorized_keys', path, {
        missingOk: true,
        allowInsecurePermissions: options.allowInsecurePermissions,
      });
    if ((await read()) === undefined) return 0;
    return withFileLock(
      path,
      async () => {
        const contents = await read();
        if (contents === undefined) return 0;
        const spans = parseAuthorizedKeys(contents.text).spans.filter(
          (span) => span.fingerprint === fingerprint,
        );
        if (spans.length === 0) return 0;
        const drop = (line: number): boolean => spans.some((span) => line >= span.first && line <= span.last);
        let kept = contents.text
          .split('\n')
          .filter((_, index) => !drop(index + 1))
          .join('\n');
        if (kept !== '' && !kept.endsWith('\n')) kept += '\n';
        await rewriteStoreFile(path, kept, contents.mode);
        return spans.length;
      },
      options.lock,
      options.allowInsecurePermissions !== true,
    );
  }

  /** Number of authorized keys. */
  get size(): number {
    return this.#keys.size;
  }

  /** Lines and PEM blocks that authorize nothing, in file order. */
  get skipped(): SkippedAuthorizedKey[] {
    return [...this.#skipped];
  }

  /** Whether `key` is authorized. */
  has(key: PublicKey): boolean {
    return this.#keys.has(checkPublicKey(key).fingerprint());
  }

  /** The entry that authorizes `key`, or `undefined`. */
  find(key: PublicKey): AuthorizedKeyEntry | undefined {
    return this.#keys.get(checkPublicKey(key).fingerprint());
  }

  /** Every authorized key, in file order. */
  entries(): AuthorizedKeyEntry[] {
    return [...this.#keys.values()];
  }

  /**
   * Re-reads the file. On success the new set replaces the old one at once; on any
   * failure (file gone, unreadable, unsafe mode) the current set stays and the error is
   * thrown, so a server keeps serving the keys it had.
   *
   * @throws KeyError as {@link load}; TypeError for an instance made by {@link fromString}
   */
  async reload(): Promise<AuthorizedKeysReloadResult> {
    const { added, removed, apply } = await this.prepareReload();
    apply();
    return { added, removed };
  }

  /**
   * {@link reload} in two steps, for a caller that puts several files in force together (a
   * server's key files and this one): re-reads and parses the file, changing nothing; the
   * result's `apply()` then puts the new set in force. Nothing changes unless `apply()` is
   * called.
   *
   * @throws as {@link reload}
   */
  async prepareReload(): Promise<PreparedAuthorizedKeysReload> {
    if (this.path === undefined) throw new TypeError('reload() needs an AuthorizedKeys made by load()');
    const parsed = parseAuthorizedKeys((await readAuthorizedKeysFile(this.path, this.#options, false)) ?? '');
    let added = 0;
    for (const fingerprint of parsed.keys.keys()) if (!this.#keys.has(fingerprint)) added++;
    let removed = 0;
    for (const fingerprint of this.#keys.keys()) if (!parsed.keys.has(fingerprint)) removed++;
    return {
      added,
      removed,
      apply: () => {
        this.#keys = parsed.keys;
        this.#skipped = parsed.skipped;
      },
    };
  }
}

async function readAuthorizedKeysFile(
  path: string,
  options: AuthorizedKeysOptions,
  missingOk: boolean,
): Promise<string | undefined> {
  const contents = await readStoreFile('authorized_keys', path, {
    missingOk,
    allowInsecurePermissions: options.allowInsecurePermissions,
    missingHint: `; authorize a key with \`secsess-keygen authorize add KEYFILE${fileOption(path)}\``,
  });
  return contents?.text;
}

/** ` --file FILE` when `path` is not the default file, for the commands we suggest. */
function fileOption(path: string): string {
  return resolve(path) === resolve(defaultAuthorizedKeysPath()) ? '' : ` --file ${path}`;
}
