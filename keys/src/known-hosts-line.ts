/**
 * One line of a secsess known_hosts file:
 *
 *   [host]:port ssh-rsa AAAA… [comment]
 *
 * OpenSSH's syntax for a host on a non-default port, always bracketed (also for port 22),
 * IPv6 addresses as `[::1]:port`. Blank lines and `#` comments are kept as they are.
 * OpenSSH features secsess does not implement — host lists (`a,b`), hashed names (`|1|…`),
 * wildcards, `@revoked` / `@cert-authority` markers — make a line unusable; such a line
 * still names the hosts it can, so that a lookup of those hosts fails safe.
 */
import { canonicalHost } from './host-port.js';
import { looksLikeSshKeyType, parseSshKeyField } from './key-line.js';
import type { PublicKey } from './public-key.js';

/** A host and port named by a line, host in canonical form. */
export interface HostPort {
  host: string;
  port: number;
}

/** What a known_hosts line holds. */
export type KnownHostsLine =
  | { kind: 'blank' }
  | { kind: 'entry'; host: string; port: number; key: PublicKey; comment: string }
  | { kind: 'other'; host: string; port: number; type: string; fingerprint: string; comment: string }
  | { kind: 'invalid'; names: HostPort[]; reason: string; fingerprint: string | undefined };

const BRACKETED = /^\[([^\]]*)\]:([0-9]{1,5})$/;

/** Parses one host pattern: a `[host]:port`, or the reason it is not one. */
function parseHostPattern(pattern: string): HostPort | string {
  const match = BRACKETED.exec(pattern);
  if (match !== null) {
    const host = canonicalHost(match[1] ?? '');
    const port = Number(match[2]);
    if (host === undefined) return `"${pattern}" has an empty or invalid host`;
    if (port < 1 || port > 65535) return `"${pattern}" has a port outside 1-65535`;
    return { host, port };
  }
  if (pattern.startsWith('|')) return 'hashed host names are not supported; write [host]:port';
  if (/[*?!]/.test(pattern))
    return 'host patterns (wildcards, negation) are not supported; write [host]:port';
  return `the host must be written [host]:port, not "${pattern}"`;
}

/** Parses the host field (possibly a comma-separated list) into the names it holds and a problem, if any. */
function parseHostField(field: string): { names: HostPort[]; problem: string | undefined } {
  const patterns = field.split(',');
  const names: HostPort[] = [];
  let problem: string | undefined;
  for (const pattern of patterns) {
    const parsed = parseHostPattern(pattern);
    if (typeof parsed === 'string') problem ??= parsed;
    else names.push(parsed);
  }
  if (problem === undefined && patterns.length > 1) {
    problem = 'lists of hosts are not supported; write one [host]:port per line';
  }
  return { names, problem };
}

/** Splits off the first whitespace-separated field. */
function firstField(text: string): [string, string] | undefined {
  const match = /^(\S+)[ \t]+(\S.*)$/.exec(text);
  return match === null ? undefined : [match[1] ?? '', match[2] ?? ''];
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
  if (fields === undefined) {
    return {
      kind: 'invalid',
      names: [],
      reason: 'expected "[host]:port ssh-rsa <base64>"',
      fingerprint: undefined,
    };
  }
  const [hostField, keyText] = fields;
  const { names, problem } = parseHostField(hostField);
  const key = parseSshKeyField(keyText);
  if (marker !== undefined || problem !== undefined) {
    return {
      kind: 'invalid',
      names,
      reason: marker === undefined ? (problem ?? '') : `${marker} lines are not supported by secsess`,
      fingerprint: key.kind === 'rsa' ? key.key.fingerprint() : key.fingerprint,
    };
  }
  const [{ host, port }] = names as [HostPort];
  switch (key.kind) {
    case 'rsa':
      return { kind: 'entry', host, port, key: key.key, comment: key.comment };
    case 'other':
      return {
        kind: 'other',
        host,
        port,
        type: key.type,
        fingerprint: key.fingerprint,
        comment: key.comment,
      };
    case 'invalid': {
      const type = keyText.split(/[ \t]/, 1)[0] ?? '';
      const reason = looksLikeSshKeyType(type) ? key.reason : 'expected "[host]:port ssh-rsa <base64>"';
      return { kind: 'invalid', names, reason, fingerprint: key.fingerprint };
    }
  }
}
