/**
 * The client's record of server keys, like OpenSSH's `~/.ssh/known_hosts`: one
 * `[host]:port ssh-rsa AAAA… [comment]` line per trusted server key (see
 * known-hosts-line.ts for the OpenSSH forms also read, and keys/README.md "known_hosts").
 *
 * A host may have several keys (a server in the middle of a key rotation): each of them is
 * trusted. A key on an `@revoked` line is refused for every host, whatever other lines say:
 * revocation answers "this private key may be in someone else's hands", which does not
 * depend on the host (OpenSSH applies the line to the hosts it names; secsess errs on the
 * safe side). Any line naming the host that cannot be used (malformed, a wildcard pattern,
 * an unknown marker, an unreadable revocation) makes every key of that host refused.
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
import { checkPort, formatHostPort, knownHostsField, normalizeHost } from './host-port.js';
import { changedKeyError, revokedKeyError, unknownHostError } from './host-key-errors.js';
import { fieldNames, needsMatching, parseKnownHostsLine } from './known-hosts-line.js';
import type { HostField, KnownHostsLine } from './known-hosts-line.js';
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

/** A usable known_hosts entry. */
export interface KnownHostEntry {
  /** Host in canonical form: lower case, IPv6 without brackets in RFC 5952 form. */
  host: string;
  port: number;
  key: PublicKey;
  /** `SHA256:…` of `key`. */
  fingerprint: string;
  /** 1-based line number in the file. */
  line: number;
  /** Text after the key, `''` if none. */
  comment: string;
  /** `true` when an `@revoked` line revokes the key: it is then never trusted. */
  revoked: boolean;
}

/** A line that is kept in the file but never trusts anything, and why. */
export interface KnownHostsProblem {
  line: number;
  reason: string;
}

/**
 * What the file says about a host's key. `revoked`: an `@revoked` line (`line`, the first)
 * revokes the key. `changed` also covers a line for the host that cannot be used
 * (malformed, too small, a wildcard pattern, an unsupported marker): `expected` is then its
 * fingerprint if one can be computed, and `problem` says what is wrong.
 */
export type HostKeyCheck =
  | { status: 'match'; line: number }
  | { status: 'unknown' }
  | { status: 'revoked'; line: number }
  | { status: 'changed'; expected: string | undefined; line: number; problem: string | undefined };

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

interface Row {
  line: number;
  parsed: KnownHostsLine;
}

