/**
 * The client's record of server keys, like OpenSSH's `~/.ssh/known_hosts`: one
 * `[host]:port ssh-rsa AAAA… [comment]` line per trusted server key (see
 * known-hosts-line.ts for the OpenSSH forms also read, and keys/README.md "known_hosts").
 *
 * What the lines mean (several keys per host, `@revoked`, fail-safe lines) is decided in
 * known-hosts-table.ts; this file reads, locks and writes.
 *
 * Reads take no lock: writers only ever append one line with one write, or replace the
 * file by rename, so a reader sees the file before or after a write — at worst with the
 * appended line only partly there, which never matches (a cut key does not decode) and is
 * why every answer other than "match" is confirmed on a fresh read before it is acted on.
 * Writers (add, remove, trust on first use) take the cross-process lock and re-read the
 * file under it before deciding anything.
 */
import { defaultKnownHostsPath } from './default-paths.js';
import { checkLockOptions, withFileLock } from './file-lock.js';
import type { FileLockOptions } from './file-lock.js';
import { checkPort, knownHostsField, normalizeHost } from './host-port.js';
import { changedKeyError, revokedKeyError, unknownHostError } from './host-key-errors.js';
import { KnownHostsTable } from './known-hosts-table.js';
import type { HostKeyCheck, KnownHostEntry, KnownHostsProblem } from './known-hosts-table.js';
import { checkCommentOption, checkOptionsObject } from './options.js';
import { PublicKey } from './public-key.js';
import {
  appendStoreLine,
  createStoreFile,
  ensureStoreDirectory,
  readStoreFile,
  rewriteStoreFile,
  STORE_FILE_MODE,
} from './store-file.js';
import type { StoreContents } from './store-file.js';

export type { HostKeyCheck, KnownHostEntry, KnownHostsProblem } from './known-hosts-table.js';

/** Options of {@link KnownHosts.open} and {@link verifyHostKey}. */
export interface KnownHostsOptions {
  /**
   * Create the file (mode 0600; its directory 0700) now if it is missing. Default `false`:
   * a missing file reads as empty and is created by the first {@link KnownHosts.add}.
   */
  create?: boolean | undefined;
  /** Timing of the cross-process lock writers take. Default: 5 s timeout, stale after 10 s. */
  lock?: FileLockOptions | undefined;
  /**
   * Skip sshd's StrictModes checks: accept a file (or a directory above it) that group or
   * others may write or another user owns. Default `false` (`ERR_KEY_PERMISSIONS`,
   * `ERR_KEY_FILE_OWNER`). A symbolic link is refused either way (`ERR_KEY_FILE_SYMLINK`).
   */
  allowInsecurePermissions?: boolean | undefined;
}

/**
 * How {@link KnownHosts.verify} treats a host with no entry: `strict` refuses it
 * (`ERR_HOST_UNKNOWN`), `tofu` (trust on first use) records the key and accepts it.
 * A changed key is refused in both.
 */
export type HostKeyPolicy = 'strict' | 'tofu';

/** Result of an accepted {@link KnownHosts.verify}. */
export interface VerifyHostKeyResult {
  /** `true` when the key was unknown and has just been recorded (`tofu`). */
  learned: boolean;
  /** The line that trusts the key. */
  line: number;
  /** `SHA256:…` of the key. */
  fingerprint: string;
}

/** Options of {@link KnownHosts.add}. */
export interface AddHostKeyOptions {
  /**
   * Record the key next to the other keys of the host instead of refusing
   * (`ERR_HOST_KEY_CHANGED`): for a server in the middle of a key rotation, which holds
   * both. Default `false`. An unusable line for the host, or a revoked key, is refused still.
   */
  alongside?: boolean | undefined;
}

/** Result of {@link KnownHosts.add}. */
export interface AddHostKeyResult {
  /** `false` when the same key was already recorded for the host (nothing written). */
  added: boolean;
  /** The line that records the key. */
  line: number;
}

