/**
 * Hosts and ports as trust stores name them. known_hosts lines always use OpenSSH's
 * bracketed form `[host]:port`; messages use `host:port` (IPv6 still bracketed).
 */
import { isIPv6 } from 'node:net';

/** Characters that would break a `[host]:port` field: whitespace, controls, brackets, commas. */
const UNSAFE_HOST = /[\s\p{Cc}[\],]/u;

/**
 * The form in which hosts are stored and compared: lower case (names are case-insensitive),
 * IPv6 addresses in their canonical RFC 5952 text (`0:0::1` → `::1`). Surrounding brackets
 * are removed. Returns `undefined` for an empty host or one with characters a known_hosts
 * field cannot hold.
 */
export function canonicalHost(host: string): string | undefined {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === '' || UNSAFE_HOST.test(bare)) return undefined;
  const lower = bare.toLowerCase();
  if (!isIPv6(lower)) return lower;
  try {
    // The WHATWG URL parser prints IPv6 hosts canonically, brackets included.
    return new URL(`http://[${lower}]/`).hostname.slice(1, -1);
  } catch {
    // Zone identifiers (fe80::1%eth0) are not valid URL hosts; keep them as written.
    return lower;
  }
}

/**
 * Validates a host and returns the form known_hosts stores and compares: lower case, IPv6
 * in canonical RFC 5952 text without brackets (`[0:0::1]` → `::1`).
 *
 * @throws TypeError if `host` is not a string, is empty or has whitespace, brackets or commas inside
 */
export function normalizeHost(host: unknown): string {
  if (typeof host !== 'string') throw new TypeError('host must be a string');
  const canonical = canonicalHost(host);
  if (canonical === undefined) {
    throw new TypeError(`host ${JSON.stringify(host)} is empty or contains whitespace, brackets or commas`);
  }
  return canonical;
}

/**
 * Validates a TCP port.
 *
 * @throws TypeError if `port` is not an integer; RangeError outside 1–65535
 */
export function checkPort(port: unknown): number {
  if (typeof port !== 'number' || !Number.isInteger(port)) throw new TypeError('port must be an integer');
  if (port < 1 || port > 65535) throw new RangeError(`port must be from 1 to 65535, got ${port}`);
  return port;
}

/** `host:port` for messages, `[v6addr]:port` for IPv6 addresses. */
export function formatHostPort(host: string, port: number): string {
  return isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The known_hosts host field, `[host]:port`, always bracketed as OpenSSH writes non-22 ports. */
export function knownHostsField(host: string, port: number): string {
  return `[${host}]:${port}`;
}
