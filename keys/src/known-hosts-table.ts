/**
 * A known_hosts file's lines, parsed and indexed in memory, and the decisions they imply
 * (no I/O: known-hosts.ts reads, locks and writes).
 *
 * A host may have several keys (a server in the middle of a key rotation): each of them is
 * trusted. A key on an `@revoked` line is refused for every host, whatever other lines say:
 * revocation answers "this private key may be in someone else's hands", which does not
 * depend on the host (OpenSSH applies the line to the hosts it names; secsess errs on the
 * safe side). Any line naming the host that cannot be used (malformed, a wildcard pattern
 * matching it, an unknown marker, an unreadable revocation) makes every key of that host
 * refused.
 */
import { formatHostPort, knownHostsField } from './host-port.js';
import { fieldNames, needsMatching, parseKnownHostsLine } from './known-hosts-line.js';
import type { HostField, KnownHostsLine } from './known-hosts-line.js';
import type { PublicKey } from './public-key.js';

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

/** One line of the file and its 1-based number. */
export interface Row {
  line: number;
  parsed: KnownHostsLine;
}

const nameKey = (host: string, port: number): string => knownHostsField(host, port);

const NO_HOSTS: HostField = { text: '', names: [], hashed: [], patterns: [] };

function hostsOf(row: Row): HostField {
  const { parsed } = row;
  return parsed.kind === 'entry' || parsed.kind === 'other' || parsed.kind === 'invalid'
    ? parsed.hosts
    : NO_HOSTS;
}

/** `host:port` for a line naming one host in clear, else the field as written. */
function describeHosts(hosts: HostField): string {
  const [only] = hosts.names;
  return only !== undefined && hosts.names.length === 1 && !needsMatching(hosts)
    ? formatHostPort(only.host, only.port)
    : hosts.text;
}

/** The lines of one read of the file. Hosts passed in are canonical and ports valid. */
export class KnownHostsTable {
  readonly #rows: Row[] = [];
  /** Rows naming each `[host]:port` in clear, in file order (entries, other key types and unusable lines). */
  readonly #byName = new Map<string, Row[]>();
  /** Rows found only by matching: hashed names, wildcard patterns. */
  readonly #matched: Row[] = [];
  /** The first `@revoked` line of each revoked key, by fingerprint. */
  readonly #revoked = new Map<string, Row>();

  /** Parses the whole text (`''` for a missing file). */
  constructor(text: string) {
    const lines = text.split('\n');
    if (lines[lines.length - 1] === '') lines.pop();
    lines.forEach((raw, index) => this.#index({ line: index + 1, parsed: parseKnownHostsLine(raw) }));
  }

  /** Number of lines. */
  get lineCount(): number {
    return this.#rows.length;
  }

  /** Records a line just appended to the file as `[host]:port ssh-rsa … comment`; returns its number. */
  append(host: string, port: number, key: PublicKey, comment: string): number {
    const hosts: HostField = { ...NO_HOSTS, text: knownHostsField(host, port), names: [{ host, port }] };
    const row: Row = { line: this.#rows.length + 1, parsed: { kind: 'entry', hosts, key, comment } };
    this.#index(row);
    return row.line;
  }

  /** Entries of hosts written in clear, one per host of a line, in file order. */
  list(): KnownHostEntry[] {
    const entries: KnownHostEntry[] = [];
    for (const row of this.#rows) {
      if (row.parsed.kind !== 'entry') continue;
      for (const { host, port } of row.parsed.hosts.names) entries.push(this.#toEntry(row, host, port));
    }
    return entries;
  }

  /** Lines that never trust anything. */
  problems(): KnownHostsProblem[] {
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

  /** Entries trusting a key for `host:port`, revoked keys left out, in file order. */
  lookup(host: string, port: number): KnownHostEntry[] {
    const entries: KnownHostEntry[] = [];
    for (const row of this.rowsFor(host, port)) {
      if (row.parsed.kind !== 'entry' || this.#revoked.has(row.parsed.key.fingerprint())) continue;
      entries.push(this.#toEntry(row, host, port));
    }
    return entries;
  }

  /** The line numbers naming `host:port` (what `remove` drops; `@revoked` lines never). */
  linesFor(host: string, port: number): number[] {
    return this.rowsFor(host, port).map((row) => row.line);
  }

  /** What the lines say about `key` for `host:port` (see `KnownHosts.check`). */
  check(host: string, port: number, key: PublicKey): HostKeyCheck {
    const revoked = this.#revoked.get(key.fingerprint());
    if (revoked !== undefined) return { status: 'revoked', line: revoked.line };
    let match: Row | undefined;
    let other: { line: number; key: PublicKey } | undefined;
    for (const row of this.rowsFor(host, port)) {
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

  /** Every row that names `host:port`, in file order. */
  rowsFor(host: string, port: number): Row[] {
    const named = this.#byName.get(nameKey(host, port)) ?? [];
    // A pattern names a host only to fail safe: a line of another key type, which never
    // decides anything, is not taken (nor removed) for every host its pattern matches.
    const matched = this.#matched.filter((row) =>
      fieldNames(hostsOf(row), host, port, row.parsed.kind !== 'other'),
    );
    if (matched.length === 0) return named;
    return [...new Set([...named, ...matched])].sort((a, b) => a.line - b.line);
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
    const hosts = hostsOf(row);
    if (needsMatching(hosts)) this.#matched.push(row);
    for (const { host, port } of hosts.names) {
      const key = nameKey(host, port);
      const rows = this.#byName.get(key);
      if (rows === undefined) this.#byName.set(key, [row]);
      else if (rows[rows.length - 1] !== row) rows.push(row);
    }
  }

  #toEntry(row: Row, host: string, port: number): KnownHostEntry {
    const { parsed } = row;
    if (parsed.kind !== 'entry') throw new Error('not an entry');
    const fingerprint = parsed.key.fingerprint();
    return {
      host,
      port,
      key: parsed.key,
      fingerprint,
      line: row.line,
      comment: parsed.comment,
      revoked: this.#revoked.has(fingerprint),
    };
  }
}