function checkPublicKey(key: unknown): PublicKey {
  if (!(key instanceof PublicKey)) throw new TypeError('key must be a PublicKey');
  return key;
}

function checkPolicy(mode: unknown): HostKeyPolicy {
  if (mode !== 'strict' && mode !== 'tofu') throw new TypeError("mode must be 'strict' or 'tofu'");
  return mode;
}

function checkPath(path: unknown): string {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string');
  return path;
}

/**
 * A known_hosts file, read into memory. Lookups use the copy read last ({@link reload}
 * refreshes it); {@link add}, {@link remove} and {@link verify} re-read the file themselves.
 */
export class KnownHosts {
  /** The file. */
  readonly path: string;
  readonly #options: KnownHostsOptions;
  /** The text read last; `undefined` when the file did not exist. */
  #text: string | undefined;
  #mode = STORE_FILE_MODE;
  #table = new KnownHostsTable('');

  private constructor(path: string, options: KnownHostsOptions) {
    this.path = path;
    this.#options = options;
  }

  /**
   * Reads a known_hosts file. A missing file is an empty one (unless `create`, nothing is
   * written). Malformed lines do not fail the load: they are listed in {@link problems}.
   *
   * @param path - default {@link defaultKnownHostsPath} (`$SECSESS_HOME/known_hosts` or `~/.secsess/known_hosts`)
   * @throws KeyError `ERR_KEY_FILE_UNREADABLE`, `ERR_KEY_PERMISSIONS` (the file or a directory
   *   above it writable by group or others), `ERR_KEY_FILE_OWNER` (owned by another user),
   *   `ERR_KEY_FILE_SYMLINK` (a link), `ERR_KEY_FORMAT` (over 16 MiB), `ERR_KEY_FILE_UNWRITABLE`
   *   (with `create`)
   * @throws TypeError / RangeError for invalid options
   */
  static async open(
    path: string = defaultKnownHostsPath(),
    options: KnownHostsOptions = {},
  ): Promise<KnownHosts> {
    checkPath(path);
    checkOptionsObject(options);
    checkLockOptions(options.lock);
    const knownHosts = new KnownHosts(path, { ...options });
    if (options.create === true) await createStoreFile('known_hosts', path, options);
    await knownHosts.reload();
    return knownHosts;
  }

  /** Re-reads the file. On failure the previous contents are kept. */
  async reload(): Promise<void> {
    const contents = await readStoreFile('known_hosts', this.path, {
      missingOk: true,
      allowInsecurePermissions: this.#options.allowInsecurePermissions,
    });
    this.#load(contents);
  }

  /**
   * Entries whose hosts are written in clear, one per host of a line, in file order
   * (revoked keys included, marked). Entries under hashed names are not listed: their hosts
   * cannot be read back; {@link lookup} and {@link check} find them.
   */
  list(): KnownHostEntry[] {
    return this.#table.list();
  }

  /** Lines that never trust anything: malformed, unsupported syntax, keys of other types. */
  get problems(): KnownHostsProblem[] {
    return this.#table.problems();
  }

  /**
   * The entries that trust a key for `host:port` (usually one; several while the server's
   * key is being rotated), in file order. Revoked keys are left out.
   *
   * @throws TypeError / RangeError for an invalid host or port
   */
  lookup(host: string, port: number): KnownHostEntry[] {
    return this.#table.lookup(normalizeHost(host), checkPort(port));
  }

  /**
   * What the file (as read last) says about `key` for `host:port`: `revoked` if an
   * `@revoked` line revokes the key (whatever else the file says); `match` if an entry for
   * the host records this key (one of several is enough); `changed` if entries record only
   * other keys, or if any line for the host cannot be used (fail safe: an entry we cannot
   * read never lets a key through); `unknown` if no line names the host. Keys of other
   * types (ssh-ed25519…) and `@cert-authority` lines are ignored.
   */
  check(host: string, port: number, key: PublicKey): HostKeyCheck {
    return this.#table.check(normalizeHost(host), checkPort(port), checkPublicKey(key));
  }

