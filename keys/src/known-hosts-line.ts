/**
 * One line of a known_hosts file, in OpenSSH's syntax:
 *
 *   [host]:port ssh-rsa AAAA… [comment]      what secsess writes (always bracketed)
 *   host ssh-rsa AAAA…                        port 22, as OpenSSH writes it
 *   host,10.0.0.1,[host]:7000 ssh-rsa AAAA…   a list: the key for each name
 *   |1|salt|hash ssh-rsa AAAA…                a hashed name (`ssh-keygen -H`, HashKnownHosts)
 *   @revoked * ssh-rsa AAAA…                  the key is refused, for every host
 *   @cert-authority *.example ssh-rsa AAAA…   ignored: secsess has no certificates
 *
 * Blank lines and `#` comments are kept as they are. What secsess does not implement makes
 * a line unusable rather than guessed at: wildcards and negation (`*`, `?`, `!`), other
 * markers, malformed names. An unusable line still names the hosts it can (its wildcard
 * patterns included), so that a lookup of those hosts fails safe (see known-hosts.ts).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIPv6 } from 'node:net';
import { canonicalHost } from './host-port.js';
import { looksLikeSshKeyType, parseSshKeyField } from './key-line.js';
import type { PublicKey } from './public-key.js';

/** A host and port named by a line, host in canonical form. */
export interface HostPort {
  host: string;
  port: number;
}

/** A hashed name, `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. */
interface HashedName {
  salt: Buffer;
  hash: Buffer;
}

/** The host field of a line: what it names, and how. */
export interface HostField {
  /** The field as written, for messages. */
  text: string;
  /** Names written in clear (`host` is port 22). */
  names: HostPort[];
  /** Hashed names. */
  hashed: HashedName[];
  /** Wildcard and negated patterns, lower case: matched only to fail safe, never to trust. */
  patterns: string[];
}

/** What a known_hosts line holds. */
export type KnownHostsLine =
  | { kind: 'blank' }
  | { kind: 'entry'; hosts: HostField; key: PublicKey; comment: string }
  | { kind: 'revoked'; key: PublicKey; comment: string }
  | { kind: 'other'; hosts: HostField; type: string; fingerprint: string; comment: string }
  | { kind: 'ignored'; reason: string }
  | { kind: 'invalid'; hosts: HostField; reason: string; fingerprint: string | undefined };

const BRACKETED = /^\[([^\]]*)\]:([0-9]{1,5})$/;
/** `host:port` without brackets: OpenSSH reads it as a name that never matches. */
const UNBRACKETED_PORT = /^([^:[\]]+):([0-9]{1,5})$/;
/** Length of the salt and of the HMAC-SHA1 of a hashed name. */
const SHA1_BYTES = 20;
const EXPECTED = 'expected "[host]:port ssh-rsa <base64>"';

/** The port OpenSSH leaves unwritten: `host` alone means `host` on port 22. */
export const SSH_DEFAULT_PORT = 22;

function emptyField(text = ''): HostField {
  return { text, names: [], hashed: [], patterns: [] };
}

/** Parses a hashed name, or returns `undefined` if it is malformed. */
function parseHashed(text: string): HashedName | undefined {
  const parts = text.split('|');
  if (parts.length !== 4 || parts[0] !== '' || parts[1] !== '1') return undefined;
  const salt = Buffer.from(parts[2] ?? '', 'base64');
  const hash = Buffer.from(parts[3] ?? '', 'base64');
  if (salt.length !== SHA1_BYTES || hash.length !== SHA1_BYTES) return undefined;
  return { salt, hash };
}

/** Adds one element of a host list to `field`, or returns why it cannot be read. */
function addHostPattern(field: HostField, pattern: string): string | undefined {
  if (pattern === '') return 'the host list has an empty name';
  if (pattern.startsWith('|')) {
    const hashed = parseHashed(pattern);
    if (hashed === undefined) return `"${pattern}" is not a hashed host name (|1|salt|hash)`;
    field.hashed.push(hashed);
    return undefined;
  }
  if (/[*?]/.test(pattern) || pattern.startsWith('!')) {
    field.patterns.push(pattern.toLowerCase());
    return 'host patterns (wildcards, negation) are not supported; write [host]:port';
  }
  const match = BRACKETED.exec(pattern);
  if (match !== null) {
    const host = canonicalHost(match[1] ?? '');
    const port = Number(match[2]);
    if (host === undefined) return `"${pattern}" has an empty or invalid host`;
    if (port < 1 || port > 65535) return `"${pattern}" has a port outside 1-65535`;
    field.names.push({ host, port });
    return undefined;
  }
  const host = canonicalHost(pattern);
  if (host !== undefined && (!host.includes(':') || isIPv6(host))) {
    field.names.push({ host, port: SSH_DEFAULT_PORT });
    return undefined;
  }
  // `host:port` means port `port` to a person but never matches in OpenSSH: fail safe for it.
  const unbracketed = UNBRACKETED_PORT.exec(pattern);
  const named = unbracketed === null ? undefined : canonicalHost(unbracketed[1] ?? '');
  const port = Number(unbracketed?.[2]);
  if (named !== undefined && port >= 1 && port <= 65535) field.names.push({ host: named, port });
  return `the host must be written [host]:port (or host alone for port 22), not "${pattern}"`;
}

