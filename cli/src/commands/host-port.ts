/**
 * The HOST:PORT argument of `trust` (and of `probe`, when it comes): `host:port`,
 * `[v6addr]:port` or `[host]:port` as known_hosts writes it. The port is required.
 */

/** A parsed HOST:PORT argument. */
export interface HostPort {
  host: string;
  port: number;
}

/**
 * Parses HOST:PORT. Throws an Error whose message yargs reports as a usage error.
 * The host is checked again, and normalised, by `@secsess/keys`. `allowPortZero`: port 0
 * (any free port) is accepted, for addresses to listen on.
 */
export function parseHostPort(text: string, { allowPortZero = false } = {}): HostPort {
  let host: string;
  let portText: string;
  const bracketed = /^\[([^\]]*)\]:(.*)$/.exec(text);
  if (bracketed !== null) {
    host = bracketed[1] ?? '';
    portText = bracketed[2] ?? '';
  } else {
    const colon = text.lastIndexOf(':');
    if (colon < 0) throw new Error(`HOST:PORT "${text}" has no port: write host:port, e.g. example.com:7000`);
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(':') || text.startsWith('[')) {
      throw new Error(`HOST:PORT "${text}": put IPv6 addresses in brackets, as [::1]:7000`);
    }
  }
  if (host === '' || /[\s[\],]/.test(host)) {
    throw new Error(`HOST:PORT "${text}": "${host}" is not a host name or address`);
  }
  const lowest = allowPortZero ? 0 : 1;
  if (!/^[0-9]{1,5}$/.test(portText) || Number(portText) < lowest || Number(portText) > 65535) {
    throw new Error(`HOST:PORT "${text}": the port must be a number from ${lowest} to 65535`);
  }
  return { host, port: Number(portText) };
}