  /**
   * Records `key` for `host:port`: under the file's lock, re-reads the file and appends
   * one line, creating the file (0600) and its directory (0700) if needed. Adding a key
   * that is already recorded writes nothing.
   *
   * @throws TrustError `ERR_HOST_KEY_CHANGED` if the file records another key for the host
   *   (unless `alongside`) or an unusable line for it; it is never replaced silently:
   *   {@link remove} it first. `ERR_HOST_KEY_REVOKED` if the key is revoked.
   * @throws LockError `ERR_LOCK_TIMEOUT`; KeyError file errors as {@link open}
   */
  async add(
    host: string,
    port: number,
    key: PublicKey,
    comment?: string,
    options: AddHostKeyOptions = {},
  ): Promise<AddHostKeyResult> {
    const name = normalizeHost(host);
    const number = checkPort(port);
    checkPublicKey(key);
    checkCommentOption(comment);
    checkOptionsObject(options);
    if (options.alongside !== undefined && typeof options.alongside !== 'boolean') {
      throw new TypeError('options.alongside must be a boolean');
    }
    await ensureStoreDirectory('known_hosts', this.path, this.#options);
    return withFileLock(
      this.path,
      async () => {
        await this.reload();
        const result = this.#table.check(name, number, key);
        if (result.status === 'match') return { added: false, line: result.line };
        if (result.status === 'revoked')
          throw revokedKeyError(this.path, name, number, key, result.line, 'add');
        const alongside =
          options.alongside === true && result.status === 'changed' && result.problem === undefined;
        if (result.status === 'changed' && !alongside) {
          throw changedKeyError(this.path, name, number, key, result, 'add');
        }
        return { added: true, line: await this.#append(name, number, key, comment) };
      },
      this.#options.lock,
      this.#options.allowInsecurePermissions !== true,
    );
  }

  /**
   * Removes every line that names `host:port` (entries of any key type, and unusable lines
   * naming it), rewriting the file atomically under its lock with the same mode. Other
   * lines, comments and blank lines are kept byte for byte.
   *
   * @returns the number of lines removed (0 if none, or if the file does not exist)
   * @throws LockError `ERR_LOCK_TIMEOUT`; KeyError file errors
   */
  async remove(host: string, port: number): Promise<number> {
    const name = normalizeHost(host);
    const number = checkPort(port);
    await this.reload();
    if (this.#text === undefined) return 0;
    return withFileLock(
      this.path,
      async () => {
        await this.reload();
        const text = this.#text;
        const drop = new Set(this.#table.linesFor(name, number));
        if (text === undefined || drop.size === 0) return 0;
        let kept = text
          .split('\n')
          .filter((_, index) => !drop.has(index + 1))
          .join('\n');
        if (kept !== '' && !kept.endsWith('\n')) kept += '\n';
        await rewriteStoreFile(this.path, kept, this.#mode);
        this.#load({ text: kept, mode: this.#mode });
        return drop.size;
      },
      this.#options.lock,
      this.#options.allowInsecurePermissions !== true,
    );
  }

  /**
   * Decides whether to trust `key` as the key of `host:port`:
   *
   * - revoked by an `@revoked` line → `ERR_HOST_KEY_REVOKED`, in both modes, whatever else
   *   the file says;
   * - recorded (one of the host's keys) → accepted (`learned: false`);
   * - another key recorded, or an unusable line for the host → `ERR_HOST_KEY_CHANGED`,
   *   in both modes; the file is never updated silently;
   * - no entry: `strict` → `ERR_HOST_UNKNOWN`; `tofu` → recorded under the lock (unless
   *   another process recorded a key meanwhile, which is then checked instead) and
   *   accepted with `learned: true`.
   *
   * Anything but a match is confirmed on a fresh read of the file first.
   *
   * @throws TrustError `ERR_HOST_UNKNOWN`, `ERR_HOST_KEY_CHANGED`, `ERR_HOST_KEY_REVOKED`;
   *   LockError; KeyError file errors
   */
  async verify(
    host: string,
    port: number,
    key: PublicKey,
    mode: HostKeyPolicy,
  ): Promise<VerifyHostKeyResult> {
    const name = normalizeHost(host);
    const number = checkPort(port);
    checkPublicKey(key);
    checkPolicy(mode);
    const fingerprint = key.fingerprint();
    let result = this.#table.check(name, number, key);
    if (result.status === 'match') return { learned: false, line: result.line, fingerprint };
    // Confirm on a fresh read: another process may have been half-way through a line.
    await this.reload();
    result = this.#table.check(name, number, key);
    if (result.status === 'match') return { learned: false, line: result.line, fingerprint };
    if (result.status === 'revoked') {
      throw revokedKeyError(this.path, name, number, key, result.line, 'verify');
    }
    if (result.status === 'changed') throw changedKeyError(this.path, name, number, key, result, 'verify');
    if (mode === 'strict') throw unknownHostError(this.path, name, number, key);
    await ensureStoreDirectory('known_hosts', this.path, this.#options);
    return withFileLock(
      this.path,
      async () => {
        await this.reload();
        const locked = this.#table.check(name, number, key);
        if (locked.status === 'match') return { learned: false, line: locked.line, fingerprint };
        if (locked.status === 'revoked') {
          throw revokedKeyError(this.path, name, number, key, locked.line, 'verify');
        }
        if (locked.status === 'changed')
          throw changedKeyError(this.path, name, number, key, locked, 'verify');
        return { learned: true, line: await this.#append(name, number, key, undefined), fingerprint };
      },
      this.#options.lock,
      this.#options.allowInsecurePermissions !== true,
    );
  }

  #load(contents: StoreContents | undefined): void {
    this.#table = new KnownHostsTable(contents?.text ?? '');
    this.#text = contents?.text;
    this.#mode = contents?.mode ?? STORE_FILE_MODE;
  }

  /** Appends the entry (caller holds the lock and has just re-read) and records it in memory. */
  async #append(host: string, port: number, key: PublicKey, comment: string | undefined): Promise<number> {
    const trimmed = comment?.trim() ?? '';
    const text = `${knownHostsField(host, port)} ${key.toOpenSSH(trimmed)}`;
    await appendStoreLine('known_hosts', this.path, text, this.#text, this.#options);
    const previous = this.#text ?? '';
    this.#text = `${previous}${previous === '' || previous.endsWith('\n') ? '' : '\n'}${text}\n`;
    return this.#table.append(host, port, key, trimmed);
  }
}

/**
 * Opens `path` and {@link KnownHosts.verify | verifies} `key` for `host:port` under
 * `mode`: the one call a client makes after the server has shown its key.
 *
 * @returns `{ learned, line, fingerprint }` when the key is trusted
 * @throws TrustError `ERR_HOST_UNKNOWN` (strict, no entry), `ERR_HOST_KEY_CHANGED` (another
 *   key recorded, either mode), `ERR_HOST_KEY_REVOKED`; LockError `ERR_LOCK_TIMEOUT`; KeyError file errors
 */
export async function verifyHostKey(
  path: string,
  host: string,
  port: number,
  key: PublicKey,
  mode: HostKeyPolicy,
  options?: KnownHostsOptions,
): Promise<VerifyHostKeyResult> {
  checkPath(path);
  normalizeHost(host);
  checkPort(port);
  checkPublicKey(key);
  checkPolicy(mode);
  const knownHosts = await KnownHosts.open(path, options);
  return knownHosts.verify(host, port, key, mode);
}