/** Parses the host field (a comma-separated list) into what it names and the first problem. */
function parseHostField(text: string): { hosts: HostField; problem: string | undefined } {
  const hosts = emptyField(text);
  let problem: string | undefined;
  for (const pattern of text.split(',')) problem ??= addHostPattern(hosts, pattern);
  return { hosts, problem };
}

/** Splits off the first whitespace-separated field. */
function firstField(text: string): [string, string] | undefined {
  const match = /^(\S+)[ \t]+(\S.*)$/.exec(text);
  return match === null ? undefined : [match[1] ?? '', match[2] ?? ''];
}

/** The names OpenSSH looks a host up by: `host` for port 22 (also `[host]:22`), else `[host]:port`. */
function lookupNames(host: string, port: number): string[] {
  const bracketed = `[${host}]:${port}`;
  return port === SSH_DEFAULT_PORT ? [host, bracketed] : [bracketed];
}

/** OpenSSH's match_pattern: `*` any run, `?` one character; the whole name must match. */
function globMatches(pattern: string, name: string): boolean {
  const expression = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${expression}$`, 's').test(name);
}

/**
 * Whether `hosts` names `host:port` (host canonical): a name in clear, a hashed name of it,
 * or — for failing safe only, and unless `patterns` is false — a wildcard pattern, matched
 * against the host with and without its port, negations ignored (so a pattern line errs
 * towards naming a host).
 */
export function fieldNames(hosts: HostField, host: string, port: number, patterns = true): boolean {
  if (hosts.names.some((name) => name.host === host && name.port === port)) return true;
  const names = lookupNames(host, port);
  for (const { salt, hash } of hosts.hashed) {
    for (const name of names) {
      if (timingSafeEqual(createHmac('sha1', salt).update(name).digest(), hash)) return true;
    }
  }
  for (const pattern of patterns ? hosts.patterns : []) {
    if (pattern.startsWith('!')) continue;
    if ([host, `[${host}]:${port}`].some((name) => globMatches(pattern, name))) return true;
  }
  return false;
}

/** Whether a line can only be found by matching (hashed names or patterns), not by name. */
export function needsMatching(hosts: HostField): boolean {
  return hosts.hashed.length > 0 || hosts.patterns.length > 0;
}

/** Parses one line (without its `\n`; a trailing `\r` is ignored). Never throws. */
export function parseKnownHostsLine(raw: string): KnownHostsLine {
  const text = raw.trim();
  if (text === '' || text.startsWith('#')) return { kind: 'blank' };
  let fields = firstField(text);
  let marker: string | undefined;
  if (fields !== undefined && fields[0].startsWith('@')) {
    marker = fields[0];
    fields = firstField(fields[1]);
  }
  if (fields === undefined)
    return { kind: 'invalid', hosts: emptyField(), reason: EXPECTED, fingerprint: undefined };
  const [hostField, keyText] = fields;
  const { hosts, problem } = parseHostField(hostField);
  const key = parseSshKeyField(keyText);
  const fingerprint = key.kind === 'rsa' ? key.key.fingerprint() : key.fingerprint;
  if (marker === '@cert-authority') {
    // OpenSSH trusts only host certificates through such a line, never a plain key.
    return {
      kind: 'ignored',
      reason: '@cert-authority line: secsess has no certificates, so it never trusts a key through it',
    };
  }
  if (marker === '@revoked') {
    // The key is revoked for every host, whatever the host field says (see known-hosts.ts).
    if (key.kind === 'rsa') return { kind: 'revoked', key: key.key, comment: key.comment };
    if (key.kind === 'other') {
      return {
        kind: 'ignored',
        reason: `@revoked ${key.type} key: secsess uses only ssh-rsa keys, none is ever offered`,
      };
    }
    return { kind: 'invalid', hosts, reason: `@revoked line: ${key.reason}`, fingerprint };
  }
  if (marker !== undefined) {
    return { kind: 'invalid', hosts, reason: `${marker} lines are not supported by secsess`, fingerprint };
  }
  if (key.kind === 'other') {
    return { kind: 'other', hosts, type: key.type, fingerprint: key.fingerprint, comment: key.comment };
  }
  if (problem !== undefined) return { kind: 'invalid', hosts, reason: problem, fingerprint };
  if (key.kind === 'rsa') return { kind: 'entry', hosts, key: key.key, comment: key.comment };
  const type = keyText.split(/[ \t]/, 1)[0] ?? '';
  const reason = looksLikeSshKeyType(type) ? key.reason : EXPECTED;
  return { kind: 'invalid', hosts, reason, fingerprint };
}