const nameKey = (host: string, port: number): string => knownHostsField(host, port);

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
  #rows: Row[] = [];
  /** Rows naming each `[host]:port` in clear, in file order (entries, other key types and unusable lines). */
  #byName = new Map<string, Row[]>();
  /** Rows found only by matching: hashed names, wildcard patterns. */
  #matched: Row[] = [];
  /** The first `@revoked` line of each revoked key, by fingerprint. */
  #revoked = new Map<string, Row>();

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
    const entries: KnownHostEntry[] = [];
    for (const row of this.#rows) {
      if (row.parsed.kind !== 'entry') continue;
      for (const { host, port } of row.parsed.hosts.names) entries.push(this.#toEntry(row, host, port));
    }
    return entries;
  }

  /** Lines that never trust anything: malformed, unsupported syntax, keys of other types. */
  get problems(): KnownHostsProblem[] {
    const problems: KnownHostsProblem[] = [];
    for (const { line, parsed } of this.#rows) {
      if (parsed.kind === 'invalid' || parsed.kind === 'ignored')
        problems.push({ line, reason: parsed.reason });
      if (parsed.kind === 'other') {
        problems.push({
          line,
          reason: `${parsed.type} key for ${describeHosts(parsed.hosts)}: secsess uses only ssh-rsa keys; the line is kept but never matches`,
        });
      }
    }
    return problems;
  }

  /**
   * The entries that trust a key for `host:port` (usually one; several while the server's
   * key is being rotated), in file order. Revoked keys are left out.
   *
   * @throws TypeError / RangeError for an invalid host or port
   */
  lookup(host: string, port: number): KnownHostEntry[] {
    const name = normalizeHost(host);
    const number = checkPort(port);
    const entries: KnownHostEntry[] = [];
    for (const row of this.#rowsFor(name, number)) {
      if (row.parsed.kind !== 'entry' || this.#revoked.has(row.parsed.key.fingerprint())) continue;
      entries.push(this.#toEntry(row, name, number));
    }
    return entries;
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
    return this.#check(normalizeHost(host), checkPort(port), checkPublicKey(key));
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
        const result = this.#check(name, number, key);
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
        const drop = new Set(this.#rowsFor(name, number).map((row) => row.line));
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
    let result = this.#check(name, number, key);
    if (result.status === 'match') return { learned: false, line: result.line, fingerprint };
    // Confirm on a fresh read: another process may have been half-way through a line.
    await this.reload();
    result = this.#check(name, number, key);
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
        const locked = this.#check(name, number, key);
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
    const lines = (contents?.text ?? '').split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    const rows: Row[] = lines.map((raw, index) => ({ line: index + 1, parsed: parseKnownHostsLine(raw) }));
    this.#text = contents?.text;
    this.#mode = contents?.mode ?? STORE_FILE_MODE;
    this.#rows = [];
    this.#byName = new Map();
    this.#matched = [];
    this.#revoked = new Map();
    for (const row of rows) this.#index(row);
  }

  /** Files the row under the names it holds, the rows to match, or the revoked keys. */
  #index(row: Row): void {
    this.#rows.push(row);
    const { parsed } = row;
    if (parsed.kind === 'revoked') {
      const fingerprint = parsed.key.fingerprint();
      if (!this.#revoked.has(fingerprint)) this.#revoked.set(fingerprint, row);
      return;
    }
    if (parsed.kind !== 'entry' && parsed.kind !== 'other' && parsed.kind !== 'invalid') return;
    if (needsMatching(parsed.hosts)) this.#matched.push(row);
    for (const { host, port } of parsed.hosts.names) {
      const key = nameKey(host, port);
      const rows = this.#byName.get(key);
      if (rows === undefined) this.#byName.set(key, [row]);
      else if (rows[rows.length - 1] !== row) rows.push(row);
    }
  }

  /** Every row that names `host:port` (host canonical), in file order. */
  #rowsFor(host: string, port: number): Row[] {
    const named = this.#byName.get(nameKey(host, port)) ?? [];
    // A pattern names a host only to fail safe: a line of another key type, which never
    // decides anything, is not taken (nor removed) for every host its pattern matches.
    const matched = this.#matched.filter((row) =>
      fieldNames(hostsOf(row), host, port, row.parsed.kind !== 'other'),
    );
    if (matched.length === 0) return named;
    return [...new Set([...named, ...matched])].sort((a, b) => a.line - b.line);
  }

  #toEntry(row: Row, host: string, port: number): KnownHostEntry {
    const { parsed } = row;
    if (parsed.kind !== 'entry') throw new Error('not an entry');
    return {
      host,
      port,
      key: parsed.key,
      fingerprint: parsed.key.fingerprint(),
      line: row.line,
      comment: parsed.comment,
      revoked: this.#revoked.has(parsed.key.fingerprint()),
    };
  }

  #check(host: string, port: number, key: PublicKey): HostKeyCheck {
    const revoked = this.#revoked.get(key.fingerprint());
    if (revoked !== undefined) return { status: 'revoked', line: revoked.line };
    let match: Row | undefined;
    let other: { line: number; key: PublicKey } | undefined;
    for (const row of this.#rowsFor(host, port)) {
      const { parsed } = row;
      if (parsed.kind === 'invalid') {
        return { status: 'changed', expected: parsed.fingerprint, line: row.line, problem: parsed.reason };
      }
      if (parsed.kind !== 'entry') continue;
      if (parsed.key.equals(key)) match ??= row;
      else other ??= { line: row.line, key: parsed.key };
    }
    if (match !== undefined) return { status: 'match', line: match.line };
    if (other !== undefined) {
      return { status: 'changed', expected: other.key.fingerprint(), line: other.line, problem: undefined };
    }
    return { status: 'unknown' };
  }

  /** Appends the entry (caller holds the lock and has just re-read) and records it in memory. */
  async #append(host: string, port: number, key: PublicKey, comment: string | undefined): Promise<number> {
    const trimmed = comment?.trim() ?? '';
    const text = `${knownHostsField(host, port)} ${key.toOpenSSH(trimmed)}`;
    await appendStoreLine('known_hosts', this.path, text, this.#text, this.#options);
    const previous = this.#text ?? '';
    this.#text = `${previous}${previous === '' || previous.endsWith('\n') ? '' : '\n'}${text}\n`;
    const hosts: HostField = {
      text: knownHostsField(host, port),
      names: [{ host, port }],
      hashed: [],
      patterns: [],
    };
    const row: Row = { line: this.#rows.length + 1, parsed: { kind: 'entry', hosts, key, comment: trimmed } };
    this.#index(row);
    return row.line;
  }
}

function hostsOf(row: Row): HostField {
  const { parsed } = row;
  return parsed.kind === 'entry' || parsed.kind === 'other' || parsed.kind === 'invalid'
    ? parsed.hosts
    : { text: '', names: [], hashed: [], patterns: [] };
}

/** `host:port` for a line naming one host in clear, else the field as written. */
function describeHosts(hosts: HostField): string {
  const [only] = hosts.names;
  return only !== undefined && hosts.names.length === 1 && !needsMatching(hosts)
    ? formatHostPort(only.host, only.port)
    : hosts.text;
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
